/**
 * Security case 19: time boundaries with a 30 s tolerance T, against the injected clock.
 * Rules (src/auth/verify.ts): refused when now ≥ exp (no tolerance on exp), when nbf > now + T,
 * when iat > now + T; NumericDates must be non-negative whole seconds. The configured tolerance
 * itself is bounded (0–60 s): `.inf`, `.nan`, 61 and the like make the gateway refuse to start,
 * tested once in bad-config.test.ts. Authenticator level first, then over HTTP through a gateway
 * on the same kind of injected clock.
 */
import t from 'tap';
import { createManualClock } from '../../src/clock.js';
import { createAuthHarness } from '../helpers/auth-harness.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { expectForwarded, expectRefused, type AuthRefusal } from '../helpers/refusals.js';
import { startScenario } from '../helpers/scenario.js';
import { mintToken, standardClaims, type TestIssuer } from '../helpers/tokens.js';

const T = 30;

/** Claim overrides at `now` (seconds) and their outcome with tolerance T. */
function boundaries(now: number): Array<[string, Record<string, unknown>, AuthRefusal | 'OK']> {
  return [
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
}

/** `exp` as number literals JSON.stringify cannot write; JSON.parse turns them into ±Infinity. */
function infiniteExp(issuer: TestIssuer, nowMs: number): Array<[string, string]> {
  const header = JSON.stringify({ alg: issuer.alg, kid: issuer.kid, typ: 'JWT' });
  const claims = JSON.stringify(standardClaims(issuer, 'userApiToken', nowMs));
  return ['1e309', '-1e309', '1e999'].map((literal) => [`exp ${literal}`, issuer.signRaw(header, claims.replace(/"exp":\d+/, `"exp":${literal}`))]);
}

t.test('exp, nbf and iat boundaries', async (t) => {
  const h = await createAuthHarness(t, { auth: { clockToleranceSeconds: T } });
  const issuer = h.issuers[0]!;
  const now = h.clock.now() / 1000;
  const mint = (claims: Record<string, unknown>) => mintToken(issuer, { nowMs: h.clock.now(), claims });
  for (const [name, claims, code] of boundaries(now)) t.equal(await h.outcome('bearer', await mint(claims)), code, name);

  for (const [name, token] of infiniteExp(issuer, h.clock.now())) t.equal(await h.outcome('bearer', token), 'ERR_AUTH_CLAIMS', name);
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

t.test('over HTTP: every boundary gives its outcome, and an expired token is 401 even when cached', async (t) => {
  const clock = createManualClock();
  const s = await startScenario({ clock, config: { auth: { clockToleranceSeconds: T } } });
  t.teardown(() => s.close());
  const now = clock.now() / 1000;
  const tokens: string[] = [];
  for (const [type, header] of [['userApiToken', 'Authorization'], ['userAccessToken', 'X-API-KEY']] as const) {
    const line = (token: string): [string, string] => [header, header === 'Authorization' ? `Bearer ${token}` : token];
    for (const [name, claims, code] of boundaries(now)) {
      const token = await s.mint({ type, nowMs: clock.now(), claims });
      tokens.push(token);
      if (code === 'OK') await expectForwarded(t, s, `${name} (${header}): accepted`, { headers: [line(token)] });
      else await expectRefused(t, s, `${name} (${header})`, { headers: [line(token)] }, code);
    }
  }
  for (const [name, token] of infiniteExp(s.issuer, clock.now())) await expectRefused(t, s, name, { headers: [['Authorization', `Bearer ${token}`]] }, 'ERR_AUTH_CLAIMS');

  const start = clock.now() / 1000;
  const moving = await s.mint({ nowMs: clock.now(), claims: { nbf: start + 100, exp: start + 200 } });
  const headers: [string, string][] = [['Authorization', `Bearer ${moving}`]];
  await expectRefused(t, s, 'before nbf − skew', { headers }, 'ERR_AUTH_NOT_YET_VALID');
  clock.set((start + 100 - T) * 1000);
  await expectForwarded(t, s, 'from nbf − skew', { headers });
  clock.set((start + 200) * 1000 - 1);
  await expectForwarded(t, s, 'one ms before exp (served from the cache)', { headers });
  clock.set((start + 200) * 1000);
  await expectRefused(t, s, 'at exp, although cached', { headers }, 'ERR_AUTH_EXPIRED');
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [...tokens, moving]), [], 'no token in the logs');
});
