/**
 * Case 26 (RFC 6749 §2.3.1, §5.2): at every route that authenticates a client — `/oauth/token`
 * for both grants, `/oauth/revoke`, and Frontegg's exchange routes — a wrong secret, an unknown
 * client id and a deleted credential get one and the same answer: 401 `invalid_client`, with
 * `WWW-Authenticate: Basic realm=…` exactly when the client used Basic. No refusal consumes or
 * revokes anything, nothing reaches the upstream, and no secret is logged (case 47). Equal work
 * for known and unknown clients (a dummy digest) is checked in test/unit/tokens/secrets.test.ts;
 * latency itself is never asserted in tests.
 */
import t from 'tap';
import { leakedSecrets } from '../helpers/log-sink.js';
import { basicAuth, createTenantApiToken, oauthAnswer, postForm, REALM, startTokenScenario } from '../helpers/token-scenario.js';

const UNKNOWN = '00000000-0000-4000-8000-000000000000';

t.test('OAuth routes: wrong secret, unknown client and deleted credential are one answer; Basic gets the Basic challenge', async (t) => {
  const s = await startTokenScenario();
  t.teardown(() => s.close());
  const client = await createTenantApiToken(s);
  const doomed = await createTenantApiToken(s);
  const owner = { authorization: basicAuth(client.clientId, client.secret) };
  const issued = (await (await postForm(s, '/oauth/token', 'grant_type=client_credentials', owner)).json()) as Record<string, string>;
  const vendor = await s.vendorToken();
  const deleted = await fetch(`${s.gateway.url}/identity/resources/tenants/api-tokens/v1/${doomed.clientId}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${vendor}`, 'frontegg-tenant-id': 'tenant-1' },
  });
  t.equal(deleted.status, 204);

  const refresh = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: issued.refresh_token! }).toString();
  const requests = [
    ['/oauth/token, client_credentials', '/oauth/token', 'grant_type=client_credentials'],
    ['/oauth/token, refresh_token', '/oauth/token', refresh],
    ['/oauth/revoke', '/oauth/revoke', new URLSearchParams({ token: issued.refresh_token! }).toString()],
  ] as const;
  const wrongCredentials = [
    ['a wrong secret', client.clientId, 'wrong-secret-0123456789abcdefghijklmnopq'],
    ['an unknown client', UNKNOWN, 'wrong-secret-0123456789abcdefghijklmnopq'],
    ['a deleted credential with its right secret', doomed.clientId, doomed.secret],
  ] as const;
  for (const [route, path, body] of requests) {
    const basicTexts = new Set<string>();
    const postTexts = new Set<string>();
    for (const [name, id, secret] of wrongCredentials) {
      const viaBasic = await oauthAnswer(postForm(s, path, body, { authorization: basicAuth(id, secret) }));
      t.strictSame(
        { status: viaBasic.status, challenge: viaBasic.challenge, error: viaBasic.error, cacheControl: viaBasic.cacheControl },
        { status: 401, challenge: `Basic ${REALM}`, error: 'invalid_client', cacheControl: 'no-store' },
        `${route}, ${name} in Basic`,
      );
      basicTexts.add(viaBasic.text);
      const viaPost = await oauthAnswer(postForm(s, path, `${body}&${new URLSearchParams({ client_id: id, client_secret: secret }).toString()}`));
      t.strictSame(
        { status: viaPost.status, challenge: viaPost.challenge, error: viaPost.error },
        { status: 401, challenge: null, error: 'invalid_client' },
        `${route}, ${name} in the body: no Basic challenge when Basic was not used`,
      );
      postTexts.add(viaPost.text);
    }
    t.equal(basicTexts.size, 1, `${route}: one Basic answer for all three`);
    t.equal(postTexts.size, 1, `${route}: one body answer for all three`);
    const anonymous = await oauthAnswer(postForm(s, path, body));
    t.strictSame({ status: anonymous.status, challenge: anonymous.challenge, error: anonymous.error }, { status: 401, challenge: null, error: 'invalid_client' }, `${route}: no client authentication`);
    const idOnly = await oauthAnswer(postForm(s, path, `${body}&client_id=${client.clientId}`));
    t.strictSame({ status: idOnly.status, challenge: idOnly.challenge, error: idOnly.error }, { status: 401, challenge: null, error: 'invalid_client' }, `${route}: client_id without client_secret`);
    const bearer = await oauthAnswer(postForm(s, path, body, { authorization: `Bearer ${issued.access_token!}` }));
    t.strictSame({ status: bearer.status, challenge: bearer.challenge, error: bearer.error }, { status: 401, challenge: `Basic ${REALM}`, error: 'invalid_client' }, `${route}: a Bearer token is no client authentication`);
  }

  const api = await fetch(`${s.gateway.url}/api/x`, { headers: { authorization: `Bearer ${issued.access_token!}` } });
  t.equal(api.status, 200, 'no refused revoke revoked the family');
  const stillLive = await postForm(s, '/oauth/token', refresh, owner);
  t.equal(stillLive.status, 200, 'no refused refresh consumed the refresh token');
  t.equal(s.upstream.received.length, 1, 'the upstream saw only the one proxied call');
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [client.secret, doomed.secret, issued.access_token!, issued.refresh_token!, vendor]), [], 'no secret or token logged');
});

t.test("Frontegg's exchange routes: wrong secret, unknown client and deleted credential are one 401", async (t) => {
  const s = await startTokenScenario();
  t.teardown(() => s.close());
  const client = await createTenantApiToken(s);
  const doomed = await createTenantApiToken(s);
  const vendor = await s.vendorToken();
  await fetch(`${s.gateway.url}/identity/resources/tenants/api-tokens/v1/${doomed.clientId}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${vendor}`, 'frontegg-tenant-id': 'tenant-1' },
  });
  for (const version of ['v1', 'v2']) {
    const texts = new Set<string>();
    for (const [name, clientId, secret] of [
      ['a wrong secret', client.clientId, 'wrong-secret-0123456789abcdefghijklmnopq'],
      ['an unknown client', UNKNOWN, client.secret],
      ['a deleted credential', doomed.clientId, doomed.secret],
    ] as const) {
      const res = await fetch(`${s.gateway.url}/identity/resources/auth/${version}/api-token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ clientId, secret }),
      });
      t.equal(res.status, 401, `${version}, ${name}: 401`);
      t.equal(res.headers.get('www-authenticate'), null, `${version}, ${name}: no challenge (no Basic was used)`);
      const text = await res.text();
      t.strictSame(JSON.parse(text), { errors: ['Invalid client credentials'], code: 'ERR_TOKEN_INVALID_CLIENT' }, `${version}, ${name}: Frontegg's error shape`);
      texts.add(text);
    }
    t.equal(texts.size, 1, `${version}: one answer for all three`);
  }
  t.equal(s.upstream.received.length, 0, 'nothing reached the upstream');
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [client.secret, doomed.secret, vendor]), [], 'no secret logged');
});
