import { createHmac, randomFillSync, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { ConfigError } from '../errors.js';
import { loadKeyEncryptionKey } from './key-encryption.js';

/**
 * Keyed hashes of client secrets and refresh tokens (SPEC §3 "Secrets"; security case 34): the
 * store keeps only HMAC-SHA-256 digests under a server key, so a store dump alone reveals no usable
 * secret, and a dump plus a dictionary is useless without the key.
 */
export interface SecretHasher {
  /** HMAC-SHA-256 of `value` under the server key, base64url (43 characters). */
  hash(value: string): string;
  /**
   * Whether `value` hashes to `expectedHash`, in constant time. With `expectedHash` undefined (an
   * unknown client) a fixed dummy digest is compared instead and the answer is false, so an
   * unknown client and a wrong secret cost the same work (RFC 6749 §10.10; security cases 26, 34).
   */
  verify(value: string, expectedHash: string | undefined): boolean;
}

/** A server key shorter than this is refused: HMAC-SHA-256 wants a key of at least its output size (RFC 2104 §3). */
export const MIN_SECRET_KEY_BYTES = 32;
/** The file a generated server key is kept in, inside the data directory. */
export const SECRET_KEY_FILE = 'secret-hash.key';
const DIGEST_BYTES = 32;

/** Builds the hasher; `serverKey` is copied, so the caller may wipe its buffer. */
export function createSecretHasher(serverKey: Buffer): SecretHasher {
  if (serverKey.length < MIN_SECRET_KEY_BYTES) throw new RangeError(`the secret-hash key must be at least ${MIN_SECRET_KEY_BYTES} bytes`);
  const key = Buffer.from(serverKey);
  const digest = (value: string): Buffer => createHmac('sha256', key).update(value, 'utf8').digest();
  // Derived once from the key: a stored hash can never equal it except by a 2^-256 accident, and
  // it is never a hash of anything a client could send on purpose (no one knows its preimage).
  const dummy = digest(`dummy:${randomUUID()}`);

  return Object.freeze({
    hash: (value: string): string => digest(value).toString('base64url'),
    verify(value: string, expectedHash: string | undefined): boolean {
      const actual = digest(value);
      const stored: Buffer | undefined = expectedHash === undefined ? undefined : Buffer.from(expectedHash, 'base64url');
      // A malformed stored hash compares against the dummy too: equal-length inputs only (timingSafeEqual throws otherwise).
      const known = stored !== undefined && stored.length === DIGEST_BYTES;
      return timingSafeEqual(actual, known ? stored : dummy) && known;
    },
  });
}

/** A new client secret or refresh token: 256 random bits, base64url (43 characters). */
const SECRET_BYTES = 32;
/**
 * Secrets are cut from a pool refilled from the CSPRNG 128 secrets at a time, as Node's own
 * `randomUUID` does: one `randomFillSync` per call cost more than the HMAC of the exchange (a
 * syscall-bound round trip into OpenSSL each time). Every byte is used once and zeroed once used,
 * so a secret does not linger in the pool after it was handed out.
 */
const pool = Buffer.alloc(SECRET_BYTES * 128);
let poolOffset = pool.length;

export function generateSecret(): string {
  if (poolOffset === pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const bytes = pool.subarray(poolOffset, poolOffset + SECRET_BYTES);
  poolOffset += SECRET_BYTES;
  const secret = bytes.toString('base64url');
  bytes.fill(0);
  return secret;
}

/** A new client id, access-token id or refresh-family id: a random (v4) UUID. */
export function generateId(): string {
  return randomUUID();
}

/**
 * The server key of the secret hasher, fail closed. A configured `value` (`tokenService.secretKey`
 * or its environment variable) is used as UTF-8 bytes and must be at least 32 bytes, not one
 * repeated character. Without one, `<dataDir>/secret-hash.key` is read or generated (32 random
 * bytes, 0600) through the same loader as the key-encryption key, with a warning: losing that file
 * invalidates every stored secret and refresh token, and replicas must share it.
 */
export async function loadSecretKey(
  options: { readonly value?: string | undefined; readonly valueSource?: string; readonly dataDir: string },
  deps: { log: Logger },
): Promise<Buffer> {
  if (options.value !== undefined) {
    const where = options.valueSource ?? 'tokenService.secretKey';
    const key = Buffer.from(options.value, 'utf8');
    if (key.length < MIN_SECRET_KEY_BYTES) throw new ConfigError([`${where}: must be at least ${MIN_SECRET_KEY_BYTES} bytes`]);
    if (key.every((byte) => byte === key[0])) throw new ConfigError([`${where}: is one repeated character; generate a random key`]);
    return key;
  }
  return loadKeyEncryptionKey(
    {
      dataDir: options.dataDir,
      fileName: SECRET_KEY_FILE,
      generatedWarning:
        'generated the secret-hash key: every stored client secret and refresh token depends on it, so back it up with the store ' +
        'and give every replica the same one; set tokenService.secretKey or mount the file to manage it yourself',
    },
    deps,
  );
}
