/**
 * Security cases 32 and 33 at the token service (RFC 9700 §4.14.2; RFC 6819 §5.2.2.3; fosite
 * `handleRefreshTokenReuse`): refresh tokens are single-use; reusing a rotated one revokes the whole
 * family — the live refresh token and every JWT of the family (refused by checkLive through `sid`);
 * two concurrent refreshes with one token give exactly one success; expired, revoked and garbage
 * tokens are invalid_grant; at most 100 live per credential, the oldest going first. Over HTTP, a
 * stolen refresh token is worth nothing at `/oauth/token` or `/oauth/revoke` without the client's
 * secret (RFC 6749 §6, RFC 7009 §2.1), and an unauthenticated try neither consumes nor revokes it.
 */
import t from 'tap';
import { createManualClock } from '../../src/clock.js';
import { isGatewayError } from '../../src/errors.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { withTestDatabase } from '../helpers/postgres.js';
import { createTokenHarness, identityOf, PEER, STORE_KINDS, type TokenHarness, type StoreKind } from '../helpers/token-service.js';
import { basicAuth, createTenantApiToken, oauthAnswer, postForm, REALM, startTokenScenario } from '../helpers/token-scenario.js';

async function credential(h: TokenHarness) {
  const created = await h.service.createTenantApiToken({ tenantId: 't' }, {});
  const exchange = () => h.service.exchange({ clientId: created.record.clientId, secret: created.secret }, { peer: PEER });
  return { created, exchange };
}

// The PostgreSQL harnesses each get a schema of this file's database.
const database = await withTestDatabase(t);
const harness = (kind: StoreKind, overrides: Parameters<typeof createTokenHarness>[1] = {}) => createTokenHarness(kind, overrides, database);

for (const kind of STORE_KINDS) {
  t.test(`${kind}: reuse of a rotated refresh token revokes the whole family (case 32)`, async (t) => {
    const h = await harness(kind);
    t.teardown(h.close);
    const { exchange } = await credential(h);
    const first = await exchange();
    const second = await h.service.refresh({ refreshToken: first.refreshToken! }, { peer: PEER });
    t.not(second.refreshToken, first.refreshToken, 'rotated');
    const older = identityOf(first.accessToken);
    const newer = identityOf(second.accessToken);
    t.equal(newer.sessionId, older.sessionId, 'one family');
    await h.service.checkLive(newer); // cached as live

    await t.rejects(h.service.refresh({ refreshToken: first.refreshToken! }, { peer: PEER }), { code: 'ERR_TOKEN_INVALID_GRANT' }, 'reuse');
    await t.rejects(h.service.refresh({ refreshToken: second.refreshToken! }, { peer: PEER }), { code: 'ERR_TOKEN_INVALID_GRANT' }, 'the live token of the family is revoked too');
    await t.rejects(h.service.checkLive(newer), { code: 'ERR_AUTH_REVOKED' }, "the family's JWTs are refused at once, although cached");
    await t.rejects(h.service.checkLive(older), { code: 'ERR_AUTH_REVOKED' });
    t.match(h.sink.lines().join('\n'), /refresh token reuse/, 'logged');

    const other = await exchange();
    await h.service.checkLive(identityOf(other.accessToken));
    t.pass('another family of the same credential is not affected');
  });

  t.test(`${kind}: two concurrent refreshes with one token → exactly one success (case 32)`, async (t) => {
    const h = await harness(kind);
    t.teardown(h.close);
    const { exchange } = await credential(h);
    const { refreshToken } = await exchange();
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => h.service.refresh({ refreshToken: refreshToken! }, { peer: PEER })));
    const ok = results.filter((r) => r.status === 'fulfilled');
    t.equal(ok.length, 1, 'one success');
    for (const r of results) if (r.status === 'rejected') t.equal(isGatewayError(r.reason) && r.reason.code, 'ERR_TOKEN_INVALID_GRANT');
  });

  t.test(`${kind}: expired, revoked and garbage refresh tokens → invalid_grant (case 33)`, async (t) => {
    const h = await harness(kind, { refreshTokens: { enabled: true, ttlSeconds: 60, maxPerCredential: 100 } });
    t.teardown(h.close);
    const { created, exchange } = await credential(h);
    const expired = await exchange();
    h.clock.advance(60_000);
    const revoked = await exchange();
    await h.service.revoke(revoked.refreshToken!);
    const deleted = await exchange();
    const userToken = await h.service.createUserApiToken({ tenantId: 't', userId: 'u' }, {});
    const member = await h.service.exchange({ clientId: userToken.record.clientId, secret: userToken.secret }, { peer: PEER });
    await h.directory.deleteMembership('t', 'u');
    const cases: Array<[string, string]> = [
      ['expired', expired.refreshToken!],
      ['revoked', revoked.refreshToken!],
      ['garbage', 'garbage'],
      ['empty', ''],
      ['a JWT', revoked.accessToken],
      ['a client secret', created.secret],
      ['membership gone', member.refreshToken!],
    ];
    for (const [name, refreshToken] of cases) await t.rejects(h.service.refresh({ refreshToken }, { peer: PEER }), { code: 'ERR_TOKEN_INVALID_GRANT' }, name);
    await h.service.deleteApiToken('tenant', { tenantId: 't' }, created.record.clientId);
    await t.rejects(h.service.refresh({ refreshToken: deleted.refreshToken! }, { peer: PEER }), { code: 'ERR_TOKEN_INVALID_GRANT' }, 'credential deleted');
    await h.directory.putMembership('t', 'u');
    const back = await h.service.refresh({ refreshToken: member.refreshToken! }, { peer: PEER });
    t.type(back.refreshToken, 'string', 'a refused refresh did not consume the token: it works once the membership is back');
  });

  t.test(`${kind}: the 101st refresh token evicts the oldest`, async (t) => {
    const h = await harness(kind);
    t.teardown(h.close);
    const { exchange } = await credential(h);
    const issued: string[] = [];
    for (let i = 0; i < 101; i++) {
      issued.push((await exchange()).refreshToken!);
      h.clock.advance(1);
    }
    await t.rejects(h.service.refresh({ refreshToken: issued[0]! }, { peer: PEER }), { code: 'ERR_TOKEN_INVALID_GRANT' }, 'the oldest is gone');
    await h.service.refresh({ refreshToken: issued[1]! }, { peer: PEER });
    await h.service.refresh({ refreshToken: issued[100]! }, { peer: PEER });
    t.pass('the others still work');
  });
}

t.test('a stolen refresh token without the client secret: refused at /oauth/token and /oauth/revoke, left to its owner', async (t) => {
  const s = await startTokenScenario();
  t.teardown(() => s.close());
  const client = await createTenantApiToken(s);
  const owner = { authorization: basicAuth(client.clientId, client.secret) };
  const tokens = async (res: Promise<Response>) => (await (await res).json()) as Record<string, string>;
  const first = await tokens(postForm(s, '/oauth/token', 'grant_type=client_credentials', owner));
  const second = await tokens(postForm(s, '/oauth/token', `grant_type=refresh_token&refresh_token=${encodeURIComponent(first.refresh_token!)}`, owner));
  // The thief has both refresh tokens (the rotated one and the live one) and the client id, not the secret.
  const attempts: Array<[string, string, string, Record<string, string>]> = [];
  for (const stolen of [first.refresh_token!, second.refresh_token!]) {
    const refresh = `grant_type=refresh_token&refresh_token=${encodeURIComponent(stolen)}`;
    const revoke = `token=${encodeURIComponent(stolen)}`;
    for (const [path, body] of [['/oauth/token', refresh], ['/oauth/revoke', revoke]] as const) {
      attempts.push([`${path}, no client authentication`, path, body, {}]);
      attempts.push([`${path}, client_id alone`, path, `${body}&client_id=${client.clientId}`, {}]);
      attempts.push([`${path}, a guessed secret`, path, body, { authorization: basicAuth(client.clientId, 'guess') }]);
    }
  }
  for (const [name, path, body, headers] of attempts) {
    const res = await postForm(s, path, body, headers);
    t.equal(res.status, 401, name);
    t.match(await res.json(), { error: 'invalid_client' }, name);
  }

  const api = await fetch(`${s.gateway.url}/api/x`, { headers: { authorization: `Bearer ${second.access_token!}` } });
  t.equal(api.status, 200, "no unauthenticated try revoked the family: the owner's JWT still works");
  const third = await postForm(s, '/oauth/token', `grant_type=refresh_token&refresh_token=${encodeURIComponent(second.refresh_token!)}`, owner);
  t.equal(third.status, 200, 'nor consumed the live refresh token');
  const { access_token: latest } = (await third.json()) as Record<string, string>;

  const reuse = await postForm(s, '/oauth/token', `grant_type=refresh_token&refresh_token=${encodeURIComponent(first.refresh_token!)}`, owner);
  t.equal(reuse.status, 400, 'an authenticated reuse of a rotated token is still invalid_grant (case 32)');
  t.match(await reuse.json(), { error: 'invalid_grant' });
  const after = await fetch(`${s.gateway.url}/api/x`, { headers: { authorization: `Bearer ${latest!}` } });
  t.equal(after.status, 401, '… and revokes the whole family');
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [client.secret, first.refresh_token!, second.refresh_token!, latest!]), [], 'no secret or token logged');
});

t.test('over HTTP: concurrent refreshes with one token → one success; a reuse kills the family at the proxy (case 32)', async (t) => {
  const s = await startTokenScenario();
  t.teardown(() => s.close());
  const client = await createTenantApiToken(s);
  const owner = { authorization: basicAuth(client.clientId, client.secret) };
  const first = (await (await postForm(s, '/oauth/token', 'grant_type=client_credentials', owner)).json()) as Record<string, string>;
  const refresh = (token: string) => postForm(s, '/oauth/token', new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token }).toString(), owner);
  const answers = await Promise.all(Array.from({ length: 6 }, () => oauthAnswer(refresh(first.refresh_token!))));
  const winners = answers.filter((a) => a.status === 200);
  t.equal(winners.length, 1, 'exactly one success');
  for (const a of answers.filter((x) => x.status !== 200)) {
    t.strictSame({ status: a.status, challenge: a.challenge, error: a.error }, { status: 400, challenge: null, error: 'invalid_grant' }, 'the others: invalid_grant');
  }
  const live = JSON.parse(winners[0]!.text) as Record<string, string>;
  // The concurrent losers were reuses: the family is already revoked, the winner's tokens with it.
  const refused = await fetch(`${s.gateway.url}/api/x`, { headers: { authorization: `Bearer ${live.access_token!}` } });
  t.equal(refused.status, 401, "the winner's JWT is refused: the losers' reuse revoked the family");
  t.equal(refused.headers.get('www-authenticate'), `Bearer ${REALM}, error="invalid_token"`);
  t.match(await refused.json(), { code: 'ERR_AUTH_REVOKED' });
  t.strictSame(
    (({ status, error }) => ({ status, error }))(await oauthAnswer(refresh(live.refresh_token!))),
    { status: 400, error: 'invalid_grant' },
    "and so is the winner's refresh token",
  );
  const v1 = await fetch(`${s.gateway.url}/identity/resources/auth/v1/api-token/token/refresh`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ refreshToken: first.refresh_token! }),
  });
  t.equal(v1.status, 400, "Frontegg's refresh route refuses the reuse too");
  t.strictSame(await v1.json(), { errors: ['Invalid grant'], code: 'ERR_TOKEN_INVALID_GRANT' });
  t.equal(s.upstream.received.length, 0, 'nothing reached the upstream');
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [client.secret, first.refresh_token!, first.access_token!, live.refresh_token!, live.access_token!]), [], 'no secret or token logged');
  t.ok(s.gateway.logs.lines().some((l) => l.includes('refresh token reuse')), 'the reuse is logged, by fingerprint');
});

t.test('over HTTP: expired, revoked and garbage refresh tokens → invalid_grant; a refresh token is no Bearer token (case 33)', async (t) => {
  const clock = createManualClock(Date.now());
  const s = await startTokenScenario({ clock, tokenService: { refreshTokens: { ttlSeconds: 120 } } });
  t.teardown(() => s.close());
  const client = await createTenantApiToken(s);
  const owner = { authorization: basicAuth(client.clientId, client.secret) };
  const exchange = async () => (await (await postForm(s, '/oauth/token', 'grant_type=client_credentials', owner)).json()) as Record<string, string>;
  const expired = await exchange();
  clock.advance(121_000);
  const revoked = await exchange();
  t.equal((await postForm(s, '/oauth/revoke', new URLSearchParams({ token: revoked.refresh_token! }).toString(), owner)).status, 200);
  const live = await exchange();
  const cases: [string, string][] = [
    ['expired', expired.refresh_token!],
    ['revoked', revoked.refresh_token!],
    ['garbage', 'garbage'],
    ['an access token', live.access_token!],
    ['the client secret', client.secret],
    ['a truncated refresh token', live.refresh_token!.slice(0, -2)],
  ];
  for (const [name, token] of cases) {
    const answer = await oauthAnswer(postForm(s, '/oauth/token', new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token }).toString(), owner));
    t.strictSame({ status: answer.status, challenge: answer.challenge, error: answer.error, cacheControl: answer.cacheControl }, { status: 400, challenge: null, error: 'invalid_grant', cacheControl: 'no-store' }, name);
  }
  for (const header of [['authorization', `Bearer ${live.refresh_token!}`], ['x-api-key', live.refresh_token!]] as const) {
    const res = await fetch(`${s.gateway.url}/api/x`, { headers: { [header[0]]: header[1] } });
    t.equal(res.status, 401, `a refresh token in ${header[0]}: 401`);
    t.equal(res.headers.get('www-authenticate'), `Bearer ${REALM}, error="invalid_token"`);
    t.match(await res.json(), { code: 'ERR_AUTH_MALFORMED' });
  }
  const still = await postForm(s, '/oauth/token', new URLSearchParams({ grant_type: 'refresh_token', refresh_token: live.refresh_token! }).toString(), owner);
  t.equal(still.status, 200, 'none of it consumed the live refresh token');
  const rotated = (await still.json()) as Record<string, string>;
  t.equal(s.upstream.received.length, 0, 'nothing reached the upstream');
  t.strictSame(
    leakedSecrets(s.gateway.logs.lines(), [client.secret, ...[expired, revoked, live, rotated].flatMap((x) => [x.access_token!, x.refresh_token!])]),
    [],
    'no secret or token logged',
  );
});
