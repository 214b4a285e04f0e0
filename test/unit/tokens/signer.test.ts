import { KeyObject, randomBytes } from 'node:crypto';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import t from 'tap';
import { pino } from 'pino';
import { createManualClock } from '../../../src/clock.js';
import { createMemoryStore } from '../../../src/store/memory.js';
import { createKeyEncryption } from '../../../src/tokens/key-encryption.js';
import { createKeyManager, SIGNING_ALGORITHMS, type SigningAlgorithm } from '../../../src/tokens/keys.js';
import { createJwtSigner } from '../../../src/tokens/signer.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A started key manager and its signer, on a manual clock that is not on a whole second. */
async function signerFor(algorithm: SigningAlgorithm) {
  const clock = createManualClock(Date.UTC(2026, 0, 1) + 987);
  const keys = createKeyManager(
    { algorithm, tokenLifetimeSeconds: 3600 },
    { store: createMemoryStore(), encryption: createKeyEncryption(randomBytes(32)), clock, log: pino({ level: 'silent' }) },
  );
  await keys.init();
  return { clock, keys, signer: createJwtSigner({ keys, clock }) };
}

/** Verifies with jose (independent of fast-jwt) against the manager's JWKS, at the manual clock's time. */
function verifyWithJose(token: string, jwks: { keys: unknown[] }, nowMs: number) {
  return jwtVerify(token, createLocalJWKSet(jwks as JSONWebKeySet), { currentDate: new Date(nowMs) });
}

t.test('tokens of every algorithm verify with jose against the published JWKS', async (t) => {
  for (const algorithm of SIGNING_ALGORITHMS) {
    const { clock, keys, signer } = await signerFor(algorithm);
    const claims = { iss: 'https://gateway.test', aud: 'api', sub: 'client-1', type: 'userApiToken', roles: ['admin'], metadata: { a: 1 } };
    const signed = await signer.sign(claims, { expiresInSeconds: 300 });
    const iat = Math.floor(clock.now() / 1000);
    const { payload, protectedHeader } = await verifyWithJose(signed.token, keys.jwks(), clock.now());
    t.same(protectedHeader, { alg: algorithm, typ: 'JWT', kid: keys.current().kid }, `${algorithm}: header is exactly alg, typ, kid`);
    t.same(payload, { ...claims, iat, exp: iat + 300, jti: signed.jti }, `${algorithm}: claims, iat, exp, jti`);
    t.match(signed, { kid: keys.current().kid, issuedAt: iat, expiresAt: iat + 300, jti: UUID }, `${algorithm}: what sign() reports`);
  }
});

t.test('iat, exp and jti follow the rules whatever the claims say', async (t) => {
  const { clock, keys, signer } = await signerFor('ES256');
  const iat = Math.floor(clock.now() / 1000);
  const cases: Array<[string, Record<string, unknown>, number | null, Record<string, unknown>]> = [
    ['no expiry: no exp claim', { sub: 'a' }, null, { sub: 'a', iat }],
    ['no expiry drops an exp from the claims', { sub: 'a', exp: iat + 10 }, null, { sub: 'a', iat }],
    ['expiresInSeconds wins over an exp in the claims', { exp: iat + 10 }, 60, { iat, exp: iat + 60 }],
    ['iat comes from the injected clock, not the claims', { iat: 5 }, 60, { iat, exp: iat + 60 }],
    ['a jti in the claims is kept', { jti: 'chosen-id' }, 60, { iat, exp: iat + 60, jti: 'chosen-id' }],
  ];
  for (const [name, claims, expiresInSeconds, expected] of cases) {
    const signed = await signer.sign(claims, { expiresInSeconds });
    const { payload } = await verifyWithJose(signed.token, keys.jwks(), clock.now());
    const { jti, ...rest } = payload;
    t.same({ ...rest, ...(expected.jti === undefined ? {} : { jti }) }, expected, name);
    t.equal(signed.jti, jti, `${name}: reported jti`);
    if (expected.jti === undefined) t.match(jti, UUID, `${name}: a random UUID jti`);
    t.equal(signed.expiresAt, expected.exp ?? null, `${name}: reported expiresAt`);
  }
  const jtis = new Set(await Promise.all(Array.from({ length: 50 }, async () => (await signer.sign({}, { expiresInSeconds: 60 })).jti)));
  t.equal(jtis.size, 50, 'a fresh jti per token');
  t.same((await signer.sign({ jti: '' }, { expiresInSeconds: 60 })).jti.length, 36, 'an empty jti is replaced');
});

t.test('a lifetime that is not whole positive seconds is refused', async (t) => {
  const { signer } = await signerFor('EdDSA');
  for (const expiresInSeconds of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    await t.rejects(signer.sign({}, { expiresInSeconds }), RangeError, String(expiresInSeconds));
  }
});

t.test('after a rotation the new key signs, and tokens of the old key still verify', async (t) => {
  const { clock, keys, signer } = await signerFor('RS256');
  const before = await signer.sign({ sub: 'a' }, { expiresInSeconds: 60 });
  const { kid } = await keys.rotate();
  const after = await signer.sign({ sub: 'a' }, { expiresInSeconds: 60 });
  t.equal(after.kid, kid);
  t.equal(decodeProtectedHeader(after.token).kid, kid);
  t.not(before.kid, kid);
  for (const token of [before.token, after.token]) await t.resolves(verifyWithJose(token, keys.jwks(), clock.now()));
});

t.test('no per-call key work: the key is exported for fast-jwt once per key, not once per token', async (t) => {
  for (const algorithm of SIGNING_ALGORITHMS) {
    const { keys, signer } = await signerFor(algorithm);
    // Count every private-key export (PEM/DER/JWK), the step that would precede any per-call parsing.
    const prototype = Object.getPrototypeOf(keys.current().privateKey) as KeyObject;
    const original = prototype.export;
    let exports = 0;
    prototype.export = function (this: KeyObject, ...args: unknown[]) {
      exports++;
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof original;
    try {
      for (let i = 0; i < 200; i++) await signer.sign({ sub: 'a', i }, { expiresInSeconds: 60 });
      t.equal(exports, 1, `${algorithm}: one export for 200 tokens`);
      await keys.reload();
      for (let i = 0; i < 50; i++) await signer.sign({ sub: 'a', i }, { expiresInSeconds: 60 });
      t.equal(exports, 1, `${algorithm}: a reload that changes nothing rebuilds nothing`);
      await keys.rotate();
      exports = 0;
      for (let i = 0; i < 50; i++) await signer.sign({ sub: 'a', i }, { expiresInSeconds: 60 });
      t.equal(exports, 1, `${algorithm}: a new key is prepared once`);
    } finally {
      prototype.export = original;
    }
  }
});

t.test('signing before the keys are loaded fails by code', async (t) => {
  const clock = createManualClock();
  const keys = createKeyManager(
    { algorithm: 'ES256', tokenLifetimeSeconds: 60 },
    { store: createMemoryStore(), encryption: createKeyEncryption(randomBytes(32)), clock, log: pino({ level: 'silent' }) },
  );
  await t.rejects(createJwtSigner({ keys, clock }).sign({}, { expiresInSeconds: 60 }), { code: 'ERR_KEYS_NOT_LOADED' });
});

t.test('the payload is byte for byte the JSON of the claims followed by iat, exp and jti', async (t) => {
  const { clock, signer } = await signerFor('EdDSA');
  const iat = Math.floor(clock.now() / 1000);
  const cases: Array<[string, Record<string, unknown>, number | null]> = [
    ['the exchange claims', { iss: 'https://g.test', sub: 'c', tenantId: 't', createdByUserId: null, metadata: {}, roles: [], permissions: ['a.b'], sid: 'f' }, 60],
    ['no expiry', { sub: 'a', metadata: { nested: { list: [1, 'two', null] } } }, null],
    ['undefined members are dropped', { sub: 'a', userId: undefined }, 60],
    ['non-ASCII and escapes', { sub: 'ü\u2028"\\', description: '日本' }, 60],
    ['integer-like keys first', { b: 1, 2: 'two', a: 3 }, 60],
    ['no claims at all', {}, 60],
    ['a claim named like a signer member', { sub: 'a', iat: 1, exp: 2 }, 60],
  ];
  for (const [name, claims, expiresInSeconds] of cases) {
    const signed = await signer.sign(claims, { expiresInSeconds });
    const text = Buffer.from(signed.token.split('.')[1]!, 'base64url').toString('utf8');
    const exp = expiresInSeconds === null ? undefined : iat + expiresInSeconds;
    t.equal(text, JSON.stringify({ ...claims, iat, exp, jti: signed.jti }), name);
  }
});

t.test('RS256 signs on the thread pool, ES256 and EdDSA on the event loop', async (t) => {
  const crypto = await import('node:crypto');
  const calls: { algorithm: SigningAlgorithm; onPool: boolean }[] = [];
  let current: SigningAlgorithm = 'RS256';
  // crypto.sign with a callback runs on libuv's thread pool (Node docs); without one, on the caller's thread.
  const sign = ((...args: Parameters<typeof crypto.sign>) => {
    calls.push({ algorithm: current, onPool: typeof args[3] === 'function' });
    return (crypto.sign as (...a: unknown[]) => unknown)(...args);
  }) as typeof crypto.sign;
  const { createJwtSigner: createMockedSigner } = await t.mockImport<typeof import('../../../src/tokens/signer.js')>('../../../src/tokens/signer.js', {
    'node:crypto': { ...crypto, sign },
  });
  for (const algorithm of SIGNING_ALGORITHMS) {
    current = algorithm;
    const { keys, clock } = await signerFor(algorithm);
    const signed = await createMockedSigner({ keys, clock }).sign({ sub: 'client-1' }, { expiresInSeconds: 60 });
    await verifyWithJose(signed.token, keys.jwks(), clock.now());
  }
  t.same(
    calls,
    SIGNING_ALGORITHMS.map((algorithm) => ({ algorithm, onPool: algorithm === 'RS256' })),
    'one signature each, only RS256 handed to the pool',
  );
});
