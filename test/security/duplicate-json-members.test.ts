/**
 * Security case 22: duplicate JSON members in the header or the claims are refused outright
 * (the preferred behaviour): parsers disagree on which duplicate wins, so a token could mean one
 * thing to us and another to a downstream parser (RFC 7515 §4; RFC 7519 §4; RFC 8259 §4).
 * Names are compared after unescaping. Nested objects (e.g. `metadata`) are not inspected: no
 * identity value comes from them. Every token here is validly signed by the issuer's key.
 */
import t from 'tap';
import { createAuthHarness, tokensInLogs } from '../helpers/auth-harness.js';
import { standardClaims } from '../helpers/tokens.js';

t.test('duplicate members are refused', async (t) => {
  const h = await createAuthHarness(t);
  const issuer = h.issuers[0]!;
  const claims = JSON.stringify(standardClaims(issuer, 'userApiToken', h.clock.now()));
  const header = JSON.stringify({ alg: issuer.alg, kid: issuer.kid, typ: 'JWT' });
  const withClaims = (extra: string) => `${claims.slice(0, -1)},${extra}}`;
  const withHeader = (extra: string) => `${header.slice(0, -1)},${extra}}`;

  t.equal((await h.authenticate('bearer', issuer.signRaw(header, withClaims('"context":{"a":1,"a":2}')))).subject, 'client-1', 'control: a duplicate inside a nested object');
  const cases: Array<[string, string]> = [
    ['{"sub":"alice","sub":"admin"}', issuer.signRaw(header, withClaims('"sub":"admin"'))],
    ['sub duplicated through an escape ("s\\u0075b")', issuer.signRaw(header, withClaims('"s\\u0075b":"admin"'))],
    ['tenantId duplicated', issuer.signRaw(header, withClaims('"tenantId":"other-tenant"'))],
    ['roles duplicated', issuer.signRaw(header, withClaims('"roles":["root"]'))],
    ['type duplicated', issuer.signRaw(header, withClaims('"type":"tenantApiToken"'))],
    ['iss duplicated with the same value', issuer.signRaw(header, withClaims(`"iss":${JSON.stringify(issuer.issuer)}`))],
    ['{"alg":"RS256","alg":"none"}', issuer.signRaw(withHeader('"alg":"none"'), claims)],
    ['{"alg":"none","alg":"RS256"}', issuer.signRaw(`{"alg":"none",${header.slice(1)}`, claims)],
    ['kid duplicated', issuer.signRaw(withHeader('"kid":"other"'), claims)],
    ['typ duplicated', issuer.signRaw(withHeader('"typ":"JWT"'), claims)],
  ];
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
