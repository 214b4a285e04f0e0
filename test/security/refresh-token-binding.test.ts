/**
 * Case 31 (RFC 6749 §6, §10.4; fosite "Client ID mismatch"): a refresh token is bound to the
 * client it was issued to. Client B, properly authenticated, presenting client A's refresh token
 * gets 400 `invalid_grant` (no challenge: B's own authentication succeeded), whether B used Basic
 * or the body; the refusal neither consumes nor revokes A's token, nothing reaches the upstream,
 * and no token or secret is logged. Frontegg's own refresh routes take the refresh token alone,
 * as Frontegg's SDKs send it, so the binding applies at `/oauth/token`.
 */
import t from 'tap';
import { leakedSecrets } from '../helpers/log-sink.js';
import { basicAuth, createTenantApiToken, oauthAnswer, postForm, startTokenScenario } from '../helpers/token-scenario.js';

t.test("client B presenting client A's refresh token → invalid_grant, and A keeps it", async (t) => {
  const s = await startTokenScenario();
  t.teardown(() => s.close());
  const a = await createTenantApiToken(s, 'tenant-1');
  const b = await createTenantApiToken(s, 'tenant-1');
  const other = await createTenantApiToken(s, 'tenant-2');
  const ownerAuth = { authorization: basicAuth(a.clientId, a.secret) };
  const issued = (await (await postForm(s, '/oauth/token', 'grant_type=client_credentials', ownerAuth)).json()) as Record<string, string>;
  const refresh = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: issued.refresh_token! }).toString();

  const attempts: [string, string, Record<string, string>][] = [
    ['same tenant, Basic', refresh, { authorization: basicAuth(b.clientId, b.secret) }],
    ['same tenant, client_secret_post', `${refresh}&${new URLSearchParams({ client_id: b.clientId, client_secret: b.secret }).toString()}`, {}],
    ['another tenant, Basic', refresh, { authorization: basicAuth(other.clientId, other.secret) }],
  ];
  for (const [name, body, headers] of attempts) {
    const answer = await oauthAnswer(postForm(s, '/oauth/token', body, headers));
    t.strictSame(
      { status: answer.status, challenge: answer.challenge, error: answer.error, cacheControl: answer.cacheControl },
      { status: 400, challenge: null, error: 'invalid_grant', cacheControl: 'no-store' },
      name,
    );
  }

  const api = await fetch(`${s.gateway.url}/api/x`, { headers: { authorization: `Bearer ${issued.access_token!}` } });
  t.equal(api.status, 200, "the refusals did not revoke A's family");
  const back = await postForm(s, '/oauth/token', refresh, ownerAuth);
  t.equal(back.status, 200, 'nor consume the refresh token: A still refreshes with it');
  const rotated = (await back.json()) as Record<string, string>;
  t.equal(s.upstream.received.length, 1, 'the upstream saw only the one proxied call');
  t.strictSame(
    leakedSecrets(s.gateway.logs.lines(), [a.secret, b.secret, other.secret, issued.refresh_token!, issued.access_token!, rotated.refresh_token!, rotated.access_token!]),
    [],
    'no token or secret logged',
  );
});
