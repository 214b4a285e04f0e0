/**
 * Security case 19: time boundaries with a 30 s tolerance T, against the injected clock.
 * Rules (src/auth/verify.ts): refused when now ≥ exp (no tolerance on exp), when nbf > now + T,
 * when iat > now + T; NumericDates must be non-negative whole seconds. The configured tolerance
 * itself is bounded (0–60 s) by the config schema.
 */
import t from 'tap';
import { createAuthHarness } from '../helpers/auth-harness.js';
import { mintToken, standardClaims } from '../helpers/tokens.js';

const T = 30;

t.test('exp, nbf and iat boundaries', async (t) => {
  const h = await createAuthHarness(t, { auth: { clockToleranceSeconds: T } });
  const issuer = h.issuers[0]!;
  const now = h.clock.now() / 1000;
  const mint = (claims: Record<string, unknown>) => mintToken(issuer, { nowMs: h.clock.now(), claims });
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['exp = now + 1', { exp: now + 1 }, 'OK'],
    ['exp = now', { exp: now }, 'ERR_AUTH_EXPIRED'],
    ['exp = now − 1', { exp: now - 1 }, 'ERR_AUTH_EXPIRED'],
    ['exp = now − skew', { exp: now - T }, 'ERR_AUTH_EXPIRED'],
    ['exp = now − skew − 1', { exp: now - T - 1, iat: now - 3600 }, 'ERR_AUTH_EXPIRED'],
    ['exp as a string', { exp: String(now + 3600) }, 'ERR_AUTH_CLAIMS'],
    ['exp as a float', { exp: now + 3600.5 }, 'ERR_AUTH_CLAIMS'],
    ['exp negative', { exp: -1 }, 'ERR_AUTH_CLAIMS'],
    ['exp null', { exp: null }, 'ERR_AUTH_CLAIMS'],
    ['exp true', { exp: true }, 'ERR_AUTH_CLAIMS'],
    ['exp an array', { exp: [now + 3600] }, 'ERR_AUTH_CLAIMS'],
    ['exp beyond 2^53', { exp: 2 ** 53 }, 'ERR_AUTH_CLAIMS'],
    ['nbf = now', { nbf: now }, 'OK'],
    ['nbf = now + skew', { nbf: now + T }, 'OK'],
    ['nbf = now + skew + 1', { nbf: now + T + 1 }, 'ERR_AUTH_NOT_YET_VALID'],
    ['nbf as a string', { nbf: String(now) }, 'ERR_AUTH_CLAIMS'],
    ['nbf null', { nbf: null }, 'ERR_AUTH_CLAIMS'],
    ['iat = now', { iat: now }, 'OK'],
    ['iat = now + skew', { iat: now + T }, 'OK'],
    ['iat = now + skew + 1', { iat: now + T + 1 }, 'ERR_AUTH_NOT_YET_VALID'],
    ['iat as a string', { iat: String(now) }, 'ERR_AUTH_CLAIMS'],
    ['iat as a float', { iat: now + 0.25 }, 'ERR_AUTH_CLAIMS'],
    ['iat negative', { iat: -5 }, 'ERR_AUTH_CLAIMS'],
  ];
  for (const [name, claims, code] of cases) t.equal(await h.outcome('bearer', await mint(claims)), code, name);

  // 1e309 cannot come out of JSON.stringify; JSON.parse turns the literal into Infinity.
  const header = JSON.stringify({ alg: issuer.alg, kid: issuer.kid, typ: 'JWT' });
  const claims = JSON.stringify(standardClaims(issuer, 'userApiToken', h.clock.now()));
  for (const literal of ['1e309', '-1e309', '1e999']) {
    const token = issuer.signRaw(header, claims.replace(/"exp":\d+/, `"exp":${literal}`));
    t.equal(await h.outcome('bearer', token), 'ERR_AUTH_CLAIMS', `exp ${literal}`);
  }
});

t.test('the boundaries move with the injected clock', async (t) => {
  const h = await createAuthHarness(t, { auth: { clockToleranceSeconds: T } });
  const issuer = h.issuers[0]!;
  const start = h.clock.now() / 1000;
  const token = await mintToken(issuer, { nowMs: h.clock.now(), claims: { nbf: start + 100, exp: start + 200 } });
  t.equal(await h.outcome('bearer', token), 'ERR_AUTH_NOT_YET_VALID');
  h.clock.set((start + 100 - T) * 1000);
  t.equal(await h.outcome('bearer', token), 'OK', 'valid from nbf − skew');
  h.clock.set((start + 200) * 1000 - 1);
  t.equal(await h.outcome('bearer', token), 'OK', 'one ms before exp (served from the cache)');
  h.clock.set((start + 200) * 1000);
  t.equal(await h.outcome('bearer', token), 'ERR_AUTH_EXPIRED', 'at exp: refused, cached or not');
});

t.test('with zero tolerance the boundaries are exact', async (t) => {
  const h = await createAuthHarness(t, { auth: { clockToleranceSeconds: 0 } });
  const issuer = h.issuers[0]!;
  const now = h.clock.now() / 1000;
  const mint = (claims: Record<string, unknown>) => mintToken(issuer, { nowMs: h.clock.now(), claims });
  t.equal(await h.outcome('bearer', await mint({ nbf: now })), 'OK');
  t.equal(await h.outcome('bearer', await mint({ nbf: now + 1 })), 'ERR_AUTH_NOT_YET_VALID');
  t.equal(await h.outcome('bearer', await mint({ iat: now + 1 })), 'ERR_AUTH_NOT_YET_VALID');
  t.equal(await h.outcome('bearer', await mint({ exp: now })), 'ERR_AUTH_EXPIRED');
});
