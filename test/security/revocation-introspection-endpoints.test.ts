/**
 * Case 35 (RFC 7009 §2.1–2.2; RFC 7662 §2.1–2.2): `/oauth/revoke` needs the client's own
 * authentication and `/oauth/introspect` a vendor token — 401 otherwise; an unknown or invalid
 * token is revoked with 200; another client's token is answered 200 and not revoked; revoking a
 * refresh token (or one of its JWTs) kills the whole family, which the proxy then refuses; an
 * inactive token introspects as exactly `{"active":false}`. Nothing reaches the upstream but the
 * allowed proxied calls, and no token or secret is logged.
 */
import t from 'tap';
import { leakedSecrets } from '../helpers/log-sink.js';
import { basicAuth, createTenantApiToken, oauthAnswer, postForm, REALM, startTokenScenario } from '../helpers/token-scenario.js';

t.test('POST /oauth/revoke and /oauth/introspect', async (t) => {
  const s = await startTokenScenario();
  t.teardown(() => s.close());
  const a = await createTenantApiToken(s);
  const b = await createTenantApiToken(s);
  const aAuth = { authorization: basicAuth(a.clientId, a.secret) };
  const bAuth = { authorization: basicAuth(b.clientId, b.secret) };
  const exchange = async () => (await (await postForm(s, '/oauth/token', 'grant_type=client_credentials', aAuth)).json()) as Record<string, string>;
  const issued = await exchange();
  const second = await exchange();
  const vendor = await s.vendorToken();
  const introspect = async (token: string) => {
    const res = await postForm(s, '/oauth/introspect', new URLSearchParams({ token }).toString(), { authorization: `Bearer ${vendor}` });
    t.equal(res.status, 200);
    return (await res.json()) as Record<string, unknown>;
  };
  const proxied = async (token: string) => {
    const res = await fetch(`${s.gateway.url}/api/x`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, challenge: res.headers.get('www-authenticate'), code: ((await res.json()) as { code?: string }).code };
  };
  const refusal = (answer: Awaited<ReturnType<typeof oauthAnswer>>) => ({ status: answer.status, challenge: answer.challenge, error: answer.error });

  t.test('unauthenticated calls are 401', async (t) => {
    t.strictSame(refusal(await oauthAnswer(postForm(s, '/oauth/introspect', 'token=x'))), { status: 401, challenge: `Bearer ${REALM}`, error: 'invalid_client' }, 'introspect without a vendor token');
    t.strictSame(
      refusal(await oauthAnswer(postForm(s, '/oauth/introspect', 'token=x', { authorization: `Bearer ${issued.access_token!}` }))),
      { status: 401, challenge: `Bearer ${REALM}`, error: 'invalid_client' },
      'introspect with an M2M token, which is not a vendor token',
    );
    t.strictSame(
      refusal(await oauthAnswer(postForm(s, '/oauth/introspect', 'token=x', aAuth))),
      { status: 401, challenge: `Bearer ${REALM}`, error: 'invalid_client' },
      "introspect with a client's Basic credentials",
    );
    t.strictSame(refusal(await oauthAnswer(postForm(s, '/oauth/revoke', 'token=x'))), { status: 401, challenge: null, error: 'invalid_client' }, 'revoke without client authentication');
    const target = new URLSearchParams({ token: issued.refresh_token! }).toString();
    const refusals: { name: string; body: string; headers?: Record<string, string>; challenge: string | null }[] = [
      { name: 'client_id without client_secret', body: `${target}&client_id=${a.clientId}`, challenge: null },
      { name: 'a wrong secret in the body', body: `${target}&client_id=${a.clientId}&client_secret=wrong`, challenge: null },
      { name: 'a wrong secret in Basic', body: target, headers: { authorization: basicAuth(a.clientId, 'wrong') }, challenge: `Basic ${REALM}` },
      { name: 'an unknown client in Basic', body: target, headers: { authorization: basicAuth('nobody', 'wrong') }, challenge: `Basic ${REALM}` },
      { name: 'the vendor token', body: target, headers: { authorization: `Bearer ${vendor}` }, challenge: `Basic ${REALM}` },
    ];
    for (const r of refusals) {
      t.strictSame(refusal(await oauthAnswer(postForm(s, '/oauth/revoke', r.body, r.headers))), { status: 401, challenge: r.challenge, error: 'invalid_client' }, `revoke with ${r.name}`);
    }
    t.match(await introspect(issued.refresh_token!), { active: true }, 'no refused revoke revoked anything');
  });

  t.test('unknown and invalid tokens: revoke is 200, introspection exactly {"active":false}', async (t) => {
    for (const token of ['garbage', 'a.b.c', issued.access_token!.slice(0, -4) + 'AAAA', a.secret, vendor]) {
      const res = await postForm(s, '/oauth/revoke', new URLSearchParams({ token }).toString(), aAuth);
      t.equal(res.status, 200, 'revoke: 200 (RFC 7009 §2.2)');
      t.equal(await res.text(), '', 'with an empty body');
    }
    for (const token of ['garbage', issued.access_token!.slice(0, -4) + 'AAAA', a.secret, vendor]) t.strictSame(await introspect(token), { active: false });
    t.match(await introspect(issued.access_token!), { active: true }, 'none of it revoked anything');
  });

  t.test("another client's tokens: 200, and not revoked", async (t) => {
    for (const token of [issued.refresh_token!, issued.access_token!]) {
      const res = await postForm(s, '/oauth/revoke', new URLSearchParams({ token }).toString(), bAuth);
      t.equal(res.status, 200, 'the same 200 as for any token');
    }
    t.match(await introspect(issued.refresh_token!), { active: true, client_id: a.clientId }, 'the refresh token is still active');
    t.match(await introspect(issued.access_token!), { active: true }, 'the access token too');
    t.match(await proxied(issued.access_token!), { status: 200 }, 'and passes the proxy');
  });

  t.test('revoking a refresh token kills its access tokens; revoking a JWT kills its family', async (t) => {
    const before = s.upstream.received.length;
    const revoked = await postForm(s, '/oauth/revoke', new URLSearchParams({ token: issued.refresh_token! }).toString(), aAuth);
    t.equal(revoked.status, 200);
    t.strictSame(await introspect(issued.refresh_token!), { active: false });
    t.strictSame(await introspect(issued.access_token!), { active: false });
    t.strictSame(await proxied(issued.access_token!), { status: 401, challenge: `Bearer ${REALM}, error="invalid_token"`, code: 'ERR_AUTH_REVOKED' }, "the family's JWT is refused at the proxy");
    const reuse = await oauthAnswer(postForm(s, '/oauth/token', new URLSearchParams({ grant_type: 'refresh_token', refresh_token: issued.refresh_token! }).toString(), aAuth));
    t.strictSame(refusal(reuse), { status: 400, challenge: null, error: 'invalid_grant' }, 'the revoked refresh token refreshes nothing');

    t.match(await proxied(second.access_token!), { status: 200 }, 'another family of the same client is untouched');
    const viaJwt = await postForm(s, '/oauth/revoke', new URLSearchParams({ token: second.access_token! }).toString(), aAuth);
    t.equal(viaJwt.status, 200);
    t.strictSame(await introspect(second.refresh_token!), { active: false }, "revoking the JWT revoked its family's refresh token");
    t.strictSame(await proxied(second.access_token!), { status: 401, challenge: `Bearer ${REALM}, error="invalid_token"`, code: 'ERR_AUTH_REVOKED' });
    t.equal(s.upstream.received.length, before + 1, 'only the allowed call reached the upstream');
  });

  t.test('no token or secret in the logs', async (t) => {
    t.strictSame(
      leakedSecrets(s.gateway.logs.lines(), [a.secret, b.secret, vendor, issued.access_token!, issued.refresh_token!, second.access_token!, second.refresh_token!]),
      [],
    );
  });
});
