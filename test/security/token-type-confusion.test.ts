/**
 * Security case 21: a token is accepted only as what it is. The `type` claim must be one of the
 * four M2M types and match the header it came in (access tokens in X-API-KEY, client-credentials
 * JWTs in Authorization: Bearer), whether verified now or served from the cache; the header `typ`
 * must be JWT (RFC 8725 §3.11-3.12; RFC 9068 §4). Authenticator level first, then over HTTP: minted
 * tokens through a gateway, and the token service's real tokens each presented where another kind
 * belongs — a refresh token as an access token, a client-credentials JWT in X-API-KEY, an access
 * token or API JWT at the refresh endpoints (400 invalid_grant there, consuming nothing).
 */
import t from 'tap';
import { TOKEN_TYPES } from '../../src/config/schema.js';
import { CREDENTIAL_KIND_OF, type CredentialKind } from '../../src/auth/identity.js';
import { createAuthHarness } from '../helpers/auth-harness.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { expectForwarded, expectRefused, type AuthRefusal } from '../helpers/refusals.js';
import { startScenario } from '../helpers/scenario.js';
import { basicAuth, createTenantApiToken, postForm, startTokenScenario } from '../helpers/token-scenario.js';
import { mintToken, type MintOptions } from '../helpers/tokens.js';

/** Tokens of no M2M type, or a wrong `typ`, all validly signed: presented as a client-credentials JWT. */
const FOREIGN: Array<[string, MintOptions, AuthRefusal | 'OK']> = [
  ['an interactive login token (userToken)', { claims: { type: 'userToken' } }, 'ERR_AUTH_TOKEN_TYPE'],
  ['a vendor management token', { claims: { type: 'vendor' } }, 'ERR_AUTH_TOKEN_TYPE'],
  ['a refresh token', { claims: { type: 'refresh' } }, 'ERR_AUTH_TOKEN_TYPE'],
  ['an OIDC ID token (no type, nonce)', { claims: { type: undefined, nonce: 'n', auth_time: 1 } }, 'ERR_AUTH_TOKEN_TYPE'],
  ['type in another case', { claims: { type: 'USERAPITOKEN' } }, 'ERR_AUTH_TOKEN_TYPE'],
  ['type as an array', { claims: { type: ['userApiToken'] } }, 'ERR_AUTH_TOKEN_TYPE'],
  ['type __proto__', { claims: { type: '__proto__' } }, 'ERR_AUTH_TOKEN_TYPE'],
  ['type constructor', { claims: { type: 'constructor' } }, 'ERR_AUTH_TOKEN_TYPE'],
  ['a token minted for another audience', { claims: { aud: 'another-api' } }, 'ERR_AUTH_CLAIMS'],
  ['typ missing', { header: { typ: undefined } }, 'ERR_AUTH_MALFORMED'],
  ['typ at+jwt (RFC 9068)', { header: { typ: 'at+jwt' } }, 'ERR_AUTH_MALFORMED'],
  ['typ JWS', { header: { typ: 'JWS' } }, 'ERR_AUTH_MALFORMED'],
  ['typ JOSE', { header: { typ: 'JOSE' } }, 'ERR_AUTH_MALFORMED'],
  ['typ secevent+jwt', { header: { typ: 'secevent+jwt' } }, 'ERR_AUTH_MALFORMED'],
  ['typ a number', { header: { typ: 1 } }, 'ERR_AUTH_MALFORMED'],
  ['typ empty', { header: { typ: '' } }, 'ERR_AUTH_MALFORMED'],
  ['typ jwt in lower case', { header: { typ: 'jwt' } }, 'OK'],
];

t.test('each type is accepted in its own header only, cached or not', async (t) => {
  const h = await createAuthHarness(t);
  for (const type of TOKEN_TYPES) {
    const token = await mintToken(h.issuers[0]!, { type, nowMs: h.clock.now() });
    const right = CREDENTIAL_KIND_OF[type];
    const wrong = right === 'bearer' ? 'apiKey' : 'bearer';
    t.equal(await h.outcome(wrong, token), 'ERR_AUTH_TOKEN_TYPE', `${type} in the wrong header, first use`);
    t.equal(await h.outcome(right, token), 'OK', `${type} in its header`);
    t.equal(await h.outcome(wrong, token), 'ERR_AUTH_TOKEN_TYPE', `${type} in the wrong header, cached`);
  }
});

t.test('non-M2M types and foreign tokens are refused', async (t) => {
  const h = await createAuthHarness(t);
  for (const [name, options, code] of FOREIGN) t.equal(await h.outcome('bearer', await mintToken(h.issuers[0]!, { nowMs: h.clock.now(), ...options })), code, name);
});

t.test('over HTTP: each type only in its own header, cached or not; foreign types and typs are 401', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const tokens: string[] = [];
  const line = (kind: CredentialKind, token: string): [string, string] => (kind === 'bearer' ? ['Authorization', `Bearer ${token}`] : ['X-API-KEY', token]);
  for (const type of TOKEN_TYPES) {
    const token = await s.mint({ type });
    tokens.push(token);
    const right = CREDENTIAL_KIND_OF[type];
    const wrong = right === 'bearer' ? 'apiKey' : 'bearer';
    await expectRefused(t, s, `${type} in the wrong header, first use`, { headers: [line(wrong, token)] }, 'ERR_AUTH_TOKEN_TYPE');
    await expectForwarded(t, s, `${type} in its header`, { headers: [line(right, token)] }, { 'x-auth-token-type': type });
    await expectRefused(t, s, `${type} in the wrong header, cached`, { headers: [line(wrong, token)] }, 'ERR_AUTH_TOKEN_TYPE');
  }
  for (const [name, options, code] of FOREIGN) {
    for (const type of ['userApiToken', 'userAccessToken'] as const) {
      const token = await s.mint({ type, ...options });
      tokens.push(token);
      const request = { headers: [line(CREDENTIAL_KIND_OF[type], token)] };
      if (code === 'OK') await expectForwarded(t, s, `${name} (${type}): accepted`, request);
      else await expectRefused(t, s, `${name} (${type})`, request, code);
    }
  }
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), tokens), [], 'no token in the logs');
});

t.test('over HTTP: the token service’s own tokens are refused wherever another kind belongs', async (t) => {
  const s = await startTokenScenario();
  t.teardown(() => s.close());
  const client = await createTenantApiToken(s);
  const auth = { authorization: basicAuth(client.clientId, client.secret) };
  const issued = (await (await postForm(s, '/oauth/token', 'grant_type=client_credentials', auth)).json()) as { access_token: string; refresh_token: string };
  const vendor = await s.vendorToken();
  const created = await fetch(`${s.gateway.url}/identity/resources/tenants/access-tokens/v1`, {
    method: 'POST',
    headers: { authorization: `Bearer ${vendor}`, 'frontegg-tenant-id': 'tenant-1', 'content-type': 'application/json' },
    body: JSON.stringify({ description: 'case 21' }),
  });
  t.equal(created.status, 201, 'an access token created');
  const accessToken = ((await created.json()) as { secret: string }).secret;

  await expectForwarded(t, s, 'control: the API JWT as Bearer', { headers: [['Authorization', `Bearer ${issued.access_token}`]] }, { 'x-auth-token-type': 'tenantApiToken' });
  await expectForwarded(t, s, 'control: the access token in X-API-KEY', { headers: [['X-API-KEY', accessToken]] }, { 'x-auth-token-type': 'tenantAccessToken' });
  const proxied: Array<[string, [string, string], AuthRefusal]> = [
    ['the refresh token as Bearer', ['Authorization', `Bearer ${issued.refresh_token}`], 'ERR_AUTH_MALFORMED'],
    ['the refresh token in X-API-KEY', ['X-API-KEY', issued.refresh_token], 'ERR_AUTH_MALFORMED'],
    ['the API JWT in X-API-KEY', ['X-API-KEY', issued.access_token], 'ERR_AUTH_TOKEN_TYPE'],
    ['the access token as Bearer', ['Authorization', `Bearer ${accessToken}`], 'ERR_AUTH_TOKEN_TYPE'],
    ['the vendor token as Bearer', ['Authorization', `Bearer ${vendor}`], 'ERR_AUTH_TOKEN_TYPE'],
    ['the vendor token in X-API-KEY', ['X-API-KEY', vendor], 'ERR_AUTH_TOKEN_TYPE'],
    ['the client secret as Bearer', ['Authorization', `Bearer ${client.secret}`], 'ERR_AUTH_MALFORMED'],
  ];
  for (const [name, header, code] of proxied) await expectRefused(t, s, name, { headers: [header] }, code);

  for (const [name, token] of [['the API JWT', issued.access_token], ['an access token', accessToken], ['the vendor token', vendor]] as const) {
    const oauth = await postForm(s, '/oauth/token', new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token }).toString(), auth);
    t.equal(oauth.status, 400, `${name} at /oauth/token: 400`);
    t.match(await oauth.json(), { error: 'invalid_grant' }, `${name} at /oauth/token: invalid_grant`);
    for (const version of ['v1', 'v2']) {
      const res = await fetch(`${s.gateway.url}/identity/resources/auth/${version}/api-token/token/refresh`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ refreshToken: token }),
      });
      t.equal(res.status, 400, `${name} at the ${version} refresh route: 400`);
      t.match(await res.json(), { code: 'ERR_TOKEN_INVALID_GRANT' }, `${name} at the ${version} refresh route: invalid grant`);
    }
  }
  const refreshed = await postForm(s, '/oauth/token', new URLSearchParams({ grant_type: 'refresh_token', refresh_token: issued.refresh_token }).toString(), auth);
  t.equal(refreshed.status, 200, 'control: the real refresh token was not consumed by any of that');
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [issued.access_token, issued.refresh_token, accessToken, vendor, client.secret]), [], 'no token or secret in the logs');
});
