import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import { thumbprintOf } from '../auth/jwks.js';
import type { Clock } from '../clock.js';
import { GatewayError, isGatewayError } from '../errors.js';
import type { SigningKeyRecord, TokenStore } from '../store/types.js';
import type { KeyEncryption } from './key-encryption.js';

import { SIGNING_ALGORITHMS, type SigningAlgorithm } from '../config/schema.js';

export { SIGNING_ALGORITHMS, type SigningAlgorithm };

/**
 * How often a serving process re-reads the keys from the store (src/tokens/own-key-source.ts).
 * Until then it does not know that another process (the CLI, another replica) retired its current
 * key, and goes on signing with it: that is the grace a retired key is published for on top of the
 * token lifetime.
 */
export const KEY_RELOAD_INTERVAL_SECONDS = 30;

/** A public signing key as published in the JWKS (RFC 7517 §4): public members, `kid`, `alg`, `use`. */
// A type alias, not an interface, so it is assignable to the store's `Record<string, unknown>`.
export type PublicJwk = {
  readonly kty: 'RSA' | 'EC' | 'OKP';
  readonly n?: string;
  readonly e?: string;
  readonly crv?: string;
  readonly x?: string;
  readonly y?: string;
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly use: 'sig';
};

/** One key as anyone may see it: no private material. Times are epoch ms (see `SigningKeyRecord`). */
export interface SigningKeyPublic {
  /** RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key. */
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly jwk: PublicJwk;
  readonly createdAt: number;
  readonly activatesAt: number;
  readonly retiredAt: number | null;
  /**
   * When it leaves the JWKS: the stored time, extended if the configured token lifetime grew since.
   * Null while it signs, and while a live access token it signed needs it: it then leaves at the
   * first reload after the last such token is revoked or expires.
   */
  readonly removeAfter: number | null;
}

/** The key to sign with: the public view plus the key objects. Never logged, never published. */
export interface SigningKey extends SigningKeyPublic {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

export interface KeyManager {
  /** Loads the keys; generates and stores the first one (or one of a newly configured algorithm). */
  init(): Promise<void>;
  /** The key to sign with now. Throws `ERR_KEYS_NOT_LOADED` before `init` or if no key is active. */
  current(): SigningKey;
  /** The JWKS keys at this instant: the current one, the not-yet-active ones and the retired ones not yet removed; newest first. */
  published(): readonly SigningKeyPublic[];
  /** Generates a new key and retires the others (see `createKeyManager`). */
  rotate(): Promise<Rotation>;
  /** Re-reads the store (another process may have rotated) and deletes retired keys nothing they signed can still need. */
  reload(): Promise<void>;
  /** `{ keys }` for `/.well-known/jwks.json`. */
  jwks(): { keys: PublicJwk[] };
  /**
   * SPKI PEM for Frontegg's `GET /identity/resources/configurations/v1` (`{publicKey}`): the
   * current key when it is RS256, otherwise the newest published RS256 key (Frontegg's SDKs know
   * RSA only); `ERR_KEYS_NO_RSA_KEY` when none is published.
   */
  publicKeyPem(): string;
}

/** What a rotation did: the new key, when it signs, and the keys it retired. Times are epoch ms. */
export interface Rotation {
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly activatesAt: number;
  readonly retired: ReadonlyArray<{ readonly kid: string; readonly retiredAt: number; readonly removeAfter: number }>;
}

export interface KeyManagerOptions {
  readonly algorithm: SigningAlgorithm;
  /**
   * The longest lifetime of the short-lived tokens signed, in seconds: the JWT TTL and the vendor
   * token TTL. A retired key stays published at least this long (plus `peerReloadSeconds`) after
   * it stopped signing. Access tokens are not counted here (they may live for years, or have no
   * expiry): the store records which key signed each, and a key stays published while one of its
   * access tokens is live.
   */
  readonly tokenLifetimeSeconds: number;
  /**
   * How long a new key is published before it signs (default 0). Verifiers that cache the JWKS
   * (remote sidecars, Frontegg SDKs) see the new key before any token it signed as long as they
   * refetch within this time; 0 signs at once, which is safe for the in-process key source (it
   * reads the manager directly) and for URL sources that refetch on an unknown kid, but a cache
   * that does neither refuses new tokens until its next refresh. Set it to the sidecars'
   * JWKS cache TTL for a rotation no verifier notices.
   */
  readonly publishAheadSeconds?: number;
  /**
   * How long another process sharing the store may go on signing with a key after it was retired
   * (its reload interval; default `KEY_RELOAD_INTERVAL_SECONDS`). A retired key stays published
   * `tokenLifetimeSeconds` plus this long, so the tokens such a process signs before it reloads
   * verify until they expire.
   */
  readonly peerReloadSeconds?: number;
}

export type SigningKeyStore = Pick<
  TokenStore,
  'insertSigningKey' | 'listSigningKeys' | 'updateSigningKey' | 'deleteSigningKey' | 'hasLiveAccessTokenSignedBy' | 'newestLiveAccessTokenWithoutKid'
>;

export interface KeyManagerDeps {
  readonly store: SigningKeyStore;
  readonly encryption: KeyEncryption;
  readonly clock: Clock;
  readonly log: Logger;
}

/** Members only a private or symmetric JWK carries (RFC 7518 §6.2.2, §6.3.2, §6.4). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const MIN_RSA_BITS = 2048; // RFC 7518 §3.3
/**
 * How far the clocks of two processes on one store may disagree. An access token recorded without
 * a kid may have been signed by any key created up to this long after the token by the store's
 * times, since the key's and the token's times come from different hosts.
 */
const CLOCK_SKEW_MS = 5 * 60_000;

/** Decrypted key material: decrypted and checked once per record, reused across reloads. */
interface Material {
  readonly envelope: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly jwk: PublicJwk;
  readonly spkiPem: string;
}

interface LoadedKey {
  readonly material: Material;
  readonly view: SigningKeyPublic;
  readonly signing: SigningKey;
}

function isSigningAlgorithm(value: string): value is SigningAlgorithm {
  return (SIGNING_ALGORITHMS as readonly string[]).includes(value);
}

function recordInvalid(kid: string, detail: string, cause?: unknown): GatewayError {
  return new GatewayError('ERR_KEYS_RECORD_INVALID', `signing key ${kid}: ${detail}`, cause === undefined ? undefined : { cause });
}

function notLoaded(detail: string): GatewayError {
  return new GatewayError('ERR_KEYS_NOT_LOADED', detail);
}

/** RSA 2048 (RS256), P-256 (ES256), Ed25519 (EdDSA): the key type each algorithm requires (RFC 7518 §3, RFC 8037 §3.1). */
function generatePrivateKey(alg: SigningAlgorithm): Promise<KeyObject> {
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, _publicKey: KeyObject, privateKey: KeyObject) => (err === null ? resolve(privateKey) : reject(err));
    if (alg === 'RS256') generateKeyPair('rsa', { modulusLength: MIN_RSA_BITS, publicExponent: 0x10001 }, done);
    else if (alg === 'ES256') generateKeyPair('ec', { namedCurve: 'P-256' }, done);
    else generateKeyPair('ed25519', undefined, done);
  });
}

/** Whether the key is of the type `alg` requires (a stored record could pair them wrongly). */
function fitsAlgorithm(key: KeyObject, alg: SigningAlgorithm): boolean {
  if (alg === 'RS256') return key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= MIN_RSA_BITS;
  if (alg === 'ES256') return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
  return key.asymmetricKeyType === 'ed25519';
}

/** The published JWK: the public members from Node's canonical export, then kid, alg, use (RFC 7517 §4). */
function publicJwkOf(publicKey: KeyObject, kid: string, alg: SigningAlgorithm): PublicJwk {
  const jwk = publicKey.export({ format: 'jwk' });
  const members =
    jwk.kty === 'RSA'
      ? { kty: 'RSA' as const, n: jwk.n, e: jwk.e }
      : jwk.kty === 'EC'
        ? { kty: 'EC' as const, crv: jwk.crv, x: jwk.x, y: jwk.y }
        : { kty: 'OKP' as const, crv: jwk.crv, x: jwk.x };
  return Object.freeze({ ...members, kid, alg, use: 'sig' as const });
}

/** The stored public JWK must be exactly the one derived from the private key: same members, same values. */
function sameJwk(stored: Readonly<Record<string, unknown>>, derived: PublicJwk): boolean {
  const names = Object.keys(derived);
  const storedNames = Object.keys(stored);
  if (storedNames.length !== names.length) return false;
  return names.every((name) => Object.hasOwn(stored, name) && stored[name] === (derived as unknown as Record<string, unknown>)[name]);
}

function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * Whether a live access token may need this retired key to verify: one recorded as signed by it,
 * or one recorded without a kid (before the store kept kids) once the key existed, since any key
 * existing then may have signed it. Every key is asked at one instant, so the newest kid-less
 * token is looked up once per load.
 */
function createAccessTokenHold(store: SigningKeyStore, now: number): (record: SigningKeyRecord) => Promise<boolean> {
  let newestWithoutKid: number | null | undefined;
  return async (record) => {
    if (await store.hasLiveAccessTokenSignedBy(record.kid, now)) return true;
    if (newestWithoutKid === undefined) newestWithoutKid = await store.newestLiveAccessTokenWithoutKid(now);
    return newestWithoutKid !== null && record.createdAt <= newestWithoutKid + CLOCK_SKEW_MS;
  };
}

/**
 * Newest first: by activation, then creation, then a key not retired before a retired one (a
 * rotation within one millisecond), then kid, so every process orders one store the same way.
 */
function newestFirst(a: LoadedKey, b: LoadedKey): number {
  const x = a.view;
  const y = b.view;
  if (x.activatesAt !== y.activatesAt) return y.activatesAt - x.activatesAt;
  if (x.createdAt !== y.createdAt) return y.createdAt - x.createdAt;
  if ((x.retiredAt === null) !== (y.retiredAt === null)) return x.retiredAt === null ? -1 : 1;
  return x.kid < y.kid ? 1 : x.kid > y.kid ? -1 : 0;
}

/**
 * The issuer's signing keys (SPEC §3 "Signing"): generated on first start, kept in the token
 * store with the private half sealed by `deps.encryption` (AES-256-GCM, the kid as AAD), decrypted
 * once per record into `KeyObject`s and never logged or published.
 *
 * Each key is named by its RFC 7638 thumbprint, so a kid is stable across processes and restarts
 * and two different keys cannot share one. On load every record is checked: it decrypts, the key
 * fits its `alg`, its thumbprint is its kid, and its stored public JWK is the one derived from
 * it; a record that fails stops `init`/`reload` (fail closed) rather than being skipped silently.
 *
 * Rotation ("publishes the new key in the JWKS before signing with it and keeps the old one until
 * every token it signed has expired"). Short-lived tokens (JWTs, vendor tokens) are covered by
 * time; access tokens, which may live for years or have no expiry, by the store's record of the
 * kid that signed each:
 * - `rotate()` stores the new key with `activatesAt = now + publishAheadSeconds` (now, when no key
 *   is active: there is nothing to keep signing with), then marks every key not yet retired
 *   `retiredAt = activatesAt`, `removeAfter = activatesAt + tokenLifetimeSeconds +
 *   peerReloadSeconds`: another process on the same store (a serving gateway, when the CLI
 *   rotates) learns of the retirement only at its next reload and signs with the old key until
 *   then. Insert before retire: a crash in between leaves two signing keys (the newest wins),
 *   never none.
 * - `current()` is the newest key with `activatesAt <= now` not retired at `now`.
 * - A retired key is held while a live access token may have been signed by it (see
 *   `createAccessTokenHold`): revoking or outliving the last one releases it. A held key has no
 *   `removeAfter`; the others keep theirs.
 * - `published()` is every key not past its `removeAfter`; `init`, `reload` and `rotate` read the
 *   store, decide the holds at that instant, and delete the keys past it. A released key leaves at
 *   the first of them after the release, and a held one stays while the store cannot be read.
 * - `init()` generates a key when there is none of the configured algorithm that is not retired
 *   (first start, or the algorithm changed: the old keys then retire like any rotation).
 *
 * Calls within one manager are serialised. Two processes rotating at the same instant both
 * insert; the newer key signs everywhere after `reload`, and the next rotation retires the other.
 */
export function createKeyManager(options: KeyManagerOptions, deps: KeyManagerDeps): KeyManager {
  const { algorithm } = options;
  if (!isSigningAlgorithm(algorithm)) throw new GatewayError('ERR_CONFIG_INVALID', `unsupported signing algorithm ${String(algorithm)}`);
  const publishAheadSeconds = options.publishAheadSeconds ?? 0;
  const peerReloadSeconds = options.peerReloadSeconds ?? KEY_RELOAD_INTERVAL_SECONDS;
  for (const [name, value] of [
    ['tokenLifetimeSeconds', options.tokenLifetimeSeconds],
    ['publishAheadSeconds', publishAheadSeconds],
    ['peerReloadSeconds', peerReloadSeconds],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0) throw new GatewayError('ERR_CONFIG_INVALID', `${name} must be a whole number of seconds ≥ 0`);
  }
  // A key retired at T may still sign until every process sharing the store has reloaded
  // (T + peerReload at the latest), and what it signs then lives tokenLifetime more.
  const retentionMs = (options.tokenLifetimeSeconds + peerReloadSeconds) * 1000;
  const aheadMs = publishAheadSeconds * 1000;
  const { store, encryption, clock } = deps;
  const log = deps.log.child({ component: 'signing-keys' });

  /** Newest first; undefined until the first successful load. */
  let keys: readonly LoadedKey[] | undefined;
  let tail: Promise<unknown> = Promise.resolve();

  /** One store operation sequence at a time, so a reload cannot interleave with a rotation. */
  function serial<T>(task: () => Promise<T>): Promise<T> {
    const run = tail.then(task, task);
    tail = run.catch(() => undefined);
    return run;
  }

  /**
   * A retired key leaves the JWKS `tokenLifetimeSeconds + peerReloadSeconds` after its retirement
   * (or later if stored so): a retirement stored by another process is computed again here, so a
   * longer configured lifetime also holds for keys retired before it was configured.
   */
  function removeAfterOf(record: SigningKeyRecord): number | null {
    if (record.retiredAt === null) return null;
    return Math.max(record.removeAfter ?? record.retiredAt, record.retiredAt + retentionMs);
  }

  function decrypt(record: SigningKeyRecord, alg: SigningAlgorithm): Material {
    const { kid } = record;
    let pem: string;
    try {
      pem = encryption.open(record.privateKeyEnvelope, kid);
    } catch (err) {
      if (isGatewayError(err)) throw new GatewayError(err.code, `signing key ${kid}: ${err.detail ?? err.message}`, { cause: err });
      throw err;
    }
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey({ key: pem, format: 'pem' });
    } catch (err) {
      throw recordInvalid(kid, 'private key does not import', err);
    }
    if (!fitsAlgorithm(privateKey, alg)) throw recordInvalid(kid, `key type does not fit ${alg}`);
    const publicKey = createPublicKey(privateKey);
    if (thumbprintOf(publicKey) !== kid) throw recordInvalid(kid, 'kid is not the RFC 7638 thumbprint of the key');
    const jwk = publicJwkOf(publicKey, kid, alg);
    if (!sameJwk(record.publicJwk, jwk)) throw recordInvalid(kid, 'stored public JWK does not match the private key');
    const spkiPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    return Object.freeze({ envelope: record.privateKeyEnvelope, privateKey, publicKey, jwk, spkiPem });
  }

  function materialise(record: SigningKeyRecord, removeAfter: number | null, previous: LoadedKey | undefined): LoadedKey {
    const { kid, alg } = record;
    if (typeof kid !== 'string' || kid.length === 0) throw recordInvalid('(no kid)', 'kid missing');
    if (!isSigningAlgorithm(alg)) throw recordInvalid(kid, `unsupported alg ${alg}`);
    for (const member of PRIVATE_MEMBERS) {
      if (Object.hasOwn(record.publicJwk, member)) throw recordInvalid(kid, 'public JWK carries private members');
    }
    if (!isTime(record.createdAt) || !isTime(record.activatesAt)) throw recordInvalid(kid, 'bad createdAt or activatesAt');
    if (record.retiredAt !== null && !isTime(record.retiredAt)) throw recordInvalid(kid, 'bad retiredAt');
    if (record.removeAfter !== null && !isTime(record.removeAfter)) throw recordInvalid(kid, 'bad removeAfter');
    // Decrypt once per record: a reload reuses the material of a record whose envelope is unchanged.
    const reuse = previous !== undefined && previous.material.envelope === record.privateKeyEnvelope && previous.view.alg === alg;
    const material = reuse ? previous.material : decrypt(record, alg);
    const view: SigningKeyPublic = Object.freeze({
      kid,
      alg,
      jwk: material.jwk,
      createdAt: record.createdAt,
      activatesAt: record.activatesAt,
      retiredAt: record.retiredAt,
      removeAfter,
    });
    const signing: SigningKey = Object.freeze({ ...view, privateKey: material.privateKey, publicKey: material.publicKey });
    return Object.freeze({ material, view, signing });
  }

  /** Reads the store, deletes what nothing can need any more, and swaps the loaded set in one assignment. */
  async function load(): Promise<readonly LoadedKey[]> {
    const records = await store.listSigningKeys();
    const now = clock.now();
    const heldByAccessToken = createAccessTokenHold(store, now);
    const previous = new Map((keys ?? []).map((key) => [key.view.kid, key]));
    const next: LoadedKey[] = [];
    const seen = new Set<string>();
    for (const record of records) {
      const held = record.retiredAt !== null && (await heldByAccessToken(record));
      const removeAfter = held ? null : removeAfterOf(record);
      if (removeAfter !== null && removeAfter <= now) {
        // Every token this key signed has expired or been revoked: it leaves the JWKS and the store.
        await store.deleteSigningKey(record.kid);
        log.info({ kid: record.kid }, 'signing key removed');
        continue;
      }
      if (seen.has(record.kid)) throw recordInvalid(record.kid, 'duplicate kid');
      seen.add(record.kid);
      next.push(materialise(record, removeAfter, previous.get(record.kid)));
    }
    next.sort(newestFirst);
    keys = Object.freeze(next);
    return keys;
  }

  function activeAt(loaded: readonly LoadedKey[], now: number): LoadedKey | undefined {
    return loaded.find(({ view }) => view.activatesAt <= now && (view.retiredAt === null || view.retiredAt > now));
  }

  async function rotateLocked(loaded: readonly LoadedKey[], reason: string): Promise<Rotation> {
    const privateKey = await generatePrivateKey(algorithm);
    const publicKey = createPublicKey(privateKey);
    const kid = thumbprintOf(publicKey);
    const now = clock.now();
    // Publish ahead only when some key can keep signing meanwhile.
    const activatesAt = activeAt(loaded, now) === undefined ? now : now + aheadMs;
    const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    await store.insertSigningKey({
      kid,
      alg: algorithm,
      publicJwk: publicJwkOf(publicKey, kid, algorithm),
      privateKeyEnvelope: encryption.seal(pkcs8, kid),
      createdAt: now,
      activatesAt,
      retiredAt: null,
      removeAfter: null,
    });
    // Every other key still signing (or waiting to) stops when the new one starts, and stays
    // published until the last token it could have signed — here, or in a process that has not
    // reloaded yet — has expired.
    const retired: Array<{ kid: string; retiredAt: number; removeAfter: number }> = [];
    for (const { view } of loaded) {
      if (view.retiredAt !== null || view.kid === kid) continue;
      const removeAfter = activatesAt + retentionMs;
      await store.updateSigningKey(view.kid, { retiredAt: activatesAt, removeAfter });
      retired.push({ kid: view.kid, retiredAt: activatesAt, removeAfter });
    }
    await load();
    log.info({ kid, alg: algorithm, activatesAt: new Date(activatesAt).toISOString(), retired: retired.map((r) => r.kid), reason }, 'signing key created');
    return Object.freeze({ kid, alg: algorithm, activatesAt, retired: Object.freeze(retired) });
  }

  function loadedKeys(): readonly LoadedKey[] {
    if (keys === undefined) throw notLoaded('signing keys not loaded: init() first');
    return keys;
  }

  function publishedAt(now: number): LoadedKey[] {
    return loadedKeys().filter(({ view }) => view.removeAfter === null || now < view.removeAfter);
  }

  return Object.freeze({
    init: () =>
      serial(async () => {
        const loaded = await load();
        const usable = loaded.some(({ view }) => view.alg === algorithm && view.retiredAt === null);
        if (!usable) await rotateLocked(loaded, loaded.length === 0 ? 'first start' : `no ${algorithm} key`);
        const current = activeAt(loadedKeys(), clock.now());
        log.info({ keys: loadedKeys().length, current: current?.view.kid, alg: algorithm }, 'signing keys loaded');
      }),

    current(): SigningKey {
      const key = activeAt(loadedKeys(), clock.now());
      if (key === undefined) throw notLoaded('no signing key is active now');
      return key.signing;
    },

    published: () => Object.freeze(publishedAt(clock.now()).map((key) => key.view)),

    rotate: () => serial(async () => rotateLocked(await load(), 'rotate')),

    reload: () =>
      serial(async () => {
        await load();
      }),

    jwks: () => ({ keys: publishedAt(clock.now()).map((key) => key.view.jwk) }),

    publicKeyPem(): string {
      const now = clock.now();
      const current = activeAt(loadedKeys(), now);
      if (current?.view.alg === 'RS256') return current.material.spkiPem;
      const rsa = publishedAt(now).filter(({ view }) => view.alg === 'RS256');
      // Prefer a key that has signed something over one still waiting to activate.
      const chosen = rsa.find(({ view }) => view.activatesAt <= now) ?? rsa[0];
      if (chosen === undefined) throw new GatewayError('ERR_KEYS_NO_RSA_KEY', `no RS256 key published (signing with ${algorithm})`);
      return chosen.material.spkiPem;
    },
  });
}
