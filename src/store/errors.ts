/**
 * Failures of a token store. Same shape as the gateway catalog in src/errors.ts (a constant
 * message per code, `detail` for logs only) so the codes can be folded into it unchanged; until
 * then the store has its own class, because src/errors.ts belongs to another module.
 *
 * Details name keys (tenant ids, client ids, kids) but never a hash or a secret.
 */
export const STORE_ERRORS = {
  /** A record with that primary key exists already. */
  ERR_STORE_CONFLICT: { status: 409, message: 'Record already exists' },
  /** The record refers to one that does not exist or belongs to another credential. */
  ERR_STORE_REFERENCE: { status: 500, message: 'Record refers to an unknown record' },
  /** An argument the store cannot accept (a value that is not JSON, a bad `maxLive`). */
  ERR_STORE_INVALID: { status: 500, message: 'Invalid store argument' },
  /** The schema is older than this build: run `migrate()`. */
  ERR_STORE_NOT_MIGRATED: { status: 503, message: 'Store schema is not migrated' },
  /** The schema was written by a newer or diverging build: refusing beats guessing. */
  ERR_STORE_SCHEMA: { status: 503, message: 'Store schema is not compatible with this build' },
  ERR_STORE_CLOSED: { status: 503, message: 'Store is closed' },
  /** The database is busy beyond its timeout, unreadable or failing: fail closed (case 51). */
  ERR_STORE_UNAVAILABLE: { status: 503, message: 'Store unavailable' },
} as const satisfies Record<string, { status: number; message: string }>;

export type StoreErrorCode = keyof typeof STORE_ERRORS;

/** The one error class of the store drivers. Callers branch on `code`, never on the message. */
export class StoreError extends Error {
  readonly code: StoreErrorCode;
  readonly statusCode: number;
  readonly detail: string | undefined;

  constructor(code: StoreErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(STORE_ERRORS[code].message, options);
    this.name = 'StoreError';
    this.code = code;
    this.statusCode = STORE_ERRORS[code].status;
    this.detail = detail;
  }
}

/** A type guard, for boundary code that maps store failures to HTTP answers. */
export function isStoreError(err: unknown): err is StoreError {
  return err instanceof StoreError;
}
