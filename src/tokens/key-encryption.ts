import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { chmod, link, mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { GatewayError } from '../errors.js';

/**
 * Encryption at rest of the signing keys' private halves (SPEC §3 "Signing": "private keys
 * encrypted with a key from the environment, or read from a mounted file"). A store dump without
 * the key-encryption key reveals no usable private key.
 */
export interface KeyEncryption {
  /** Encrypts `plaintext` bound to `aad` (the kid); returns a versioned base64url envelope. */
  seal(plaintext: string, aad: string): string;
  /**
   * Decrypts an envelope sealed with the same key and the same `aad`. Anything else — another
   * key, another kid, a flipped bit, an unknown version — throws `ERR_KEYS_DECRYPT_FAILED`,
   * never returns garbage (the GCM tag is checked before any plaintext is released).
   */
  open(envelope: string, aad: string): string;
}

/** AES-256-GCM: a 256-bit key, a 96-bit random IV (NIST SP 800-38D §8.2.2), a 128-bit tag. */
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Envelope v1: `v1.` + base64url(iv ‖ ciphertext ‖ tag). The prefix lets a later format coexist. */
const VERSION = 'v1';
const ENVELOPE = /^v1\.([A-Za-z0-9_-]+)$/;

/** The file a generated key is kept in, inside the data directory. */
export const KEY_ENCRYPTION_KEY_FILE = 'key-encryption.key';

function decryptFailed(detail: string, cause?: unknown): GatewayError {
  return new GatewayError('ERR_KEYS_DECRYPT_FAILED', detail, cause === undefined ? undefined : { cause });
}

function invalidKey(detail: string): GatewayError {
  return new GatewayError('ERR_KEYS_ENCRYPTION_KEY_INVALID', detail);
}

/** 32 bytes of one value (all zero, say) are a placeholder someone forgot to replace, not a key. */
function checkKeyBytes(key: Buffer, where: string): void {
  if (key.length !== KEY_BYTES) throw invalidKey(`${where}: must be exactly ${KEY_BYTES} bytes, got ${key.length}`);
  if (key.every((byte) => byte === key[0])) throw invalidKey(`${where}: all ${KEY_BYTES} bytes are equal; generate a random key`);
}

/**
 * AES-256-GCM envelopes under `key` (32 bytes). The key is copied into a `KeyObject`, so the
 * caller may wipe its buffer.
 */
export function createKeyEncryption(key: Buffer): KeyEncryption {
  checkKeyBytes(key, 'key-encryption key');
  const secret: KeyObject = createSecretKey(Buffer.from(key));

  return Object.freeze({
    seal(plaintext: string, aad: string): string {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', secret, iv, { authTagLength: TAG_BYTES });
      // The kid as AAD: an envelope copied into another key record no longer opens.
      cipher.setAAD(Buffer.from(aad, 'utf8'));
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return `${VERSION}.${Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url')}`;
    },
    open(envelope: string, aad: string): string {
      const match = ENVELOPE.exec(envelope);
      if (match === null) throw decryptFailed('not a v1 envelope');
      const bytes = Buffer.from(match[1]!, 'base64url');
      if (bytes.length < IV_BYTES + TAG_BYTES) throw decryptFailed('envelope too short');
      const iv = bytes.subarray(0, IV_BYTES);
      const tag = bytes.subarray(bytes.length - TAG_BYTES);
      const body = bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES);
      try {
        const decipher = createDecipheriv('aes-256-gcm', secret, iv, { authTagLength: TAG_BYTES });
        decipher.setAAD(Buffer.from(aad, 'utf8'));
        decipher.setAuthTag(tag);
        // `final` throws when the tag does not match; `update`'s output is discarded with it.
        return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
      } catch (err) {
        throw decryptFailed('authentication failed: another key-encryption key, another record, or a damaged envelope', err);
      }
    },
  });
}

/**
 * Decodes a configured key: 64 hex digits, or base64 / base64url (padding optional) of exactly
 * 32 bytes. Lenient decoders would turn a typo into a different, shorter key; this one refuses
 * anything that is not the canonical encoding of 32 bytes.
 */
export function decodeKeyEncryptionKey(text: string, where: string): Buffer {
  const value = text.trim();
  if (value === '') throw invalidKey(`${where}: is empty`);
  let key: Buffer | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(value)) {
    key = Buffer.from(value, 'hex');
  } else if (/^[A-Za-z0-9+/]+={0,2}$/.test(value) || /^[A-Za-z0-9_-]+={0,2}$/.test(value)) {
    const unpadded = value.replace(/=+$/, '');
    if (unpadded.length !== value.length && value.length % 4 !== 0) throw invalidKey(`${where}: wrong base64 padding`);
    const decoded = Buffer.from(unpadded.replace(/\+/g, '-').replace(/\//g, '_'), 'base64url');
    // Canonical only: re-encoding must give the same text (no stray bits in the last character).
    if (decoded.toString('base64url') === unpadded.replace(/\+/g, '-').replace(/\//g, '_')) key = decoded;
  }
  if (key === undefined) throw invalidKey(`${where}: not hex, base64 or base64url`);
  checkKeyBytes(key, where);
  return key;
}

/**
 * The key-encryption key, fail closed. With `value` (e.g. `M2M_KEY_ENCRYPTION_KEY`), it must
 * decode to exactly 32 bytes, or start-up stops with `ERR_KEYS_ENCRYPTION_KEY_INVALID`. Without
 * one, `<dataDir>/key-encryption.key` is read, or generated (32 random bytes, file 0600 in a 0700
 * directory) with a warning: that file alone unlocks the signing keys in the store, and losing it
 * loses them, so it must be backed up with the store and kept apart from store dumps.
 *
 * Two processes starting together on one data directory agree on one key: the file is written
 * under a temporary name and hard-linked into place, which fails if the other won.
 */
export async function loadKeyEncryptionKey(
  options: {
    /** The configured key, e.g. `process.env.M2M_KEY_ENCRYPTION_KEY`; undefined when not configured. */
    value?: string;
    /** Where `value` came from, for the error message (default `M2M_KEY_ENCRYPTION_KEY`). */
    valueSource?: string;
    dataDir: string;
    /** The generated file's name inside `dataDir` (default `key-encryption.key`); other 32-byte keys reuse this loader. */
    fileName?: string;
    /** The warning logged when the file is generated (default: the key-encryption key's). */
    generatedWarning?: string;
  },
  deps: { log: Logger },
): Promise<Buffer> {
  // Set but empty is refused, not taken for "unset": an empty secret is a deployment mistake, and
  // silently generating a local key would leave replicas unable to read each other's keys.
  if (options.value !== undefined) {
    return decodeKeyEncryptionKey(options.value, options.valueSource ?? 'M2M_KEY_ENCRYPTION_KEY');
  }
  const file = join(options.dataDir, options.fileName ?? KEY_ENCRYPTION_KEY_FILE);
  const existing = await readKeyFile(file, deps.log);
  if (existing !== undefined) return existing;

  await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const key = randomBytes(KEY_BYTES);
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temp, `${key.toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  try {
    // The mode given to open() is masked by the umask; set it explicitly.
    await chmod(temp, 0o600);
    await link(temp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // Another process generated one first: use theirs.
    const theirs = await readKeyFile(file, deps.log);
    if (theirs === undefined) throw err;
    return theirs;
  } finally {
    await unlink(temp).catch(() => undefined);
  }
  deps.log.warn(
    { file },
    options.generatedWarning ??
      'generated a key-encryption key: it protects the signing keys in the store and must be backed up with the store ' +
        '(losing it loses the keys); set M2M_KEY_ENCRYPTION_KEY or mount the file to manage it yourself',
  );
  return key;
}

/** The key in `file`, undefined if there is none; a file that is there but unusable is an error, never replaced. */
async function readKeyFile(file: string, log: Logger): Promise<Buffer | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw invalidKey(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  // Kubernetes mounts secrets 0644 by default, so a readable file is a warning, not a refusal.
  const { mode } = await stat(file);
  if ((mode & 0o077) !== 0) log.warn({ file, mode: (mode & 0o777).toString(8) }, 'key-encryption key file is readable by group or others');
  return decodeKeyEncryptionKey(text, file);
}
