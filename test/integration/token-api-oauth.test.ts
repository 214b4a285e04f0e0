import t from 'tap';
import { leakedSecrets } from '../helpers/log-sink.js';
import { basicAuth, createTenantApiToken, postForm, startTokenScenario, TS_ISSUER } from '../helpers/token-scenario.js';

/** The OAuth routes over real sockets: RFC 6749 §4.4/§6, RFC 7009, RFC 7662, RFC 8414; security cases 26-35. */

t.test('POST /oauth/token', async (t) => {
  const s = await startTokenScenario();
  t.teardown(() => s.close());
  const client = await createTenantApiToken(s);

  t.test('client_secret_basic and client_secret_post both issue a Bearer token, no-store', async (t) => {
    for (const [name, res] of [
      ['basic', await postForm(s, '/oauth/token', 'grant_type=client_credentials', { authorization: basicAuth(client.clientId, client.secret) })],
      ['post', await postForm(s, '/oauth/token', new URLSearchParams({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.secret }).toString())],
    ] as const) {
      t.equal(res.status, 200, name);
      t.equal(res.headers.get('cache-control'), 'no-store', `${name}: case 30`);
      t.equal(res.headers.get('pragma'), 'no-cache', `${name}: case 30`);
      const body = (await res.json()) as Record<string, unknown>;
      t.equal(body.token_type, 'Bearer');
      t.equal(body.expires_in, 3600);
      t.type(body.access_token, 'string');
      t.type(body.refresh_token, 'string', 'refresh tokens on: the documented Frontegg deviation');
      const api = await fetch(`${s.gateway.url}/api/x`, { headers: { authorization: `Bearer ${String(body.access_token)}` } });
      t.equal(api.status, 200, `${name}: the token works at the proxy`);
    }
  });

  t.test('refresh_token rotates; reuse and another client are invalid_grant (cases 31-33)', async (t) => {
    const auth = { authorization: basicAuth(client.clientId, client.secret) };
    const first = (await (await postForm(s, '/oauth/token', 'grant_type=client_credentials', auth)).json()) as Record<string, string>;
    const refreshed = await postForm(s, '/oauth/token', new URLSearchParams({ grant_type: 'refresh_token', refresh_token: first.refresh_token! }).toString(), auth);
    t.equal(refreshed.status, 200);
    t.equal(refreshed.headers.get('cache-control'), 'no-store');
    const body = (await refreshed.json()) as Record<string, unknown>;
    t.match(body, { token_type: 'Bearer', expires_in: 3600, access_token: String, refresh_token: String });
    const viaPost = await postForm(
      s,
      '/oauth/token',
      new URLSearchParams({ grant_type: 'refresh_token', refresh_token: String(body.refresh_token), client_id: client.clientId, client_secret: client.secret }).toString(),
    );
    t.equal(viaPost.status, 200, 'client_secret_post authenticates a refresh too');
    const reused = await postForm(s, '/oauth/token', new URLSearchParams({ grant_type: 'refresh_token', refresh_token: first.refresh_token! }).toString(), auth);
    t.equal(reused.status, 400);
    t.match(await reused.json(), { error: 'invalid_grant' });
    const garbage = await postForm(s, '/oauth/token', 'grant_type=refresh_token&refresh_token=garbage', auth);
    t.match(await garbage.json(), { error: 'invalid_grant' });
    const missing = await postForm(s, '/oauth/token', 'grant_type=refresh_token', auth);
    t.equal(missing.status, 400);
    t.match(await missing.json(), { error: 'invalid_request' });

    const other = await createTenantApiToken(s);
    const mine = (await (await postForm(s, '/oauth/token', 'grant_type=client_credentials', auth)).json()) as Record<string, string>;
    const stolen = await postForm(s, '/oauth/token', new URLSearchParams({ grant_type: 'refresh_token', refresh_token: mine.refresh_token! }).toString(), {
      authorization: basicAuth(other.clientId, other.secret),
    });
    t.equal(stolen.status, 400, 'another authenticated client: invalid_grant (case 31)');
    t.match(await stolen.json(), { error: 'invalid_grant' });
    const back = await postForm(s, '/oauth/token', new URLSearchParams({ grant_type: 'refresh_token', refresh_token: mine.refresh_token! }).toString(), auth);
    t.equal(back.status, 200, 'the refused attempt left the token to its owner');
  });

  t.test('refresh_token needs client authentication; Frontegg refresh routes take the refresh token alone', async (t) => {
    const auth = { authorization: basicAuth(client.clientId, client.secret) };
    const issued = (await (await postForm(s, '/oauth/token', 'grant_type=client_credentials', auth)).json()) as Record<string, string>;
    const refresh = `grant_type=refresh_token&refresh_token=${encodeURIComponent(issued.refresh_token!)}`;
    const cases: { name: string; body: string; headers?: Record<string, string>; challenge: string | null }[] = [
      { name: 'no client authentication', body: refresh, challenge: null },
      { name: 'client_id without client_secret', body: `${refresh}&client_id=${client.clientId}`, challenge: null },
      { name: 'a wrong secret in the body', body: `${refresh}&client_id=${client.clientId}&client_secret=wrong`, challenge: null },
      { name: 'a wrong secret in Basic', body: refresh, headers: { authorization: basicAuth(client.clientId, 'wrong') }, challenge: 'Basic realm="m2m-gateway"' },
      { name: 'an unknown client in Basic', body: refresh, headers: { authorization: basicAuth('nobody', 'wrong') }, challenge: 'Basic realm="m2m-gateway"' },
    ];
    const bodies = new Set<string>();
    for (const c of cases) {
      const res = await postForm(s, '/oauth/token', c.body, c.headers);
      t.equal(res.status, 401, c.name);
      t.equal(res.headers.get('www-authenticate'), c.challenge, `${c.name}: challenge`);
      const text = await res.text();
      t.match(JSON.parse(text), { error: 'invalid_client' }, c.name);
      if (c.headers !== undefined) bodies.add(text);
    }
    t.equal(bodies.size, 1, 'wrong secret and unknown client: one answer (case 26)');
    const owner = await postForm(s, '/oauth/token', refresh, auth);
    t.equal(owner.status, 200, 'no refused attempt consumed the refresh token');
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

  t.test('a deleted credential can neither refresh nor revoke, even with its right secret', async (t) => {
    const doomed = await createTenantApiToken(s);
    const auth = { authorization: basicAuth(doomed.clientId, doomed.secret) };
    const issued = (await (await postForm(s, '/oauth/token', 'grant_type=client_credentials', auth)).json()) as Record<string, string>;
    const vendor = await s.vendorToken();
    const deleted = await fetch(`${s.gateway.url}/identity/resources/tenants/api-tokens/v1/${doomed.clientId}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${vendor}`, 'frontegg-tenant-id': 'tenant-1' },
    });
    t.equal(deleted.status, 204);
    const unknown = await postForm(s, '/oauth/token', new URLSearchParams({ grant_type: 'refresh_token', refresh_token: issued.refresh_token! }).toString(), {
      authorization: basicAuth('nobody', doomed.secret),
    });
    const unknownText = await unknown.text();
    for (const [path, body] of [
      ['/oauth/token', new URLSearchParams({ grant_type: 'refresh_token', refresh_token: issued.refresh_token! }).toString()],
      ['/oauth/revoke', new URLSearchParams({ token: issued.refresh_token! }).toString()],
    ] as const) {
      const res = await postForm(s, path, body, auth);
      t.equal(res.status, 401, `${path}: 401`);
      t.equal(res.headers.get('www-authenticate'), 'Basic realm="m2m-gateway"', `${path}: Basic challenge`);
      t.equal(await res.text(), unknownText, `${path}: the answer of an unknown client`);
    }
  });

  t.test('wrong secret and unknown client: one answer; Basic gets the Basic challenge (case 26)', async (t) => {
    const wrong = await postForm(s, '/oauth/token', 'grant_type=client_credentials', { authorization: basicAuth(client.clientId, 'wrong-secret') });
    const unknown = await postForm(s, '/oauth/token', 'grant_type=client_credentials', { authorization: basicAuth('nobody', 'wrong-secret') });
    t.equal(wrong.status, 401);
    t.equal(unknown.status, 401);
    t.equal(wrong.headers.get('www-authenticate'), 'Basic realm="m2m-gateway"');
    t.equal(unknown.headers.get('www-authenticate'), 'Basic realm="m2m-gateway"');
    t.strictSame(await wrong.text(), await unknown.text());
    const viaPost = await postForm(s, '/oauth/token', `grant_type=client_credentials&client_id=nobody&client_secret=x`);
    t.equal(viaPost.status, 401);
    t.equal(viaPost.headers.get('www-authenticate'), null, 'no Basic challenge when Basic was not used');
    t.match(await viaPost.json(), { error: 'invalid_client' });
  });

  t.test('bad requests are 4xx in RFC 6749 §5.2 shape, never 500 (cases 27, 28)', async (t) => {
    const ok = basicAuth(client.clientId, client.secret);
    const cases: { name: string; path?: string; body: string; headers?: Record<string, string>; status: number; error: string }[] = [
      { name: 'missing grant_type', body: `client_id=${client.clientId}&client_secret=${client.secret}`, status: 400, error: 'invalid_request' },
      { name: 'unknown grant', body: 'grant_type=password', headers: { authorization: ok }, status: 400, error: 'unsupported_grant_type' },
      { name: 'repeated grant_type', body: 'grant_type=client_credentials&grant_type=client_credentials', headers: { authorization: ok }, status: 400, error: 'invalid_request' },
      { name: 'repeated client_id', body: `grant_type=client_credentials&client_id=a&client_id=b&client_secret=x`, status: 400, error: 'invalid_request' },
      { name: 'credentials in Basic and the body', body: `grant_type=client_credentials&client_secret=${client.secret}`, headers: { authorization: ok }, status: 400, error: 'invalid_request' },
      { name: 'a JSON body', body: JSON.stringify({ grant_type: 'client_credentials' }), headers: { authorization: ok, 'content-type': 'application/json' }, status: 400, error: 'invalid_request' },
      { name: 'a multipart body', body: '--x\r\n\r\n--x--', headers: { authorization: ok, 'content-type': 'multipart/form-data; boundary=x' }, status: 400, error: 'invalid_request' },
      { name: 'Basic that is not base64', body: 'grant_type=client_credentials', headers: { authorization: 'Basic %%%' }, status: 401, error: 'invalid_client' },
      { name: 'Basic without a colon', body: 'grant_type=client_credentials', headers: { authorization: `Basic ${Buffer.from('nocolon').toString('base64')}` }, status: 401, error: 'invalid_client' },
      { name: 'a scope', body: 'grant_type=client_credentials&scope=admin', headers: { authorization: ok }, status: 400, error: 'invalid_scope' },
      { name: 'no client authentication', body: 'grant_type=client_credentials', status: 401, error: 'invalid_client' },
      { name: 'client_secret in the query string', path: `/oauth/token?client_secret=${client.secret}`, body: 'grant_type=client_credentials', status: 400, error: 'invalid_request' },
      { name: 'a body over 8 KiB', body: `grant_type=client_credentials&pad=${'x'.repeat(9000)}`, headers: { authorization: ok }, status: 413, error: 'invalid_request' },
    ];
    for (const c of cases) {
      const res = await postForm(s, c.path ?? '/oauth/token', c.body, c.headers);
      t.equal(res.status, c.status, c.name);
      t.equal(res.headers.get('cache-control'), 'no-store', `${c.name}: no-store`);
      t.match(await res.json(), { error: c.error }, c.name);
    }
    t.strictSame(leakedSecrets(s.gateway.logs.lines(), [client.secret]), [], 'the secret of the query string is never logged (case 27)');
  });

  t.test('an id with a URL-encoded colon decodes correctly (RFC 6749 §2.3.1)', async (t) => {
    const res = await postForm(s, '/oauth/token', 'grant_type=client_credentials', { authorization: basicAuth(`${client.clientId}:x`, client.secret) });
    t.equal(res.status, 401, 'the colon stayed part of the id, which is then unknown');
    t.match(await res.json(), { error: 'invalid_client' });
  });
});

t.test('brute force is answered 429 with Retry-After (case 29)', async (t) => {
  const s = await startTokenScenario({ tokenService: { rateLimit: { perClientPerMinute: 3, perPeerPerMinute: 1000 } } });
  t.teardown(() => s.close());
  const client = await createTenantApiToken(s);
  let limited: Response | undefined;
  for (let i = 0; i < 20 && limited === undefined; i++) {
    const res = await postForm(s, '/oauth/token', 'grant_type=client_credentials', { authorization: basicAuth(client.clientId, 'wrong') });
    if (res.status === 429) limited = res;
    else await res.arrayBuffer();
  }
  t.ok(limited, 'limited within 20 failures');
  t.match(limited?.headers.get('retry-after'), /^\d+$/);
  const v1 = await fetch(`${s.gateway.url}/identity/resources/auth/v1/api-token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ clientId: client.clientId, secret: 'wrong' }),
  });
  t.equal(v1.status, 429, 'the Frontegg route shares the limit');
  t.match(v1.headers.get('retry-after'), /^\d+$/);
  t.match(await v1.json(), { errors: [String] });
});

t.test('POST /oauth/revoke and /oauth/introspect (case 35)', async (t) => {
  const s = await startTokenScenario();
  t.teardown(() => s.close());
  const client = await createTenantApiToken(s);
  const auth = { authorization: basicAuth(client.clientId, client.secret) };
  const issued = (await (await postForm(s, '/oauth/token', 'grant_type=client_credentials', auth)).json()) as Record<string, string>;
  const vendor = await s.vendorToken();
  const introspect = (token: string) => postForm(s, '/oauth/introspect', new URLSearchParams({ token }).toString(), { authorization: `Bearer ${vendor}` });

  const unauthenticated = await postForm(s, '/oauth/introspect', 'token=x');
  t.equal(unauthenticated.status, 401);
  t.equal(unauthenticated.headers.get('www-authenticate'), 'Bearer realm="m2m-gateway"');
  const withM2m = await postForm(s, '/oauth/introspect', 'token=x', { authorization: `Bearer ${issued.access_token!}` });
  t.equal(withM2m.status, 401, 'an M2M token is not a vendor token');

  const active = await introspect(issued.access_token!);
  t.equal(active.status, 200);
  t.match(await active.json(), { active: true });
  t.strictSame(await (await introspect('garbage')).json(), { active: false });

  t.equal((await postForm(s, '/oauth/revoke', 'token=x')).status, 401, 'an unauthenticated revoke is 401');
  const target = new URLSearchParams({ token: issued.refresh_token! }).toString();
  const refusals: { name: string; body: string; headers?: Record<string, string>; challenge: string | null }[] = [
    { name: 'client_id without client_secret', body: `${target}&client_id=${client.clientId}`, challenge: null },
    { name: 'a wrong secret in the body', body: `${target}&client_id=${client.clientId}&client_secret=wrong`, challenge: null },
    { name: 'a wrong secret in Basic', body: target, headers: { authorization: basicAuth(client.clientId, 'wrong') }, challenge: 'Basic realm="m2m-gateway"' },
    { name: 'an unknown client in Basic', body: target, headers: { authorization: basicAuth('nobody', 'wrong') }, challenge: 'Basic realm="m2m-gateway"' },
  ];
  const answers = new Set<string>();
  for (const r of refusals) {
    const res = await postForm(s, '/oauth/revoke', r.body, r.headers);
    t.equal(res.status, 401, `revoke with ${r.name}: 401 (RFC 7009 §2.1)`);
    t.equal(res.headers.get('www-authenticate'), r.challenge, `${r.name}: challenge`);
    const text = await res.text();
    t.match(JSON.parse(text), { error: 'invalid_client' });
    if (r.headers !== undefined) answers.add(text);
  }
  t.equal(answers.size, 1, 'wrong secret and unknown client: one answer (case 26)');
  t.match(await (await introspect(issued.refresh_token!)).json(), { active: true }, 'no refused revoke revoked anything');
  const unknown = await postForm(s, '/oauth/revoke', 'token=garbage', auth);
  t.equal(unknown.status, 200, 'an unknown token is 200 (RFC 7009 §2.2)');
  const revoked = await postForm(s, '/oauth/revoke', new URLSearchParams({ token: issued.refresh_token! }).toString(), auth);
  t.equal(revoked.status, 200);
  t.strictSame(await (await introspect(issued.refresh_token!)).json(), { active: false });
  const refused = await fetch(`${s.gateway.url}/api/x`, { headers: { authorization: `Bearer ${issued.access_token!}` } });
  t.equal(refused.status, 401, "revoking the refresh token kills its family's JWTs");
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
