/**
 * Security cases 50 (and the JWKS half of 49): a JWKS reload that fails — malformed file,
 * duplicate kid, private key material, `use: enc`, a mismatched `alg`, a short RSA modulus, a
 * symmetric key — keeps the last good set: never accept-all, never an empty set. A rotated-out
 * kid is refused after removal; a new kid is accepted without restart.
 */
import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import t from 'tap';
import { counterValue, createAuthHarness, tokensInLogs } from '../helpers/auth-harness.js';
import { createTestIssuer, mintToken, writeJwksFile } from '../helpers/tokens.js';

t.test('a bad reload keeps the last good set', async (t) => {
  const h = await createAuthHarness(t);
  const issuer = h.issuers[0]!;
  const token = await mintToken(issuer, { nowMs: h.clock.now() });
  t.equal(await h.outcome('bearer', token), 'OK');
  const rsaPrivate = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const bad: Array<[string, object | string]> = [
    ['malformed JSON', '{"keys": [ {"kty": "RSA"'],
    ['not UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('latin1')],
    ['a duplicate kid', { keys: [issuer.jwk, issuer.jwk] }],
    ['private key material', { keys: [{ ...rsaPrivate, kid: issuer.kid, alg: 'RS256' }] }],
    ['a key with use: enc', { keys: [{ ...issuer.jwk, use: 'enc' }] }],
    ['a key with a mismatched alg', { keys: [{ ...issuer.jwk, alg: 'ES256' }] }],
    ['an empty set', { keys: [] }],
    ['an RSA key of 1024 bits', { keys: [issuer.jwk, { ...generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }), kid: 'short', alg: 'RS256' }] }],
    ['a symmetric key', { keys: [issuer.jwk, { kty: 'oct', k: 'c2VjcmV0', kid: 'hs' }] }],
    ['a JSON array', [issuer.jwk]],
  ];
  for (const [name, content] of bad) {
    if (name === 'not UTF-8') await writeFile(h.jwksPaths[0]!, Buffer.from([0x7b, 0xff, 0xfe, 0x7d]));
    else await writeJwksFile(h.jwksPaths[0]!, content);
    t.equal(await h.sources[0]!.refresh(), false, `${name}: reload refused`);
    t.ok(h.authenticator.ready(), `${name}: still ready`);
    h.clock.advance(1);
    t.equal(await h.outcome('bearer', await mintToken(issuer, { nowMs: h.clock.now() })), 'OK', `${name}: a fresh token still verifies`);
  }
  t.equal(await counterValue(h.metrics.jwksFetches, { issuer: issuer.name, result: 'invalid' }), bad.length);
  const warnings = h.logs.entries().filter((e) => e['msg'] === 'JWKS file not loaded');
  t.ok(warnings.length >= 1, 'a warning with the reason');
  t.ok(warnings.every((w) => typeof w['reason'] === 'string' && w['keptLastGoodSet'] === true));
  t.notOk(h.logs.lines().some((l) => l.includes(String(rsaPrivate.d)) || l.includes(String(issuer.jwk.n))), 'no key material logged');
  t.same(tokensInLogs(h.logs, [token]), []);
});

t.test('a new kid is accepted after a reload, without restart', async (t) => {
  const h = await createAuthHarness(t);
  const old = h.issuers[0]!;
  const next = await createTestIssuer({ name: old.name, kid: 'kid-next' });
  const token = await mintToken(next, { nowMs: h.clock.now() });
  t.equal(await h.outcome('bearer', token), 'ERR_AUTH_KID_UNKNOWN');
  await writeJwksFile(h.jwksPaths[0]!, { keys: [old.jwk, next.jwk] });
  t.equal(await h.sources[0]!.refresh(), true);
  t.equal(await h.outcome('bearer', token), 'OK', 'accepted (the negative cache was cleared on the change)');
  t.equal(await h.outcome('bearer', await mintToken(old, { nowMs: h.clock.now() })), 'OK', 'the old key still works');
});

t.test('a removed kid is refused at once, even when its token was cached (cases 11, 50)', async (t) => {
  const h = await createAuthHarness(t);
  const old = h.issuers[0]!;
  const next = await createTestIssuer({ name: old.name, kid: 'kid-next' });
  await writeJwksFile(h.jwksPaths[0]!, { keys: [old.jwk, next.jwk] });
  await h.sources[0]!.refresh();
  const oldToken = await mintToken(old, { nowMs: h.clock.now() });
  const nextToken = await mintToken(next, { nowMs: h.clock.now() });
  await h.authenticate('bearer', oldToken);
  await h.authenticate('bearer', nextToken);
  t.equal(h.verifications(), 2);

  await writeJwksFile(h.jwksPaths[0]!, { keys: [next.jwk] });
  await h.sources[0]!.refresh();
  t.equal(await h.outcome('bearer', oldToken), 'ERR_AUTH_KID_UNKNOWN', 'retired key: refused');
  t.equal(await h.outcome('bearer', nextToken), 'OK');
  t.equal(h.verifications(), 2, 'the other cached entry survived the purge');
});

