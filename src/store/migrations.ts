/**
 * Versioned schema migrations, shared rules for every SQL driver. Each driver has its own ordered
 * list (SQL dialects differ) but the same version numbers and names, so `schema_migrations` reads
 * the same whichever database holds it.
 */
import { StoreError } from './errors.js';

export interface Migration {
  /**
   * Increasing, never reused, never edited once released. A gap is allowed: migrations written on
   * parallel branches each take their own number, and a build may know a later one before an
   * earlier one reaches it.
   */
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export interface AppliedMigration {
  readonly version: number;
  readonly name: string;
}

/**
 * The migrations still to apply, in version order. Every applied version must be one this build
 * knows, under the same name: a database migrated by a newer build, or by one whose list diverged,
 * is refused rather than run against a schema this build does not know (fail closed, security
 * case 51). A known version missing below an applied one is pending too: it was written on a
 * parallel branch, independently of the versions around it, and the database got the other
 * branch's migration first. Only the first known version, the base schema every other one builds
 * on, must come first: a history without it is refused.
 */
export function pendingMigrations(known: readonly Migration[], applied: readonly AppliedMigration[]): Migration[] {
  const byVersion = new Map(known.map((m) => [m.version, m]));
  const done = new Set<number>();
  for (const { version, name } of applied) {
    const expected = byVersion.get(version);
    if (expected === undefined) {
      throw new StoreError('ERR_STORE_SCHEMA', `schema version ${version} (${name}) is not known to this build`);
    }
    if (expected.name !== name) {
      throw new StoreError('ERR_STORE_SCHEMA', `schema version ${version} (${name}) is not this build's migration`);
    }
    done.add(version);
  }
  const base = known[0];
  if (done.size > 0 && base !== undefined && !done.has(base.version)) {
    throw new StoreError('ERR_STORE_SCHEMA', `schema version ${base.version} (${base.name}), the base schema, is not applied`);
  }
  return known.filter((m) => !done.has(m.version));
}

/** Fails unless every known version is applied. */
export function assertSchemaCurrent(known: readonly Migration[], applied: readonly AppliedMigration[]): void {
  if (pendingMigrations(known, applied).length > 0) {
    throw new StoreError('ERR_STORE_NOT_MIGRATED', 'run migrate() before using the store');
  }
}

/** Checks a driver's list once, at module load of the driver: a broken list is a build defect. */
export function assertMigrationList(known: readonly Migration[]): readonly Migration[] {
  known.forEach((m, i) => {
    const previous = i === 0 ? 0 : known[i - 1]!.version;
    if (!Number.isSafeInteger(m.version) || m.version <= previous) {
      throw new Error(`migration ${m.name} has version ${m.version}, expected a whole number above ${previous}`);
    }
  });
  return Object.freeze(known.map((m) => Object.freeze({ ...m })));
}
