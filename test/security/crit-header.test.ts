/**
 * Security case 14: the gateway understands no JWS extension, so any `crit` header — whatever
 * its shape — is refused (RFC 7515 §4.1.11; CVE-2026-35042). Every token is validly signed by the
 * issuer's key, so only `crit` can be the reason.
 */
import t from 'tap';
import { createAuthHarness } from '../helpers/auth-harness.js';
import { standardClaims } from '../helpers/tokens.js';

t.test('crit in any form is ERR_AUTH_MALFORMED', async (t) => {
  const h = await createAuthHarness(t);
  const issuer = h.issuers[0]!;
  const claims = JSON.stringify(standardClaims(issuer, 'userApiToken', h.clock.now()));
  const sign = (extra: Record<string, unknown>) => issuer.signRaw(JSON.stringify({ alg: issuer.alg, kid: issuer.kid, typ: 'JWT', ...extra }), claims);
  t.equal(await h.outcome('bearer', sign({})), 'OK', 'control: no crit');
  const cases: Array<[string, Record<string, unknown>]> = [
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
  for (const [name, extra] of cases) t.equal(await h.outcome('bearer', sign(extra)), 'ERR_AUTH_MALFORMED', `crit ${name}`);
  t.equal(h.verifications(), 1, 'refused before the signature check');
});
