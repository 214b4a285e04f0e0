import { createRequire } from 'node:module';
import type PgModule from 'pg';

let loaded: typeof PgModule | undefined;

/**
 * The `pg` driver, loaded on first use: a gateway on SQLite or the memory store never loads it,
 * which keeps several megabytes of code and heap out of its resident memory (SPEC §7 bounds RSS).
 */
export function pgDriver(): typeof PgModule {
  loaded ??= createRequire(import.meta.url)('pg') as typeof PgModule;
  return loaded;
}
