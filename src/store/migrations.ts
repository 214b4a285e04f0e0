/**
 * Versioned schema migrations, shared rules for every SQL driver. Each driver has its own ordered
 * list (SQL dialects differ) but the same version numbers and names, so `schema_migrations` reads
 * the same whichever database holds it.
 */
import { StoreError } from './errors.js';

export interface Migration {
  /** 1, 2, 3…: contiguous, never reused, never edited once released. */
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export interface AppliedMigration {
  readonly version: number;
  readonly name: string;
}

/**
 * The migrations still to apply, in order. The applied history must be a prefix of the known
 * list: a database migrated by a newer build, or by one whose list diverged, is refused rather
 * than run against a schema this build does not know (fail closed, security case 51).
 */
export function pendingMigrations(known: readonly Migration[], applied: readonly AppliedMigration[]): Migration[] {
  const sorted = [...applied].sort((a, b) => a.version - b.version);
  sorted.forEach((done, i) => {
    const expected = known[i];
    if (expected === undefined) {
      throw new StoreError('ERR_STORE_SCHEMA', `schema version ${done.version} is newer than this build knows`);
    }
    if (expected.version !== done.version || expected.name !== done.name) {
      throw new StoreError('ERR_STORE_SCHEMA', `schema version ${done.version} (${done.name}) is not this build's migration`);
    }
  });
  return known.slice(sorted.length);
}

/** Fails unless the database is exactly at the latest known version. */
export function assertSchemaCurrent(known: readonly Migration[], applied: readonly AppliedMigration[]): void {
  if (pendingMigrations(known, applied).length > 0) {
    throw new StoreError('ERR_STORE_NOT_MIGRATED', 'run migrate() before using the store');
  }
}

/** Checks a driver's list once, at module load of the driver: a broken list is a build defect. */
export function assertMigrationList(known: readonly Migration[]): readonly Migration[] {
  known.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration ${m.name} has version ${m.version}, expected ${i + 1}`);
  });
  return Object.freeze(known.map((m) => Object.freeze({ ...m })));
}
