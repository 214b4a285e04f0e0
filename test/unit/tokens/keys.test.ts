import { createPublicKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint } from 'jose';
import t, { type Test } from 'tap';
import { pino } from 'pino';
import { createManualClock } from '../../../src/clock.js';
import type { SigningKeyRecord, TokenStore } from '../../../src/store/types.js';
import { createMemoryStore } from '../../../src/store/memory.js';
import { createSqliteStore } from '../../../src/store/sqlite.js';
import { createKeyEncryption, type KeyEncryption } from '../../../src/tokens/key-encryption.js';
import { createKeyManager, KEY_RELOAD_INTERVAL_SECONDS, SIGNING_ALGORITHMS, type KeyManagerOptions, type SigningAlgorithm, type SigningKeyStore } from '../../../src/tokens/keys.js';
import { createLogSink } from '../../helpers/log-sink.js';
import { tenantAccessToken, userAccessToken } from '../../helpers/store-contract.js';

const HOUR = 3600_000;
const LIFETIME_SECONDS = 24 * 3600;
const LIFETIME = LIFETIME_SECONDS * 1000;
const RELOAD = KEY_RELOAD_INTERVAL_SECONDS * 1000;
/** How long a retired key stays published: the token lifetime plus the other processes' reload interval. */
const RETENTION = LIFETIME + RELOAD;

interface Setup {
  readonly store?: SigningKeyStore;
  readonly encryption?: KeyEncryption;
  readonly clock?: ReturnType<typeof createManualClock>;
  readonly options?: Partial<KeyManagerOptions>;
}

/** A key manager on a manual clock, with captured logs; pass `store`/`encryption` to share them. */
function manager(setup: Setup = {}) {
  const store = setup.store ?? createMemoryStore();
  const encryption = setup.encryption ?? createKeyEncryption(randomBytes(32));
  const clock = setup.clock ?? createManualClock();
  const logs = createLogSink();
  const keys = createKeyManager(
    { algorithm: 'RS256', tokenLifetimeSeconds: LIFETIME_SECONDS, ...setup.options },
    { store, encryption, clock, log: pino({ level: 'debug' }, logs.stream) },
  );
  return { keys, store, encryption, clock, logs };
}

const kids = (list: ReadonlyArray<{ kid: string }>) => list.map((k) => k.kid);

t.test('the first start generates one key of the configured algorithm, named by its RFC 7638 thumbprint', async (t) => {
  const shapes: Record<SigningAlgorithm, { kty: string; members: string[]; check: (jwk: Record<string, unknown>) => boolean }> = {
    RS256: { kty: 'RSA', members: ['e', 'n'], check: (jwk) => Buffer.from(jwk.n as string, 'base64url').length * 8 === 2048 },
    ES256: { kty: 'EC', members: ['crv', 'x', 'y'], check: (jwk) => jwk.crv === 'P-256' },
    EdDSA: { kty: 'OKP', members: ['crv', 'x'], check: (jwk) => jwk.crv === 'Ed25519' },
  };
  for (const algorithm of SIGNING_ALGORITHMS) {
    const { keys, store, clock } = manager({ options: { algorithm } });
    await keys.init();
    const records = await store.listSigningKeys();
    t.equal(records.length, 1, `${algorithm}: one key stored`);
    const { kid } = keys.current();
    const jwk = keys.jwks().keys[0]! as unknown as Record<string, unknown>;
    const shape = shapes[algorithm];
    t.same(Object.keys(jwk).sort(), [...shape.members, 'alg', 'kid', 'kty', 'use'].sort(), `${algorithm}: public members, kid, alg, use — nothing else`);
    t.match(jwk, { kty: shape.kty, alg: algorithm, use: 'sig', kid }, `${algorithm}: JWK header members`);
    t.ok(shape.check(jwk), `${algorithm}: key size / curve`);
    // jose computes the thumbprint independently of our implementation.
    t.equal(kid, await calculateJwkThumbprint(jwk as never, 'sha256'), `${algorithm}: kid is the RFC 7638 thumbprint`);
    t.match(keys.current(), { kid, alg: algorithm, activatesAt: clock.now(), retiredAt: null, removeAfter: null });
    t.same(kids(keys.published()), [kid], `${algorithm}: published`);
    t.same(records[0]!.publicJwk, jwk, `${algorithm}: the store holds the published JWK`);
  }
});

t.test('keys persist: a new manager on the same store signs with the same key', async (t) => {
  for (const algorithm of SIGNING_ALGORITHMS) {
    const first = manager({ options: { algorithm } });
    await first.keys.init();
    const second = manager({ store: first.store, encryption: first.encryption, clock: first.clock, options: { algorithm } });
    await second.keys.init();
    t.equal(second.keys.current().kid, first.keys.current().kid, `${algorithm}: same kid`);
    t.same(second.keys.jwks(), first.keys.jwks(), `${algorithm}: same public key`);
    t.equal((await first.store.listSigningKeys()).length, 1, `${algorithm}: no second key generated`);
    const data = Buffer.from('payload');
    const hash = algorithm === 'EdDSA' ? null : 'sha256';
    const signature = sign(hash, data, second.keys.current().privateKey);
    t.ok(verify(hash, data, first.keys.current().publicKey, signature), `${algorithm}: same private key`);
  }
});

/** The secret parts of private keys, as any JWK or PEM export would carry them. */
function privateScalars(keys: readonly KeyObject[]): string[] {
  return keys.flatMap((key) => {
    const jwk = key.export({ format: 'jwk' });
    const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
    return [jwk.d, jwk.p, jwk.q, pkcs8.toString('base64'), pkcs8.toString('hex')].filter((v): v is string => v !== undefined);
  });
}

t.test('keys persist in a SQLite file: a restarted process signs with the same key; the file holds nothing private in clear', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'm2m-keys-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const algorithm of SIGNING_ALGORITHMS) {
    const path = join(dir, `${algorithm}.db`);
    const openStore = async () => {
      const store = createSqliteStore({ path });
      await store.migrate();
      return store;
    };
    const firstStore = await openStore();
    const first = manager({ store: firstStore, options: { algorithm } });
    await first.keys.init();
    const privates = [first.keys.current().privateKey];
    await first.keys.rotate();
    privates.push(first.keys.current().privateKey);
    const jwks = first.keys.jwks();
    const kid = first.keys.current().kid;
    // Everything SQLite wrote (main file, WAL, shared memory) while the store is still open.
    const files = (await readdir(dir)).filter((name) => name.startsWith(`${algorithm}.db`));
    const bytes = Buffer.concat(await Promise.all(files.map((name) => readFile(join(dir, name)))));
    await firstStore.close();

    const secondStore = await openStore();
    t.teardown(() => secondStore.close());
    const restarted = manager({ store: secondStore, encryption: first.encryption, clock: first.clock, options: { algorithm } });
    await restarted.keys.init();
    t.equal(restarted.keys.current().kid, kid, `${algorithm}: same current kid`);
    t.same(restarted.keys.jwks(), jwks, `${algorithm}: same published keys`);
    const text = bytes.toString('latin1');
    t.notOk(text.includes('-----BEGIN'), `${algorithm}: no PEM in the database files`);
    t.notOk(
      privateScalars(privates).some((secret) => text.includes(secret)),
      `${algorithm}: no private scalar in the database files`,
    );
    for (const key of privates) t.notOk(bytes.includes(key.export({ type: 'pkcs8', format: 'der' })), `${algorithm}: no DER private key`);
  }
});

t.test('before init there is no key: current, publicKeyPem and jwks say so by code', async (t) => {
  const { keys } = manager();
  for (const [name, call] of [
    ['current', () => keys.current()],
    ['published', () => keys.published()],
    ['jwks', () => keys.jwks()],
    ['publicKeyPem', () => keys.publicKeyPem()],
  ] as const) {
    t.throws(call, { code: 'ERR_KEYS_NOT_LOADED' }, name);
  }
});

t.test('options that cannot describe a safe rotation are refused at construction', async (t) => {
  const cases: Array<[string, Partial<KeyManagerOptions>]> = [
    ['an algorithm we do not sign with', { algorithm: 'HS256' as SigningAlgorithm }],
    ['alg none', { algorithm: 'none' as SigningAlgorithm }],
    ['a negative token lifetime', { tokenLifetimeSeconds: -1 }],
    ['a fractional token lifetime', { tokenLifetimeSeconds: 1.5 }],
    ['a NaN token lifetime', { tokenLifetimeSeconds: Number.NaN }],
    ['a negative publish-ahead', { publishAheadSeconds: -1 }],
    ['a negative peer reload interval', { peerReloadSeconds: -1 }],
  ];
  for (const [name, options] of cases) t.throws(() => manager({ options }), { code: 'ERR_CONFIG_INVALID' }, name);
});

t.test('rotation without publish-ahead: the new key signs at once, the old one stays published until removeAfter', async (t) => {
  const { keys, store, clock } = manager();
  await keys.init();
  const old = keys.current().kid;
  t.same(kids(keys.published()), [old], 'before: one key published');

  clock.advance(HOUR);
  const rotatedAt = clock.now();
  const { kid } = await keys.rotate();
  t.not(kid, old);
  t.equal(keys.current().kid, kid, 'after: the new key signs');
  t.same(kids(keys.published()), [kid, old], 'after: both published, newest first');
  t.match(keys.published()[1], { kid: old, retiredAt: rotatedAt, removeAfter: rotatedAt + RETENTION });
  const stored = new Map((await store.listSigningKeys()).map((r) => [r.kid, r]));
  t.match(stored.get(old), { retiredAt: rotatedAt, removeAfter: rotatedAt + RETENTION }, 'the old key’s retirement is stored');
  t.match(stored.get(kid), { activatesAt: rotatedAt, retiredAt: null, removeAfter: null }, 'the new key is stored');

  const timeline: Array<[string, number, string[], number]> = [
    ['one ms before removeAfter: still published', rotatedAt + RETENTION - 1, [kid, old], 2],
    ['at removeAfter: gone from the JWKS and the store', rotatedAt + RETENTION, [kid], 1],
  ];
  for (const [name, at, published, stored] of timeline) {
    clock.set(at);
    t.same(kids(keys.published()), published, `${name} (published)`);
    t.same(
      keys.jwks().keys.map((k) => k.kid),
      published,
      `${name} (jwks)`,
    );
    await keys.reload();
    t.equal((await store.listSigningKeys()).length, stored, `${name} (store after reload)`);
    t.equal(keys.current().kid, kid);
  }
});

/** Both drivers: the hold is the store's answer, so it is exercised through each one's query. */
const DRIVERS: ReadonlyArray<[string, (t: Test) => Promise<TokenStore>]> = [
  ['memory', async () => createMemoryStore()],
  [
    'sqlite',
    async (t) => {
      const store = createSqliteStore({ path: ':memory:' });
      t.teardown(() => store.close());
      await store.migrate();
      return store;
    },
  ],
];

t.test('a retired key stays published while an access token it signed is live; revoking the last one removes it at the next reload', async (t) => {
  for (const [driver, makeStore] of DRIVERS) {
    const store = await makeStore(t);
    const { keys, clock, logs } = manager({ store });
    await keys.init();
    const old = keys.current().kid;
    await store.insertAccessToken(userAccessToken({ id: 'forever', kid: old, createdAt: clock.now() }));
    clock.advance(HOUR);
    const rotatedAt = clock.now();
    const { kid } = await keys.rotate();

    clock.set(rotatedAt + LIFETIME);
    await keys.reload();
    t.same(kids(keys.published()), [kid, old], `${driver}: past the JWT lifetime, the access token holds the old key`);
    t.match(keys.published()[1], { kid: old, removeAfter: null }, `${driver}: a held key has no removal time`);
    t.equal((await store.listSigningKeys()).length, 2, `${driver}: and stays in the store`);
    clock.advance(3650 * 24 * HOUR);
    t.same(kids(keys.published()), [kid, old], `${driver}: between reloads, time alone does not drop a held key`);
    await keys.reload();
    t.same(kids(keys.published()), [kid, old], `${driver}: nor ten years later: the token has no expiry`);

    await store.revokeAccessToken('forever', clock.now());
    t.same(kids(keys.published()), [kid, old], `${driver}: revoked: still published until the next reload`);
    await keys.reload();
    t.same(kids(keys.jwks().keys), [kid], `${driver}: gone from the JWKS at the next reload`);
    t.same(kids(await store.listSigningKeys()), [kid], `${driver}: and from the store`);
    t.ok(logs.entries().find((line) => line.msg === 'signing key removed' && line.kid === old), `${driver}: the removal is logged`);
  }
});

t.test('a held key stays published while the store cannot be read', async (t) => {
  const base = createMemoryStore();
  let failing = false;
  const store: SigningKeyStore = {
    ...base,
    listSigningKeys: () => (failing ? Promise.reject(new Error('store down')) : base.listSigningKeys()),
  };
  const { keys, clock } = manager({ store });
  await keys.init();
  const old = keys.current().kid;
  await base.insertAccessToken(userAccessToken({ kid: old, createdAt: clock.now() }));
  const { kid } = await keys.rotate();
  clock.advance(LIFETIME);
  await keys.reload();
  failing = true;
  clock.advance(LIFETIME);
  await t.rejects(keys.reload(), { message: 'store down' });
  t.same(kids(keys.published()), [kid, old], 'the store cannot say its access token was revoked: it stays');
});

t.test('the hold is per key and per live token: the JWT-lifetime rule still decides for everything else', async (t) => {
  const store = createMemoryStore();
  const { keys, clock } = manager({ store });
  await keys.init();
  const k0 = keys.current().kid;
  const expiresAt = clock.now() + 3 * LIFETIME;
  await store.insertAccessToken(userAccessToken({ id: 'a', kid: k0, createdAt: clock.now() }));
  await store.insertAccessToken(tenantAccessToken({ id: 'b', kid: k0, createdAt: clock.now(), expiresAt }));
  clock.advance(HOUR);
  const { kid: k1 } = await keys.rotate();
  const k1RetiredAt = clock.now() + HOUR;
  clock.set(k1RetiredAt);
  // k1 signs no access token: only the JWT lifetime keeps it.
  const { kid: k2 } = await keys.rotate();
  await store.revokeAccessToken('a', clock.now());

  const timeline: Array<[string, number, string[]]> = [
    ['one of two access tokens revoked: the other still holds k0', k1RetiredAt, [k2, k1, k0]],
    ['1 ms before k1’s removeAfter', k1RetiredAt + RETENTION - 1, [k2, k1, k0]],
    ['at k1’s removeAfter: k1 goes, k0 is still held', k1RetiredAt + RETENTION, [k2, k0]],
    ['1 ms before k0’s last access token expires', expiresAt - 1, [k2, k0]],
    ['it expired: k0 goes at this reload', expiresAt, [k2]],
  ];
  for (const [name, at, published] of timeline) {
    clock.set(at);
    await keys.reload();
    t.same(kids(keys.published()), published, name);
  }
});

t.test('an access token revoked within the JWT lifetime leaves its key to the JWT-lifetime rule', async (t) => {
  const store = createMemoryStore();
  const { keys, clock } = manager({ store });
  await keys.init();
  const old = keys.current().kid;
  await store.insertAccessToken(userAccessToken({ kid: old, createdAt: clock.now() }));
  const { kid } = await keys.rotate();
  const rotatedAt = clock.now();
  await store.revokeAccessToken('access-1', rotatedAt + 1);
  clock.set(rotatedAt + RETENTION - 1);
  await keys.reload();
  t.same(kids(keys.published()), [kid, old], 'JWTs it signed may still be live');
  t.match(keys.published()[1], { removeAfter: rotatedAt + RETENTION });
  clock.set(rotatedAt + RETENTION);
  await keys.reload();
  t.same(kids(keys.published()), [kid], 'removed at removeAfter');
});

t.test('an access token recorded without a kid holds every key that existed when it was created', async (t) => {
  for (const [driver, makeStore] of DRIVERS) {
    const store = await makeStore(t);
    const { keys, clock } = manager({ store });
    await keys.init();
    const k0 = keys.current().kid;
    clock.advance(HOUR);
    // From before the store kept kids: signed by k0, but nothing says so.
    await store.insertAccessToken(userAccessToken({ id: 'legacy', kid: null, createdAt: clock.now() }));
    clock.advance(HOUR);
    const { kid: k1 } = await keys.rotate();
    clock.advance(HOUR);
    const { kid: k2 } = await keys.rotate();
    clock.advance(LIFETIME + HOUR);
    await keys.reload();
    t.same(kids(keys.published()), [k2, k0], `${driver}: k0 existed when the token was made and is kept; k1 came later and is not`);
    await store.revokeAccessToken('legacy', clock.now());
    await keys.reload();
    t.same(kids(keys.published()), [k2], `${driver}: the token revoked: k0 goes too`);
    t.not(k1, k0);
  }
});

t.test('a kid-less token holds keys created up to the clock-skew margin after it, not later', async (t) => {
  const store = createMemoryStore();
  const { keys, clock } = manager({ store });
  await keys.init();
  const k0 = keys.current().kid;
  await store.insertAccessToken(userAccessToken({ id: 'legacy', kid: null, createdAt: clock.now() }));
  // Another host's clock may run ahead: a key a minute "younger" than the token may have signed it.
  clock.advance(60_000);
  const { kid: k1 } = await keys.rotate();
  clock.advance(10 * 60_000);
  const { kid: k2 } = await keys.rotate();
  clock.advance(60_000);
  const { kid: k3 } = await keys.rotate();
  clock.advance(LIFETIME + HOUR);
  await keys.reload();
  t.same(kids(keys.published()), [k3, k1, k0], 'k1 (a minute after the token) is held; k2 (eleven minutes after) is not');
  t.not(k2, k1);
});

t.test('a key another process retired stays published until what the serving process signed with it before its reload has expired', async (t) => {
  const serving = manager({ options: { algorithm: 'ES256' } });
  await serving.keys.init();
  const old = serving.keys.current().kid;
  // The CLI: the same store, keys and clock, another process.
  const cli = manager({ store: serving.store, encryption: serving.encryption, clock: serving.clock, options: { algorithm: 'ES256' } });
  await cli.keys.init();
  serving.clock.advance(HOUR);
  const rotatedAt = serving.clock.now();
  const rotation = await cli.keys.rotate();
  t.match(rotation, { alg: 'ES256', activatesAt: rotatedAt, retired: [{ kid: old, retiredAt: rotatedAt, removeAfter: rotatedAt + RETENTION }] }, 'rotate says what it did');

  // The serving process re-reads the store on its timer; until then it signs with the retired key.
  serving.clock.set(rotatedAt + RELOAD - 1);
  t.equal(serving.keys.current().kid, old, 'not reloaded yet: still signing with the retired key');
  const lastExpiry = serving.clock.now() + LIFETIME;
  t.ok(lastExpiry > rotatedAt + LIFETIME, 'that token outlives retiredAt + the token lifetime');
  serving.clock.set(rotatedAt + RELOAD);
  await serving.keys.reload();
  t.equal(serving.keys.current().kid, rotation.kid, 'after its reload it signs with the new key');

  serving.clock.set(lastExpiry - 1);
  for (const [name, keys] of [['serving process', serving.keys], ['CLI', cli.keys]] as const) {
    await keys.reload();
    t.ok(kids(keys.published()).includes(old), `${name}: the retired key is published while that token lives`);
  }
  serving.clock.set(rotatedAt + RETENTION);
  await serving.keys.reload();
  t.same(kids(serving.keys.published()), [rotation.kid], 'then it goes');
});

t.test('rotation with publish-ahead: the new key is published first and signs from activatesAt', async (t) => {
  const ahead = 600;
  const { keys, clock } = manager({ options: { publishAheadSeconds: ahead } });
  await keys.init();
  const old = keys.current().kid;
  t.equal(keys.current().activatesAt, clock.now(), 'the very first key signs at once: nothing else could');

  clock.advance(HOUR);
  const rotatedAt = clock.now();
  const activatesAt = rotatedAt + ahead * 1000;
  const { kid } = await keys.rotate();
  const timeline: Array<[string, number, string, string[]]> = [
    ['right after rotate: published, the old key still signs', rotatedAt, old, [kid, old]],
    ['1 ms before activatesAt', activatesAt - 1, old, [kid, old]],
    ['at activatesAt: the new key signs', activatesAt, kid, [kid, old]],
    ['1 ms before the old key’s removeAfter', activatesAt + RETENTION - 1, kid, [kid, old]],
    ['at removeAfter: the old key is gone', activatesAt + RETENTION, kid, [kid]],
  ];
  for (const [name, at, signing, published] of timeline) {
    clock.set(at);
    await keys.reload();
    t.equal(keys.current().kid, signing, `${name}: signs with the expected key`);
    t.same(kids(keys.published()), published, `${name}: published`);
  }
});

t.test('rotating again before the pending key activates retires it too; one key is ever current', async (t) => {
  const { keys, clock } = manager({ options: { publishAheadSeconds: 600 } });
  await keys.init();
  const k0 = keys.current().kid;
  const { kid: k1 } = await keys.rotate();
  clock.advance(60_000);
  const { kid: k2 } = await keys.rotate();
  const byKid = new Map(keys.published().map((k) => [k.kid, k]));
  t.equal(byKid.get(k1)!.retiredAt, byKid.get(k2)!.activatesAt, 'the pending key retires when its successor activates');
  t.equal(keys.current().kid, k0, 'the first key signs until a successor activates');
  clock.set(byKid.get(k1)!.activatesAt);
  t.equal(keys.current().kid, k1, 'the first successor signs in between');
  clock.set(byKid.get(k2)!.activatesAt);
  t.equal(keys.current().kid, k2);
  t.same(
    keys.published().filter((k) => k.retiredAt === null).map((k) => k.kid),
    [k2],
    'exactly one key not retired',
  );
});

t.test('concurrent rotations in one manager run one after the other', async (t) => {
  const { keys, store } = manager({ options: { algorithm: 'ES256' } });
  await keys.init();
  const results = await Promise.all([keys.rotate(), keys.rotate(), keys.rotate()]);
  t.equal(new Set(results.map((r) => r.kid)).size, 3);
  const live = (await store.listSigningKeys()).filter((r) => r.retiredAt === null);
  t.same(
    live.map((r) => r.kid),
    [results[2]!.kid],
    'only the last rotation’s key is not retired',
  );
  t.equal(keys.current().kid, results[2]!.kid);
});

t.test('another process’s rotation is seen after reload; simultaneous rotations converge', async (t) => {
  const a = manager({ options: { algorithm: 'EdDSA' } });
  await a.keys.init();
  const b = manager({ store: a.store, encryption: a.encryption, clock: a.clock, options: { algorithm: 'EdDSA' } });
  await b.keys.init();
  a.clock.advance(1000);
  const { kid } = await b.keys.rotate();
  t.not(a.keys.current().kid, kid, 'not before reload');
  await a.keys.reload();
  t.equal(a.keys.current().kid, kid, 'after reload');

  a.clock.advance(1000);
  const [fromA, fromB] = await Promise.all([a.keys.rotate(), b.keys.rotate()]);
  await Promise.all([a.keys.reload(), b.keys.reload()]);
  t.equal(a.keys.current().kid, b.keys.current().kid, 'both processes sign with the same key');
  t.ok([fromA.kid, fromB.kid].includes(a.keys.current().kid));
  a.clock.advance(1000);
  const { kid: last } = await a.keys.rotate();
  t.same(
    (await a.store.listSigningKeys()).filter((r) => r.retiredAt === null).map((r) => r.kid),
    [last],
    'the next rotation retires the stray',
  );
});

t.test('a changed algorithm rotates at start; the old keys retire like any rotation', async (t) => {
  const rsa = manager({ options: { algorithm: 'RS256' } });
  await rsa.keys.init();
  const rsaKid = rsa.keys.current().kid;
  const rsaPem = rsa.keys.publicKeyPem();
  rsa.clock.advance(HOUR);
  const ec = manager({ store: rsa.store, encryption: rsa.encryption, clock: rsa.clock, options: { algorithm: 'ES256' } });
  await ec.keys.init();
  t.equal(ec.keys.current().alg, 'ES256');
  t.same(
    ec.keys.published().map((k) => k.alg),
    ['ES256', 'RS256'],
  );
  t.equal(ec.keys.publicKeyPem(), rsaPem, 'Frontegg’s publicKey stays the RSA key while it is published');
  t.match(ec.keys.published()[1], { kid: rsaKid, retiredAt: rsa.clock.now() });
  rsa.clock.advance(RETENTION);
  await ec.keys.reload();
  t.throws(() => ec.keys.publicKeyPem(), { code: 'ERR_KEYS_NO_RSA_KEY' }, 'no RSA key left: said so by code');
});

t.test('publicKeyPem is the current RS256 key as SPKI PEM; no RSA key is an error by code', async (t) => {
  const { keys } = manager();
  await keys.init();
  const pem = keys.publicKeyPem();
  t.match(pem, /^-----BEGIN PUBLIC KEY-----\n/);
  const fromJwk = createPublicKey({ key: keys.jwks().keys[0]! as never, format: 'jwk' });
  t.equal(pem, fromJwk.export({ type: 'spki', format: 'pem' }));
  await keys.rotate();
  t.equal(createPublicKey(keys.publicKeyPem()).export({ format: 'jwk' }).n, keys.current().jwk.n, 'follows the rotation');
  t.equal(keys.jwks().keys[0]!.kid, keys.current().kid, 'a rotation within one millisecond still lists the new key first');

  for (const algorithm of ['ES256', 'EdDSA'] as const) {
    const other = manager({ options: { algorithm } });
    await other.keys.init();
    t.throws(() => other.keys.publicKeyPem(), { code: 'ERR_KEYS_NO_RSA_KEY' }, algorithm);
  }
});

t.test('a longer configured token lifetime keeps retired keys published longer', async (t) => {
  const first = manager();
  await first.keys.init();
  const old = first.keys.current().kid;
  await first.keys.rotate();
  const rotatedAt = first.clock.now();
  const longer = manager({ store: first.store, encryption: first.encryption, clock: first.clock, options: { tokenLifetimeSeconds: 2 * LIFETIME_SECONDS } });
  await longer.keys.init();
  first.clock.set(rotatedAt + RETENTION);
  await longer.keys.reload();
  t.ok(kids(longer.keys.published()).includes(old), 'still published at the stored removeAfter');
  first.clock.set(rotatedAt + 2 * LIFETIME + RELOAD);
  await longer.keys.reload();
  t.notOk(kids(longer.keys.published()).includes(old), 'removed at retiredAt + the new lifetime');
});

t.test('the store never sees private key material in clear, and neither do the logs', async (t) => {
  for (const algorithm of SIGNING_ALGORITHMS) {
    const { keys, store, logs } = manager({ options: { algorithm } });
    await keys.init();
    const privates = [keys.current().privateKey];
    await keys.rotate();
    privates.push(keys.current().privateKey);
    await keys.rotate();
    privates.push(keys.current().privateKey);
    const secrets = privateScalars(privates);
    const records = await store.listSigningKeys();
    t.equal(records.length, 3);
    for (const record of records) {
      const json = JSON.stringify(record);
      t.notMatch(json, /-----BEGIN/, `${algorithm}: no PEM in the record`);
      t.notOk(Object.hasOwn(record.publicJwk, 'd'), `${algorithm}: no "d" in the stored JWK`);
      t.notMatch(json, /"d"\s*:/, `${algorithm}: no "d" member anywhere`);
      t.notOk(
        secrets.some((s) => json.includes(s)),
        `${algorithm}: no private scalar in the record`,
      );
    }
    const logged = logs.lines().join('\n');
    t.notMatch(logged, /-----BEGIN/, `${algorithm}: no PEM logged`);
    t.notOk(
      secrets.some((s) => logged.includes(s)),
      `${algorithm}: no private scalar logged`,
    );
    t.notMatch(JSON.stringify(keys.published()) + JSON.stringify(keys.jwks()), /"d"|-----BEGIN/, `${algorithm}: nothing private published`);
  }
});

t.test('a record that is not what we stored stops init, by code', async (t) => {
  const source = manager({ options: { algorithm: 'ES256' } });
  await source.keys.init();
  await source.keys.rotate();
  const [a, b] = await source.store.listSigningKeys();
  const other = manager({ options: { algorithm: 'ES256' } });
  await other.keys.init();
  const foreignJwk = (await other.store.listSigningKeys())[0]!.publicJwk;
  const pem = source.keys.current().privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const rsaPem = (await (async () => {
    const r = manager();
    await r.keys.init();
    return r.keys.current().privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  })());
  const current = source.keys.current();
  const currentRecord = [a!, b!].find((r) => r.kid === current.kid)!;

  const cases: Array<[string, (r: SigningKeyRecord) => SigningKeyRecord, string]> = [
    ['sealed under another key-encryption key', (r) => ({ ...r, privateKeyEnvelope: createKeyEncryption(randomBytes(32)).seal(pem, r.kid) }), 'ERR_KEYS_DECRYPT_FAILED'],
    ['an envelope moved from another record', (r) => ({ ...r, privateKeyEnvelope: [a!, b!].find((x) => x.kid !== r.kid)!.privateKeyEnvelope }), 'ERR_KEYS_DECRYPT_FAILED'],
    ['a damaged envelope', (r) => ({ ...r, privateKeyEnvelope: `${r.privateKeyEnvelope.slice(0, -2)}AA` }), 'ERR_KEYS_DECRYPT_FAILED'],
    ['a public JWK of another key', (r) => ({ ...r, publicJwk: { ...foreignJwk, kid: r.kid } }), 'ERR_KEYS_RECORD_INVALID'],
    ['a public JWK with an extra member', (r) => ({ ...r, publicJwk: { ...r.publicJwk, x5u: 'https://evil.test' } }), 'ERR_KEYS_RECORD_INVALID'],
    ['a public JWK carrying "d"', (r) => ({ ...r, publicJwk: { ...r.publicJwk, d: 'AAAA' } }), 'ERR_KEYS_RECORD_INVALID'],
    ['a kid that is not the thumbprint', (r) => ({ ...r, kid: 'chosen-kid', publicJwk: { ...r.publicJwk, kid: 'chosen-kid' }, privateKeyEnvelope: source.encryption.seal(pem, 'chosen-kid') }), 'ERR_KEYS_RECORD_INVALID'],
    ['an RSA key under alg ES256', (r) => ({ ...r, privateKeyEnvelope: source.encryption.seal(rsaPem, r.kid) }), 'ERR_KEYS_RECORD_INVALID'],
    ['an alg we do not sign with', (r) => ({ ...r, alg: 'HS256' }), 'ERR_KEYS_RECORD_INVALID'],
    ['a plaintext that is not a key', (r) => ({ ...r, privateKeyEnvelope: source.encryption.seal('not a key', r.kid) }), 'ERR_KEYS_RECORD_INVALID'],
    ['a bad activatesAt', (r) => ({ ...r, activatesAt: Number.NaN }), 'ERR_KEYS_RECORD_INVALID'],
  ];
  for (const [name, tamper, code] of cases) {
    const store = createMemoryStore();
    for (const record of [a!, b!]) await store.insertSigningKey(record.kid === currentRecord.kid ? tamper(record) : record);
    const { keys } = manager({ store, encryption: source.encryption, clock: source.clock, options: { algorithm: 'ES256' } });
    await t.rejects(keys.init(), { code }, name);
    t.equal((await store.listSigningKeys()).length, 2, `${name}: nothing generated in its place`);
  }
});

t.test('a failed reload keeps the keys in memory', async (t) => {
  const base = createMemoryStore();
  let failing = false;
  const store: SigningKeyStore = {
    ...base,
    listSigningKeys: () => (failing ? Promise.reject(new Error('store down')) : base.listSigningKeys()),
  };
  const { keys } = manager({ store });
  await keys.init();
  const kid = keys.current().kid;
  failing = true;
  await t.rejects(keys.reload(), { message: 'store down' });
  t.equal(keys.current().kid, kid);
  failing = false;
  await keys.reload();
  t.equal(keys.current().kid, kid, 'and reloads when the store is back');
});
