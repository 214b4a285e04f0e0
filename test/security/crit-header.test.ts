/**
 * Security case 14: the gateway understands no JWS extension, so any `crit` header — whatever
 * its shape — is refused (RFC 7515 §4.1.11; CVE-2026-35042). Every token is validly signed by the
 * issuer's key, so only `crit` can be the reason. Authenticator level first, then over HTTP.
 */
import t from 'tap';
import { createAuthHarness } from '../helpers/auth-harness.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { expectForwarded, expectRefused } from '../helpers/refusals.js';
import { startScenario } from '../helpers/scenario.js';
import { standardClaims, type TestIssuer } from '../helpers/tokens.js';

const CRIT: Array<[string, Record<string, unknown>]> = [
  ['["foo"] without foo', { crit: ['foo'] }],
  ['["foo"] with foo present', { crit: ['foo'], foo: 1 }],
  ['["exp"] (a claim name)', { crit: ['exp'], exp: 1 }],
  ['["b64"] with b64: false', { crit: ['b64'], b64: false }],
  ['["b64"] with b64: true', { crit: ['b64'], b64: true }],
  ['["alg"] (a registered header)', { crit: ['alg'] }],
  ['[] (empty)', { crit: [] }],
  ['"foo" (a string)', { crit: 'foo', foo: 1 }],
  ['["foo", "foo"] (duplicates)', { crit: ['foo', 'foo'], foo: 1 }],
  ['null', { crit: null }],
  ['an object', { crit: { foo: true } }],
  ['[1]', { crit: [1] }],
];

/** The issuer's standard claims, validly signed under a header with `extra` members. */
function signer(issuer: TestIssuer, nowMs: number, type: 'userApiToken' | 'userAccessToken' = 'userApiToken'): (extra: Record<string, unknown>) => string {
  const claims = JSON.stringify(standardClaims(issuer, type, nowMs));
  return (extra) => issuer.signRaw(JSON.stringify({ alg: issuer.alg, kid: issuer.kid, typ: 'JWT', ...extra }), claims);
}

t.test('crit in any form is ERR_AUTH_MALFORMED', async (t) => {
  const h = await createAuthHarness(t);
  const issuer = h.issuers[0]!;
  const sign = signer(issuer, h.clock.now());
  t.equal(await h.outcome('bearer', sign({})), 'OK', 'control: no crit');
  for (const [name, extra] of CRIT) t.equal(await h.outcome('bearer', sign(extra)), 'ERR_AUTH_MALFORMED', `crit ${name}`);
  t.equal(h.verifications(), 1, 'refused before the signature check');
});

t.test('over HTTP: crit in any form is 401 invalid_token, in either header', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const bearer = signer(s.issuer, Date.now());
  const apiKey = signer(s.issuer, Date.now(), 'userAccessToken');
  await expectForwarded(t, s, 'control: no crit (Bearer)', { headers: [['Authorization', `Bearer ${bearer({})}`]] });
  await expectForwarded(t, s, 'control: no crit (X-API-KEY)', { headers: [['X-API-KEY', apiKey({})]] });
  const tokens: string[] = [];
  for (const [name, extra] of CRIT) {
    tokens.push(bearer(extra), apiKey(extra));
    await expectRefused(t, s, `crit ${name} (Bearer)`, { headers: [['Authorization', `Bearer ${bearer(extra)}`]] }, 'ERR_AUTH_MALFORMED');
    await expectRefused(t, s, `crit ${name} (X-API-KEY)`, { headers: [['X-API-KEY', apiKey(extra)]] }, 'ERR_AUTH_MALFORMED');
  }
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), tokens), [], 'no token in the logs');
});
