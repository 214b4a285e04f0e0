import type { Credential, Identity } from './identity.js';

/**
 * Turns a credential into a verified identity, or throws a `GatewayError` whose code says why
 * not (ERR_AUTH_*; ERR_AUTH_KEYS_UNAVAILABLE when no key set is loaded yet).
 */
export interface Authenticator {
  authenticate(credential: Credential): Promise<Identity>;
  /** True once every configured issuer has a usable key set (drives /readyz). */
  ready(): boolean;
  /** Loads the key sets (resolves once each source made its first attempt, good or bad). */
  start(): Promise<void>;
  close(): Promise<void>;
  /** Seconds since each issuer's key set loaded, for the key-set age gauge. */
  keySetAges(): Iterable<readonly [issuer: string, ageSeconds: number]>;
}
