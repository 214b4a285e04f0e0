/**
 * Case 30 (RFC 6749 §4.4.3, §5.1): every answer that carries a token or a secret is
 * `Cache-Control: no-store` and `Pragma: no-cache`; a scope beyond the client's allowance (it has
 * none to ask for) is 400 `invalid_scope`; client-credentials answers carry a refresh token only
 * as the documented Frontegg deviation (README "Refresh tokens"), and none at all once
 * `tokenService.refreshTokens.enabled` is false. Nothing reaches the upstream; nothing is logged.
 */
import t from 'tap';
import { leakedSecrets } from '../helpers/log-sink.js';
import { basicAuth, createTenantApiToken, oauthAnswer, postForm, startTokenScenario, VENDOR } from '../helpers/token-scenario.js';

const NO_STORE = { cacheControl: 'no-store', pragma: 'no-cache' };
const caching = (res: Response) => ({ cacheControl: res.headers.get('cache-control'), pragma: res.headers.get('pragma') });
const postJson = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

t.test('every answer with a token or a secret is no-store, no-cache', async (t) => {
  const s = await startTokenScenario();
  t.teardown(() => s.close());
  const base = s.gateway.url;
  const vendorRes = await postJson(`${base}/auth/vendor`, VENDOR);
  t.strictSame(caching(vendorRes), NO_STORE, 'POST /auth/vendor');
  const vendor = ((await vendorRes.json()) as { token: string }).token;
  const created = await postJson(`${base}/identity/resources/tenants/api-tokens/v2`, { roleIds: ['r-viewer'] }, { authorization: `Bearer ${vendor}`, 'frontegg-tenant-id': 'tenant-1' });
  t.equal(created.status, 201);
  t.strictSame(caching(created), NO_STORE, 'the creation answer with the secret');
  const { clientId, secret } = (await created.json()) as { clientId: string; secret: string };
  const client = { clientId, secret };
  const access = await postJson(`${base}/identity/resources/tenants/access-tokens/v1`, {}, { authorization: `Bearer ${vendor}`, 'frontegg-tenant-id': 'tenant-1' });
  t.equal(access.status, 201);
  t.strictSame(caching(access), NO_STORE, 'the creation answer with an access token');
  const accessSecret = ((await access.json()) as { secret: string }).secret;

  const tokens: string[] = [vendor, client.secret, accessSecret];
  const issue = async (name: string, res: Promise<Response>) => {
    const r = await res;
    t.equal(r.status, 200, `${name}: 200`);
    t.strictSame(caching(r), NO_STORE, `${name}: no-store, no-cache`);
    const body = (await r.json()) as Record<string, string>;
    const refresh = body.refresh_token ?? body.refreshToken;
    tokens.push(body.access_token ?? body.accessToken ?? '', refresh ?? '');
    return refresh!;
  };
  const auth = { authorization: basicAuth(client.clientId, client.secret) };
  const r1 = await issue('client_credentials, client_secret_basic', postForm(s, '/oauth/token', 'grant_type=client_credentials', auth));
  await issue(
    'client_credentials, client_secret_post',
    postForm(s, '/oauth/token', new URLSearchParams({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.secret }).toString()),
  );
  const r2 = await issue('refresh_token', postForm(s, '/oauth/token', new URLSearchParams({ grant_type: 'refresh_token', refresh_token: r1 }).toString(), auth));
  for (const version of ['v1', 'v2']) {
    await issue(`Frontegg ${version} exchange`, postJson(`${base}/identity/resources/auth/${version}/api-token`, client));
  }
  const r3 = await issue('Frontegg v1 refresh', postJson(`${base}/identity/resources/auth/v1/api-token/token/refresh`, { refreshToken: r2 }));
  await issue('Frontegg v2 refresh', postJson(`${base}/identity/resources/auth/v2/api-token/token/refresh`, { refreshToken: r3 }));
  const refused = await postForm(s, '/oauth/token', 'grant_type=client_credentials', { authorization: basicAuth(client.clientId, 'wrong') });
  t.strictSame(caching(refused), NO_STORE, 'a refusal too');
  t.equal(s.upstream.received.length, 0, 'nothing reached the upstream');
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), tokens), [], 'no token, refresh token or secret logged');
});

t.test('a requested scope is invalid_scope: the client has none to ask for', async (t) => {
  const s = await startTokenScenario();
  t.teardown(() => s.close());
  const client = await createTenantApiToken(s);
  const auth = { authorization: basicAuth(client.clientId, client.secret) };
  const issued = (await (await postForm(s, '/oauth/token', 'grant_type=client_credentials', auth)).json()) as Record<string, string>;
  for (const [name, body] of [
    ['client_credentials with a scope', 'grant_type=client_credentials&scope=admin'],
    ['client_credentials with two scopes', 'grant_type=client_credentials&scope=read%20admin'],
    ['refresh_token widening the scope (case 33)', new URLSearchParams({ grant_type: 'refresh_token', refresh_token: issued.refresh_token!, scope: 'admin' }).toString()],
  ] as const) {
    const answer = await oauthAnswer(postForm(s, '/oauth/token', body, auth));
    t.strictSame({ status: answer.status, challenge: answer.challenge, error: answer.error, cacheControl: answer.cacheControl }, { status: 400, challenge: null, error: 'invalid_scope', cacheControl: 'no-store' }, name);
  }
  const empty = await postForm(s, '/oauth/token', 'grant_type=client_credentials&scope=', auth);
  t.equal(empty.status, 200, 'an empty scope is as if omitted (RFC 6749 §3.1)');
  const refresh = await postForm(s, '/oauth/token', new URLSearchParams({ grant_type: 'refresh_token', refresh_token: issued.refresh_token! }).toString(), auth);
  t.equal(refresh.status, 200, 'the refused widening did not consume the refresh token');
  t.equal(s.upstream.received.length, 0, 'nothing reached the upstream');
  const later = (await empty.json()) as Record<string, string>;
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [client.secret, issued.refresh_token!, issued.access_token!, later.access_token!]), [], 'nothing logged');
});

t.test('with refresh tokens off, client-credentials answers carry none and the grant is not advertised', async (t) => {
  const s = await startTokenScenario({ tokenService: { refreshTokens: { enabled: false } } });
  t.teardown(() => s.close());
  const client = await createTenantApiToken(s);
  const oauth = await postForm(s, '/oauth/token', 'grant_type=client_credentials', { authorization: basicAuth(client.clientId, client.secret) });
  t.equal(oauth.status, 200);
  const body = (await oauth.json()) as Record<string, unknown>;
  t.strictSame(Object.keys(body).sort(), ['access_token', 'expires_in', 'token_type'], 'RFC 6749 §4.4.3: no refresh_token');
  for (const version of ['v1', 'v2']) {
    const res = await postJson(`${s.gateway.url}/identity/resources/auth/${version}/api-token`, client);
    t.equal(res.status, 200);
    const issued = (await res.json()) as Record<string, unknown>;
    t.notOk('refreshToken' in issued || 'refresh_token' in issued, `Frontegg ${version}: no refresh token`);
  }
  const metadata = (await (await fetch(`${s.gateway.url}/.well-known/oauth-authorization-server`)).json()) as { grant_types_supported: string[] };
  t.strictSame(metadata.grant_types_supported, ['client_credentials']);
  const grant = await oauthAnswer(postForm(s, '/oauth/token', 'grant_type=refresh_token&refresh_token=x', { authorization: basicAuth(client.clientId, client.secret) }));
  t.equal(grant.status, 400, 'a refresh is refused');
  t.equal(s.upstream.received.length, 0, 'nothing reached the upstream');
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [client.secret, String(body.access_token)]), [], 'nothing logged');
});
