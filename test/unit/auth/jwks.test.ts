import { generateKeyPairSync, type JsonWebKey } from 'node:crypto';
import t from 'tap';
import { diffKeySets, MAX_KEYS_PER_SET, parseJwks } from '../../../src/auth/jwks.js';
import type { Algorithm } from '../../../src/config/schema.js';
import type { CompiledIssuer } from '../../../src/config/types.js';

function issuer(algorithms: Algorithm[]): CompiledIssuer {
  return Object.freeze<CompiledIssuer>({
    name: 'main',
    issuer: 'https://issuer.test',
    audiences: ['aud'],
    algorithms,
    jwks: { kind: 'file', file: '/dev/null' },
  });
}

const ALL: Algorithm[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const EVERY = issuer(ALL);

const rsaPair = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsa = rsaPair.publicKey.export({ format: 'jwk' });
const rsaPrivate = rsaPair.privateKey.export({ format: 'jwk' });
const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'jwk' });
const p521 = generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey.export({ format: 'jwk' });
const k256 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey.export({ format: 'jwk' });
const ed25519 = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });
const ed448 = generateKeyPairSync('ed448').publicKey.export({ format: 'jwk' });
const x25519 = generateKeyPairSync('x25519').publicKey.export({ format: 'jwk' });

const set = (...keys: unknown[]) => JSON.stringify({ keys });
const key = (jwk: JsonWebKey, extra: Record<string, unknown> = {}) => ({ ...jwk, kid: 'k1', use: 'sig', ...extra });

t.test('valid sets parse, with the algorithm declared or implied by the key', async (t) => {
  const cases: Array<[string, string, CompiledIssuer, Algorithm]> = [
    ['an RSA key with alg RS256', set(key(rsa, { alg: 'RS256' })), EVERY, 'RS256'],
    ['an RSA key with alg PS384', set(key(rsa, { alg: 'PS384' })), EVERY, 'PS384'],
    ['an RSA key without alg when the issuer allows one RSA algorithm', set(key(rsa)), issuer(['RS256', 'ES256']), 'RS256'],
    ['a P-256 key without alg', set(key(p256)), EVERY, 'ES256'],
    ['a P-384 key with ES384', set(key(p384, { alg: 'ES384' })), EVERY, 'ES384'],
    ['a P-521 key with ES512', set(key(p521, { alg: 'ES512' })), EVERY, 'ES512'],
    ['an Ed25519 key without alg', set(key(ed25519)), EVERY, 'EdDSA'],
    ['a key without use', set({ ...rsa, kid: 'k1', alg: 'RS256' }), EVERY, 'RS256'],
    ['a key with key_ops ["verify"]', set(key(rsa, { alg: 'RS256', key_ops: ['verify'] })), EVERY, 'RS256'],
    ['a key with unknown extra members (x5c, x5t)', set(key(rsa, { alg: 'RS256', x5c: ['MIIB'], x5t: 'abc' })), EVERY, 'RS256'],
  ];
  for (const [name, text, iss, alg] of cases) {
    const result = parseJwks(text, iss);
    t.ok(result.ok, name);
    if (result.ok) {
      t.equal(result.keys.get('k1')?.alg, alg, `${name}: alg`);
      t.equal(result.keys.get('k1')?.issuer, iss, `${name}: bound to its issuer`);
      t.ok(Object.isFrozen(result.keys.get('k1')), `${name}: frozen`);
    }
  }
});

t.test('any invalid key rejects the whole set, with a reason that names no key material', async (t) => {
  const good = key(rsa, { alg: 'RS256', kid: 'good' });
  const cases: Array<[string, string, CompiledIssuer?]> = [
    ['text that is not JSON', '{"keys": ['],
    ['a JSON array', '[]'],
    ['null', 'null'],
    ['an object without keys', '{}'],
    ['keys that is not an array', '{"keys": {}}'],
    ['an empty keys array', '{"keys": []}'],
    ['more keys than the cap', set(...Array.from({ length: MAX_KEYS_PER_SET + 1 }, (_, i) => key(p256, { kid: `k${i}` })))],
    ['a key that is a string', set(good, 'key')],
    ['a key that is null', set(good, null)],
    ['a key that is an array', set(good, [])],
    ['a symmetric (oct) key', set(good, { kty: 'oct', k: 'c2VjcmV0', kid: 'hs', alg: 'HS256' })],
    ['kty missing', set(good, { ...p256, kty: undefined, kid: 'x' })],
    ['kty in lower case', set(good, key(rsa, { kty: 'rsa', kid: 'x' }))],
    ['an RSA private key (d, p, q, dp, dq, qi)', set(good, key(rsaPrivate, { alg: 'RS256', kid: 'x' }))],
    ...(['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'] as const).map(
      (m): [string, string] => [`a public key carrying "${m}"`, set(good, key(rsa, { alg: 'RS256', kid: 'x', [m]: 'AQAB' }))],
    ),
    ['use: enc', set(good, key(rsa, { alg: 'RS256', kid: 'x', use: 'enc' }))],
    ['key_ops without verify', set(good, key(rsa, { alg: 'RS256', kid: 'x', key_ops: ['encrypt'] }))],
    ['kid missing', set(good, { ...rsa, alg: 'RS256' })],
    ['kid empty', set(good, key(rsa, { alg: 'RS256', kid: '' }))],
    ['kid a number', set(good, key(rsa, { alg: 'RS256', kid: 1 }))],
    ['kid over 256 characters', set(good, key(rsa, { alg: 'RS256', kid: 'k'.repeat(257) }))],
    ['a duplicate kid', set(good, key(p256, { kid: 'good' }))],
    ['an RSA key with alg ES256', set(key(rsa, { alg: 'ES256' }))],
    ['an RSA key with alg HS256', set(key(rsa, { alg: 'HS256' }))],
    ['an RSA key with alg none', set(key(rsa, { alg: 'none' }))],
    ['a P-256 key with alg ES384', set(key(p256, { alg: 'ES384' }))],
    ['a P-256 key with alg RS256', set(key(p256, { alg: 'RS256' }))],
    ['an Ed25519 key with alg RS256', set(key(ed25519, { alg: 'RS256' }))],
    ['alg that is not a string', set(key(rsa, { alg: ['RS256'] }))],
    ['an alg fitting the key but not allowed for the issuer', set(key(rsa, { alg: 'RS512' })), issuer(['RS256'])],
    ['an EC key whose implied alg is not allowed', set(key(p256)), issuer(['RS256'])],
    ['an RSA key without alg when the issuer allows several RSA algorithms', set(key(rsa)), issuer(['RS256', 'PS256'])],
    ['an RSA key without alg when the issuer allows no RSA algorithm', set(key(rsa)), issuer(['ES256'])],
    ['an RSA modulus of 1024 bits', set(key(rsa1024, { alg: 'RS256' }))],
    ['an RSA key whose n is not a string', set(key(rsa, { alg: 'RS256', n: 12345 }))],
    ['an RSA key whose e is missing', set(key({ ...rsa, e: undefined }, { alg: 'RS256' }))],
    ['a secp256k1 key', set(key(k256))],
    ['an EC key whose point is not on the curve', set(key({ ...p256, y: p256.x }))],
    ['an EC key without crv', set(key({ ...p256, crv: undefined }))],
    ['an Ed448 key', set(key(ed448))],
    ['an X25519 (key agreement) key', set(key(x25519))],
  ];
  for (const [name, text, iss] of cases) {
    const result = parseJwks(text, iss ?? EVERY);
    t.notOk(result.ok, name);
    if (!result.ok) {
      t.type(result.reason, 'string', `${name}: reason`);
      t.notMatch(result.reason, rsa.n!.slice(0, 16), `${name}: no key material in the reason`);
    }
  }
});

t.test('kids live in a Map, so prototype names are ordinary keys', async (t) => {
  const result = parseJwks(set(key(p256, { kid: '__proto__' })), EVERY);
  t.ok(result.ok);
  if (!result.ok) return;
  t.equal(result.keys.get('__proto__')?.kid, '__proto__');
  t.equal(result.keys.get('constructor'), undefined);
  t.equal(result.keys.get('toString'), undefined);
});

t.test('a reload reuses the prepared key (and its verifier) of an identical key', async (t) => {
  const text = set(key(rsa, { alg: 'RS256', kid: 'a' }), key(p256, { kid: 'b' }));
  const first = parseJwks(text, EVERY);
  const second = parseJwks(text, EVERY, first.ok ? first.keys : undefined);
  t.ok(first.ok && second.ok);
  if (!first.ok || !second.ok) return;
  t.equal(second.keys.get('a'), first.keys.get('a'), 'same object for the same key');
  t.same(diffKeySets(first.keys, second.keys), { added: [], removed: [] });

  const rotated = parseJwks(set(key(rsa, { alg: 'RS256', kid: 'a' }), key(p384, { kid: 'b' })), EVERY, second.keys);
  t.ok(rotated.ok);
  if (!rotated.ok) return;
  t.equal(rotated.keys.get('a'), second.keys.get('a'));
  t.not(rotated.keys.get('b'), second.keys.get('b'), 'new material under an old kid is a new key');
  t.same(diffKeySets(second.keys, rotated.keys), { added: ['b'], removed: ['b'] });

  const sameKeyOtherAlg = parseJwks(set(key(rsa, { alg: 'PS256', kid: 'a' })), EVERY, rotated.keys);
  t.ok(sameKeyOtherAlg.ok);
  if (!sameKeyOtherAlg.ok) return;
  t.not(sameKeyOtherAlg.keys.get('a'), rotated.keys.get('a'), 'a changed alg is a new key');
  t.equal(sameKeyOtherAlg.keys.get('a')?.thumbprint, rotated.keys.get('a')?.thumbprint, 'same RFC 7638 thumbprint');
  t.same(diffKeySets(rotated.keys, sameKeyOtherAlg.keys), { added: ['a'], removed: ['a', 'b'] });
  t.same(diffKeySets(undefined, sameKeyOtherAlg.keys), { added: ['a'], removed: [] });
  t.same(diffKeySets(sameKeyOtherAlg.keys, undefined), { added: [], removed: ['a'] });
});

t.test('the thumbprint is the RFC 7638 one', async (t) => {
  // RFC 7638 §3.1 example key and its thumbprint.
  const n =
    '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw';
  const result = parseJwks(set({ kty: 'RSA', n, e: 'AQAB', alg: 'RS256', kid: '2011-04-29' }), EVERY);
  t.ok(result.ok);
  if (result.ok) t.equal(result.keys.get('2011-04-29')?.thumbprint, 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
});
