/**
 * Security cases 6 and 7: anything that is not a compact JWS of three canonical base64url
 * segments, with a UTF-8 JSON object as header and payload, is ERR_AUTH_MALFORMED — including a
 * validly signed JSON-array payload (RFC 7519 §7.2; GHSA-5hjw-83fp-phq9; fast-jwt #606).
 * Authenticator level first, then every case over HTTP through a real gateway.
 */
import t from 'tap';
import { createAuthHarness, tokensInLogs } from '../helpers/auth-harness.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { expectForwarded, expectRefused } from '../helpers/refusals.js';
import { startScenario } from '../helpers/scenario.js';
import { b64url, mintToken, type TestIssuer } from '../helpers/tokens.js';

/** Case 6: broken compact serializations of `good`, a valid token; each is ERR_AUTH_MALFORMED. */
function malformed(good: string): Array<[string, string]> {
  const [header, payload, signature] = good.split('.') as [string, string, string];
  const insert = (s: string, what: string) => s.slice(0, 10) + what + s.slice(10);
  return [
    ['the empty string', ''],
    ['one segment', header],
    ['two segments', `${header}.${payload}`],
    ['four segments', `${good}.${signature}`],
    ['five segments (a JWE shape)', `${header}.${payload}.${signature}.${signature}.${signature}`],
    ['an empty header segment', `.${payload}.${signature}`],
    ['an empty payload segment', `${header}..${signature}`],
    ['only dots', '..'],
    ['"+" in the header (base64, not base64url)', `${insert(header, '+')}.${payload}.${signature}`],
    ['"/" in the payload', `${header}.${insert(payload, '/')}.${signature}`],
    ['"*" in the signature', `${header}.${payload}.${insert(signature, '*')}`],
    ['"=" padding on the header', `${header}=.${payload}.${signature}`],
    ['"==" padding on the signature', `${good}==`],
    ['a space inside the payload', `${header}.${insert(payload, ' ')}.${signature}`],
    ['a newline inside the signature', `${header}.${payload}.${insert(signature, '\n')}`],
    ['a tab inside the header', `${insert(header, '\t')}.${payload}.${signature}`],
    ['a leading space', ` ${good}`],
    ['a trailing newline', `${good}\n`],
    ['a non-ASCII character', `${header}.${insert(payload, 'é')}.${signature}`],
    ['a NUL character', `${header}.${payload}.${insert(signature, '\0')}`],
    ['the JWS JSON serialization', JSON.stringify({ payload, signatures: [{ protected: header, signature }] })],
    ['the flattened JSON serialization', JSON.stringify({ payload, protected: header, signature })],
  ];
}

/** The signature segment re-encoded with its unused trailing bits set: malformed, or a bad signature when the bit is significant. */
function nonCanonical(good: string): string {
  const [header, payload, signature] = good.split('.') as [string, string, string];
  return `${header}.${payload}.${signature.slice(0, -1)}${String.fromCharCode(signature.charCodeAt(signature.length - 1) ^ 1)}`;
}

/** Cases 6 and 7: header or payload bytes that are not a UTF-8 JSON object, most of them validly signed. */
async function notJsonObjects(issuer: TestIssuer, nowMs: number): Promise<{ control: string; cases: Array<[string, string]> }> {
  const now = Math.floor(nowMs / 1000);
  const headerJson = JSON.stringify({ alg: issuer.alg, kid: issuer.kid, typ: 'JWT' });
  const claims = JSON.stringify({ iss: issuer.issuer, aud: issuer.audience, sub: 'client-1', type: 'userApiToken', tenantId: 't', jti: 'j', userId: 'u', iat: now, exp: now + 60 });
  const invalidUtf8 = Buffer.concat([Buffer.from(claims.slice(0, -1)), Buffer.from(',"x":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
  return {
    control: issuer.signRaw(headerJson, claims),
    cases: [
      ['a header that is a JSON array', issuer.signRaw(JSON.stringify([headerJson]), claims)],
      ['a header that is a JSON string', issuer.signRaw('"RS256"', claims)],
      ['a header that is a number', issuer.signRaw('1', claims)],
      ['a header that is null', issuer.signRaw('null', claims)],
      ['a header that is not JSON', issuer.signRaw('{alg:RS256}', claims)],
      ['a header with a byte-order mark', issuer.signRaw(`\ufeff${headerJson}`, claims)],
      ['a header with invalid UTF-8', issuer.signRaw(Buffer.concat([Buffer.from(headerJson.slice(0, -1)), Buffer.from(',"x":"\xff"}', 'latin1')]), claims)],
      ['a signed payload with invalid UTF-8', issuer.signRaw(headerJson, invalidUtf8)],
      ['a signed payload that is not JSON', issuer.signRaw(headerJson, '{"sub":')],
      ['a signed payload that is a JSON array', await issuer.signPayload(JSON.stringify([JSON.parse(claims)]))],
      ['a signed payload that is a JSON string', await issuer.signPayload('"admin"')],
      ['a signed payload that is a number', await issuer.signPayload('42')],
      ['a signed payload that is null', await issuer.signPayload('null')],
      ['a signed payload that is true', await issuer.signPayload('true')],
      ['an unsigned header that is a JSON array', `${b64url('[]')}.${b64url(claims)}.c2ln`],
    ],
  };
}

t.test('malformed compact serializations (case 6)', async (t) => {
  const h = await createAuthHarness(t);
  const good = await mintToken(h.issuers[0]!, { nowMs: h.clock.now() });
  t.equal(await h.outcome('bearer', good), 'OK', 'control: the untouched token verifies');
  for (const [name, token] of malformed(good)) {
    for (const kind of ['bearer', 'apiKey'] as const) t.equal(await h.outcome(kind, token), 'ERR_AUTH_MALFORMED', `${name} (${kind})`);
  }
  for (const kind of ['bearer', 'apiKey'] as const) {
    const outcome = await h.outcome(kind, nonCanonical(good));
    t.ok(['ERR_AUTH_MALFORMED', 'ERR_AUTH_SIGNATURE'].includes(outcome), `a non-canonical signature encoding (${kind}): ${outcome}`);
  }
  t.same(tokensInLogs(h.logs, [good]), []);
});

t.test('header or payload bytes that are not UTF-8 JSON objects (cases 6, 7)', async (t) => {
  const h = await createAuthHarness(t);
  const { control, cases } = await notJsonObjects(h.issuers[0]!, h.clock.now());
  t.equal(await h.outcome('bearer', control), 'OK', 'control: a hand-signed token verifies');
  for (const [name, token] of cases) t.equal(await h.outcome('bearer', token), 'ERR_AUTH_MALFORMED', name);
});

/** Characters no HTTP client can put in a header value (Node refuses them; case 41 covers raw bytes). */
const UNSENDABLE = /[\r\n\0]/;
/** Leading and trailing whitespace is not part of a header value (RFC 9110 §5.5): the token arrives intact. */
const TRIMMED = /^[ \t]|[ \t\r\n]$/;

t.test('over HTTP: 401 invalid_token for every malformed token, in either header', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const good = await s.mint({ type: 'userApiToken' });
  const access = await s.mint({ type: 'userAccessToken' });
  const { control, cases } = await notJsonObjects(s.issuer, Date.now());
  await expectForwarded(t, s, 'control: the untouched token', { headers: [['Authorization', `Bearer ${good}`]] });
  await expectForwarded(t, s, 'control: a hand-signed token', { headers: [['Authorization', `Bearer ${control}`]] });
  const sendable = (token: string) => !UNSENDABLE.test(token) && !TRIMMED.test(token) && token !== '';
  for (const [name, token] of malformed(good).filter(([, token]) => sendable(token))) {
    await expectRefused(t, s, `${name} (Bearer)`, { headers: [['Authorization', `Bearer ${token}`]] }, 'ERR_AUTH_MALFORMED');
  }
  for (const [name, token] of malformed(access).filter(([, token]) => sendable(token))) {
    await expectRefused(t, s, `${name} (X-API-KEY)`, { headers: [['X-API-KEY', token]] }, 'ERR_AUTH_MALFORMED');
  }
  for (const [name, token] of cases) await expectRefused(t, s, name, { headers: [['Authorization', `Bearer ${token}`]] }, 'ERR_AUTH_MALFORMED');
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [good, access]), [], 'neither source token in the logs');
});
