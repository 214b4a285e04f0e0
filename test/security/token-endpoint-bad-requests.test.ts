/**
 * Cases 27 and 28 (RFC 6749 §2.3.1, §3.2, §5.2): a bad token request gets the listed 4xx in the
 * §5.2 shape, never a 500 — credentials in the query string, in two places, repeated parameters, a
 * missing or unknown grant, a JSON or multipart body, unusable Basic values, a body over 8 KiB. A
 * secret sent in the query string is never logged (the access line keeps the path only), nothing
 * reaches the upstream, and no refusal consumes the client's refresh token.
 */
import t from 'tap';
import { leakedSecrets } from '../helpers/log-sink.js';
import { basicAuth, createTenantApiToken, oauthAnswer, postForm, REALM, startTokenScenario } from '../helpers/token-scenario.js';

t.test('bad token requests are 4xx in RFC 6749 §5.2 shape, never 500 (cases 27, 28)', async (t) => {
  const s = await startTokenScenario();
  t.teardown(() => s.close());
  const client = await createTenantApiToken(s);
  const ok = basicAuth(client.clientId, client.secret);
  const basicChallenge = `Basic ${REALM}`;
  const cases: { name: string; path?: string; body: string; headers?: Record<string, string>; status: number; error: string; challenge?: string }[] = [
    { name: 'client_secret in the query string', path: `/oauth/token?client_secret=${client.secret}`, body: 'grant_type=client_credentials', status: 400, error: 'invalid_request' },
    {
      name: 'client_id and client_secret in the query string',
      path: `/oauth/token?client_id=${client.clientId}&client_secret=${client.secret}&grant_type=client_credentials`,
      body: '',
      status: 400,
      error: 'invalid_request',
    },
    { name: 'client_secret in the query string of /oauth/revoke', path: `/oauth/revoke?client_secret=${client.secret}`, body: 'token=x', headers: { authorization: ok }, status: 400, error: 'invalid_request' },
    { name: 'missing grant_type', body: `client_id=${client.clientId}&client_secret=${client.secret}`, status: 400, error: 'invalid_request' },
    { name: 'an empty body', body: '', headers: { authorization: ok }, status: 400, error: 'invalid_request' },
    { name: 'unknown grant', body: 'grant_type=password', headers: { authorization: ok }, status: 400, error: 'unsupported_grant_type' },
    { name: 'authorization_code grant', body: 'grant_type=authorization_code&code=x', headers: { authorization: ok }, status: 400, error: 'unsupported_grant_type' },
    { name: 'refresh_token grant without refresh_token', body: 'grant_type=refresh_token', headers: { authorization: ok }, status: 400, error: 'invalid_request' },
    { name: 'revoke without token', path: '/oauth/revoke', body: '', headers: { authorization: ok }, status: 400, error: 'invalid_request' },
    { name: 'repeated grant_type', body: 'grant_type=client_credentials&grant_type=client_credentials', headers: { authorization: ok }, status: 400, error: 'invalid_request' },
    { name: 'repeated grant_type with different values', body: 'grant_type=client_credentials&grant_type=refresh_token', headers: { authorization: ok }, status: 400, error: 'invalid_request' },
    { name: 'repeated client_id', body: `grant_type=client_credentials&client_id=a&client_id=b&client_secret=x`, status: 400, error: 'invalid_request' },
    { name: 'repeated client_secret', body: `grant_type=client_credentials&client_id=${client.clientId}&client_secret=${client.secret}&client_secret=x`, status: 400, error: 'invalid_request' },
    { name: 'credentials in Basic and client_secret in the body', body: `grant_type=client_credentials&client_secret=${client.secret}`, headers: { authorization: ok }, status: 400, error: 'invalid_request' },
    { name: 'credentials in Basic and client_id in the body', body: `grant_type=client_credentials&client_id=${client.clientId}`, headers: { authorization: ok }, status: 400, error: 'invalid_request' },
    { name: 'client_secret without client_id', body: `grant_type=client_credentials&client_secret=${client.secret}`, status: 400, error: 'invalid_request' },
    { name: 'a JSON body', body: JSON.stringify({ grant_type: 'client_credentials' }), headers: { authorization: ok, 'content-type': 'application/json' }, status: 400, error: 'invalid_request' },
    { name: 'a multipart body', body: '--x\r\n\r\n--x--', headers: { authorization: ok, 'content-type': 'multipart/form-data; boundary=x' }, status: 400, error: 'invalid_request' },
    { name: 'Basic that is not base64', body: 'grant_type=client_credentials', headers: { authorization: 'Basic %%%' }, status: 401, error: 'invalid_client', challenge: basicChallenge },
    { name: 'Basic without a colon', body: 'grant_type=client_credentials', headers: { authorization: `Basic ${Buffer.from('nocolon').toString('base64')}` }, status: 401, error: 'invalid_client', challenge: basicChallenge },
    { name: 'Basic with an empty value', body: 'grant_type=client_credentials', headers: { authorization: 'Basic ' }, status: 401, error: 'invalid_client', challenge: basicChallenge },
    { name: 'Basic with a bad percent-encoding', body: 'grant_type=client_credentials', headers: { authorization: `Basic ${Buffer.from('%zz:%zz').toString('base64')}` }, status: 401, error: 'invalid_client', challenge: basicChallenge },
    { name: 'a body over 8 KiB', body: `grant_type=client_credentials&pad=${'x'.repeat(9000)}`, headers: { authorization: ok }, status: 413, error: 'invalid_request' },
  ];
  for (const c of cases) {
    const answer = await oauthAnswer(postForm(s, c.path ?? '/oauth/token', c.body, c.headers));
    t.strictSame(
      { status: answer.status, challenge: answer.challenge, error: answer.error, cacheControl: answer.cacheControl },
      { status: c.status, challenge: c.challenge ?? null, error: c.error, cacheControl: 'no-store' },
      c.name,
    );
  }
  const right = await postForm(s, '/oauth/token', 'grant_type=client_credentials', { authorization: ok });
  t.equal(right.status, 200, 'the same client, asked properly, is served');
  t.equal(s.upstream.received.length, 0, 'nothing reached the upstream');
  const lines = s.gateway.logs.lines();
  t.strictSame(leakedSecrets(lines, [client.secret]), [], 'the secret of the query string is never logged (case 27)');
  const access = s.gateway.logs.entries().filter((e) => e['msg'] === 'access' && e['route'] === 'token-api');
  t.ok(access.some((e) => e['path'] === '/oauth/token' && e['status'] === 400), 'the refused request is logged, by its path alone');
});

t.test("the query-string secret is refused on Frontegg's exchange route too (case 27)", async (t) => {
  const s = await startTokenScenario();
  t.teardown(() => s.close());
  const client = await createTenantApiToken(s);
  const res = await fetch(`${s.gateway.url}/identity/resources/auth/v1/api-token?secret=${client.secret}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(client),
  });
  t.equal(res.status, 400);
  t.equal(res.headers.get('www-authenticate'), null);
  t.match(await res.json(), { code: 'ERR_VALIDATION' });
  t.equal(s.upstream.received.length, 0, 'nothing reached the upstream');
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [client.secret]), [], 'the secret is never logged');
});

t.test('Basic decoding (RFC 6749 §2.3.1): form-encoded id and secret, split at the first colon', async (t) => {
  const s = await startTokenScenario();
  t.teardown(() => s.close());
  const client = await createTenantApiToken(s);
  const encodedColon = await oauthAnswer(postForm(s, '/oauth/token', 'grant_type=client_credentials', { authorization: basicAuth(`${client.clientId}:x`, client.secret) }));
  t.strictSame(
    { status: encodedColon.status, challenge: encodedColon.challenge, error: encodedColon.error },
    { status: 401, challenge: `Basic ${REALM}`, error: 'invalid_client' },
    'a URL-encoded colon stays part of the id, which is then unknown',
  );
  const raw = `Basic ${Buffer.from(`${client.clientId}:${client.secret}`).toString('base64')}`;
  t.equal((await postForm(s, '/oauth/token', 'grant_type=client_credentials', { authorization: raw })).status, 200, 'unencoded id and secret decode to themselves');
  const lowerScheme = `basic ${Buffer.from(`${client.clientId}:${client.secret}`).toString('base64')}`;
  t.equal((await postForm(s, '/oauth/token', 'grant_type=client_credentials', { authorization: lowerScheme })).status, 200, 'the scheme is case-insensitive');
  t.equal(s.upstream.received.length, 0, 'nothing reached the upstream');
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [client.secret]), [], 'no secret logged');
});
