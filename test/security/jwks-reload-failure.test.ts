/**
 * Security cases 50 (and the JWKS half of 49): a JWKS reload that fails — malformed file,
 * duplicate kid, private key material, `use: enc`, a mismatched `alg`, a short RSA modulus, a
 * symmetric key — keeps the last good set: never accept-all, never an empty set. A rotated-out
 * kid is refused after removal; a new kid is accepted without restart. Checked on the authenticator
 * and over HTTP on a real gateway watching its file.
 */
import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import t from 'tap';
import { counterValue, createAuthHarness, tokensInLogs } from '../helpers/auth-harness.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { send, startScenario } from '../helpers/scenario.js';
import { waitFor } from '../helpers/wait.js';
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


// Over HTTP: a real gateway watching its JWKS file, an echo upstream recording what it received.

t.test('over HTTP: a bad JWKS file keeps the last good set; a removed kid is 401 at once; a new kid is accepted without restart', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const issuer = s.issuer;
  const invalidLoads = async () => (await s.gateway.app.metrics.jwksFetches.get()).values.find((v) => v.labels.issuer === issuer.name && v.labels.result === 'invalid')?.value ?? 0;
  const call = async (token: string) => {
    const res = await send(`${s.gateway.url}/api/x`, { headers: [['authorization', `Bearer ${token}`]] });
    return { status: res.status, challenge: res.headers['www-authenticate'], code: res.status === 200 ? undefined : res.json().code };
  };
  const token = await s.mint({ type: 'userApiToken' });
  t.match(await call(token), { status: 200 }, 'the first set works');

  const rsaPrivate = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const bad: Array<[string, object | string]> = [
    ['malformed JSON', '{"keys": [ {"kty": "RSA"'],
    ['a duplicate kid', { keys: [issuer.jwk, issuer.jwk] }],
    ['private key material', { keys: [{ ...rsaPrivate, kid: issuer.kid, alg: 'RS256' }] }],
    ['a key with use: enc', { keys: [{ ...issuer.jwk, use: 'enc' }] }],
    ['a key with a mismatched alg', { keys: [{ ...issuer.jwk, alg: 'ES256' }] }],
    ['an empty set', { keys: [] }],
  ];
  for (const [name, content] of bad) {
    const before = await invalidLoads();
    await writeJwksFile(s.jwksPath, content);
    await waitFor(`${name}: the reload to be refused`, async () => (await invalidLoads()) > before);
    t.match(await call(await s.mint({ type: 'userApiToken' })), { status: 200 }, `${name}: the last good set still verifies a fresh token`);
    const forged = await mintToken(await createTestIssuer({ kid: issuer.kid }), { type: 'userApiToken' });
    t.strictSame(await call(forged), { status: 401, challenge: 'Bearer realm="m2m-gateway", error="invalid_token"', code: 'ERR_AUTH_SIGNATURE' }, `${name}: never accept-all`);
  }
  t.equal(s.gateway.app.ready(), true, 'still ready on the last good set');

  const next = await createTestIssuer({ name: issuer.name, kid: 'kid-next' });
  const nextToken = await mintToken(next, { type: 'userApiToken' });
  t.match(await call(nextToken), { status: 401, code: 'ERR_AUTH_KID_UNKNOWN' }, 'an unknown kid before the rotation');
  await writeJwksFile(s.jwksPath, { keys: [issuer.jwk, next.jwk] });
  await waitFor('the new kid to be accepted', async () => (await call(nextToken)).status === 200);
  t.pass('a new kid is accepted without restart');

  await writeJwksFile(s.jwksPath, { keys: [next.jwk] });
  // Until the reload is read the old kid is still accepted (and forwarded): count from its refusal.
  await waitFor('the old kid to be refused', async () => (await call(token)).status === 401);
  const before = s.upstream.received.length;
  t.strictSame(await call(token), { status: 401, challenge: 'Bearer realm="m2m-gateway", error="invalid_token"', code: 'ERR_AUTH_KID_UNKNOWN' }, 'the rotated-out kid is refused, although its token was cached');
  t.match(await call(nextToken), { status: 200 });
  t.equal(s.upstream.received.length, before + 1, 'only the allowed call reached the upstream');
  const lines = s.gateway.logs.lines();
  t.strictSame(leakedSecrets(lines, [token, nextToken]), [], 'no token in the logs');
  t.notOk(lines.some((l) => l.includes(String(rsaPrivate.d))), 'no key material logged');
});
