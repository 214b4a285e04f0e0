import t from 'tap';
import { leakedSecrets } from '../helpers/log-sink.js';
import { basicAuth, createTenantApiToken, postForm, startTokenScenario, TS_ISSUER } from '../helpers/token-scenario.js';

/**
 * The OAuth routes over real sockets: RFC 6749 §4.4/§6, RFC 8414. Their refusals — security cases
 * 26-35 — are in test/security (see its README).
 */

t.test('POST /oauth/token', async (t) => {
  const s = await startTokenScenario();
  t.teardown(() => s.close());
  const client = await createTenantApiToken(s);

  t.test('client_secret_basic and client_secret_post both issue a Bearer token', async (t) => {
    for (const [name, res] of [
      ['basic', await postForm(s, '/oauth/token', 'grant_type=client_credentials', { authorization: basicAuth(client.clientId, client.secret) })],
      ['post', await postForm(s, '/oauth/token', new URLSearchParams({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.secret }).toString())],
    ] as const) {
      t.equal(res.status, 200, name);
      const body = (await res.json()) as Record<string, unknown>;
      t.equal(body.token_type, 'Bearer');
      t.equal(body.expires_in, 3600);
      t.type(body.access_token, 'string');
      t.type(body.refresh_token, 'string', 'refresh tokens on: the documented Frontegg deviation');
      const api = await fetch(`${s.gateway.url}/api/x`, { headers: { authorization: `Bearer ${String(body.access_token)}` } });
      t.equal(api.status, 200, `${name}: the token works at the proxy`);
    }
  });

  t.test('refresh_token rotates, with client_secret_basic or client_secret_post', async (t) => {
    const auth = { authorization: basicAuth(client.clientId, client.secret) };
    const first = (await (await postForm(s, '/oauth/token', 'grant_type=client_credentials', auth)).json()) as Record<string, string>;
    const refreshed = await postForm(s, '/oauth/token', new URLSearchParams({ grant_type: 'refresh_token', refresh_token: first.refresh_token! }).toString(), auth);
    t.equal(refreshed.status, 200);
    const body = (await refreshed.json()) as Record<string, unknown>;
    t.match(body, { token_type: 'Bearer', expires_in: 3600, access_token: String, refresh_token: String });
    t.not(body.refresh_token, first.refresh_token, 'a new refresh token');
    const viaPost = await postForm(
      s,
      '/oauth/token',
      new URLSearchParams({ grant_type: 'refresh_token', refresh_token: String(body.refresh_token), client_id: client.clientId, client_secret: client.secret }).toString(),
    );
    t.equal(viaPost.status, 200, 'client_secret_post authenticates a refresh too');
  });

  t.test('Frontegg refresh routes take the refresh token alone', async (t) => {
    const auth = { authorization: basicAuth(client.clientId, client.secret) };
    const issued = (await (await postForm(s, '/oauth/token', 'grant_type=client_credentials', auth)).json()) as Record<string, string>;
    const refresh = `grant_type=refresh_token&refresh_token=${encodeURIComponent(issued.refresh_token!)}`;
    const owner = await postForm(s, '/oauth/token', refresh, auth);
    t.equal(owner.status, 200);
    const rotated = ((await owner.json()) as Record<string, string>).refresh_token!;

    const v1 = await fetch(`${s.gateway.url}/identity/resources/auth/v1/api-token/token/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refreshToken: rotated }),
    });
    t.equal(v1.status, 200, "Frontegg's v1 refresh route: the refresh token alone, as Frontegg's SDKs send it");
    const { refreshToken } = (await v1.json()) as { refreshToken: string };
    const v2 = await fetch(`${s.gateway.url}/identity/resources/auth/v2/api-token/token/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refreshToken }),
    });
    t.equal(v2.status, 200, "Frontegg's v2 refresh route too");
    t.strictSame(leakedSecrets(s.gateway.logs.lines(), [client.secret, issued.refresh_token!, rotated, refreshToken]), [], 'no secret or refresh token logged');
  });
});

t.test('discovery, JWKS and the Frontegg public key', async (t) => {
  const s = await startTokenScenario();
  t.teardown(() => s.close());
  for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
    const res = await fetch(`${s.gateway.url}${path}`);
    t.equal(res.status, 200, path);
    t.match(await res.json(), {
      issuer: TS_ISSUER,
      token_endpoint: `${TS_ISSUER}/oauth/token`,
      jwks_uri: `${TS_ISSUER}/.well-known/jwks.json`,
      revocation_endpoint: `${TS_ISSUER}/oauth/revoke`,
      introspection_endpoint: `${TS_ISSUER}/oauth/introspect`,
      grant_types_supported: ['client_credentials', 'refresh_token'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    });
  }
  const jwks = (await (await fetch(`${s.gateway.url}/.well-known/jwks.json`)).json()) as { keys: Record<string, unknown>[] };
  t.equal(jwks.keys.length, 1);
  t.match(jwks.keys[0], { kty: 'RSA', alg: 'RS256', use: 'sig', kid: String });
  t.notOk('d' in jwks.keys[0]!, 'no private member');

  t.equal((await fetch(`${s.gateway.url}/identity/resources/configurations/v1`)).status, 401, 'vendor-authenticated');
  const vendor = await s.vendorToken();
  const config = await fetch(`${s.gateway.url}/identity/resources/configurations/v1`, { headers: { 'x-access-token': vendor } });
  t.equal(config.status, 200);
  t.match(await config.json(), { publicKey: /^-----BEGIN PUBLIC KEY-----/ });
  const wrongMethod = await fetch(`${s.gateway.url}/.well-known/jwks.json`, { method: 'POST' });
  t.equal(wrongMethod.status, 404, 'the token API answers its paths whatever the method; nothing is proxied');
  t.equal(s.upstream.received.length, 0);
});
