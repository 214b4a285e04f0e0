import { GatewayError, type ErrorCode } from '../errors.js';

/** The store's codes: the `ERR_STORE_*` entries of the one catalog in src/errors.ts. */
export type StoreErrorCode = Extract<ErrorCode, `ERR_STORE_${string}`>;

/**
 * The error class of the store drivers: a `GatewayError` whose code is one of the store's, so a
 * store failure reaching a boundary is answered like any other (503 for an unavailable store),
 * and callers may still tell store failures apart. Callers branch on `code`, never on the message.
 */
export class StoreError extends GatewayError {
  declare readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(code, detail, options);
    this.name = 'StoreError';
  }
}

/** A type guard, for boundary code that maps store failures to HTTP answers. */
export function isStoreError(err: unknown): err is StoreError {
  return err instanceof StoreError;
}

/** The store could not be reached or could not answer in time (fail closed: 503). */
export function isStoreUnavailable(err: unknown): boolean {
  return err instanceof StoreError && err.code === 'ERR_STORE_UNAVAILABLE';
}
