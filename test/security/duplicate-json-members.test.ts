/**
 * Security case 22: duplicate JSON members in the header or the claims are refused outright
 * (the preferred behaviour): parsers disagree on which duplicate wins, so a token could mean one
 * thing to us and another to a downstream parser (RFC 7515 §4; RFC 7519 §4; RFC 8259 §4).
 * Names are compared after unescaping. Nested objects (e.g. `metadata`) are not inspected: no
 * identity value comes from them. Every token here is validly signed by the issuer's key.
 * Authenticator level first, then over HTTP: refused, or forwarded with exactly the verified values
 * and without the token.
 */
import t from 'tap';
import { createAuthHarness, tokensInLogs } from '../helpers/auth-harness.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { expectForwarded, expectRefused } from '../helpers/refusals.js';
import { startScenario } from '../helpers/scenario.js';
import { standardClaims, type TestIssuer } from '../helpers/tokens.js';

/** Validly signed tokens with a duplicate member; `control` has one only inside a nested object. */
function duplicates(issuer: TestIssuer, nowMs: number, type: 'userApiToken' | 'userAccessToken' = 'userApiToken'): { control: string; cases: Array<[string, string]> } {
  const claims = JSON.stringify(standardClaims(issuer, type, nowMs));
  const header = JSON.stringify({ alg: issuer.alg, kid: issuer.kid, typ: 'JWT' });
  const withClaims = (extra: string) => `${claims.slice(0, -1)},${extra}}`;
  const withHeader = (extra: string) => `${header.slice(0, -1)},${extra}}`;
  return {
    control: issuer.signRaw(header, withClaims('"context":{"a":1,"a":2}')),
    cases: [
      ['{"sub":"alice","sub":"admin"}', issuer.signRaw(header, withClaims('"sub":"admin"'))],
      ['sub duplicated through an escape ("s\\u0075b")', issuer.signRaw(header, withClaims('"s\\u0075b":"admin"'))],
      ['userId duplicated', issuer.signRaw(header, withClaims('"userId":"user-admin"'))],
      ['tenantId duplicated', issuer.signRaw(header, withClaims('"tenantId":"other-tenant"'))],
      ['roles duplicated', issuer.signRaw(header, withClaims('"roles":["root"]'))],
      ['type duplicated', issuer.signRaw(header, withClaims('"type":"tenantApiToken"'))],
      ['iss duplicated with the same value', issuer.signRaw(header, withClaims(`"iss":${JSON.stringify(issuer.issuer)}`))],
      ['{"alg":"RS256","alg":"none"}', issuer.signRaw(withHeader('"alg":"none"'), claims)],
      ['{"alg":"none","alg":"RS256"}', issuer.signRaw(`{"alg":"none",${header.slice(1)}`, claims)],
      ['kid duplicated', issuer.signRaw(withHeader('"kid":"other"'), claims)],
      ['typ duplicated', issuer.signRaw(withHeader('"typ":"JWT"'), claims)],
    ],
  };
}

t.test('duplicate members are refused', async (t) => {
  const h = await createAuthHarness(t);
  const issuer = h.issuers[0]!;
  const { control, cases } = duplicates(issuer, h.clock.now());
  t.equal((await h.authenticate('bearer', control)).subject, 'client-1', 'control: a duplicate inside a nested object');
  for (const [name, token] of cases) t.equal(await h.outcome('bearer', token), 'ERR_AUTH_MALFORMED', name);
  t.same(tokensInLogs(h.logs, cases.map((c) => c[1])), []);
});

t.test('the identity carries exactly the values that were verified', async (t) => {
  const h = await createAuthHarness(t);
  const issuer = h.issuers[0]!;
  const claims = { ...standardClaims(issuer, 'userApiToken', h.clock.now()), sub: 'alice', userId: 'user-alice' };
  const token = issuer.signRaw(JSON.stringify({ alg: issuer.alg, kid: issuer.kid, typ: 'JWT' }), JSON.stringify(claims));
  const identity = await h.authenticate('bearer', token);
  t.equal(identity.subject, 'alice');
  t.equal(identity.userId, 'user-alice');
});

t.test('over HTTP: refused with 401, or forwarded with exactly the verified values and no token', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const tokens: string[] = [];
  for (const [type, header] of [['userApiToken', 'Authorization'], ['userAccessToken', 'X-API-KEY']] as const) {
    const line = (token: string): [string, string] => [header, header === 'Authorization' ? `Bearer ${token}` : token];
    const { control, cases } = duplicates(s.issuer, Date.now(), type);
    const subject = type === 'userApiToken' ? 'client-1' : 'access-1';
    await expectForwarded(t, s, `control: a duplicate inside a nested object (${header})`, { headers: [line(control)] }, {
      'x-auth-subject': subject,
      'x-auth-user-id': 'user-1',
      'x-auth-tenant-id': 'tenant-1',
      'x-auth-roles': 'admin',
    });
    for (const [name, token] of cases) {
      tokens.push(token);
      await expectRefused(t, s, `${name} (${header})`, { headers: [line(token)] }, 'ERR_AUTH_MALFORMED');
    }
    const verified = signed(s.issuer, type, { sub: 'alice', userId: 'user-alice' });
    await expectForwarded(t, s, `a token without duplicates carries its own values (${header})`, { headers: [line(verified)] }, { 'x-auth-subject': 'alice', 'x-auth-user-id': 'user-alice' });
  }
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), tokens), [], 'no token in the logs');
});

/** A hand-signed token of `type` with `claims` over the standard ones. */
function signed(i: TestIssuer, type: 'userApiToken' | 'userAccessToken', claims: Record<string, unknown>): string {
  return i.signRaw(JSON.stringify({ alg: i.alg, kid: i.kid, typ: 'JWT' }), JSON.stringify({ ...standardClaims(i, type, Date.now()), ...claims }));
}
