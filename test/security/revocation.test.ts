/**
 * Security cases 31 and 35 at the token service (RFC 6749 §6, §10.4; RFC 7009 §2.1–2.2; RFC 7662
 * §2.2; fosite "Client ID mismatch"): client B can neither refresh nor revoke client A's refresh
 * token, and a refused attempt rotates nothing; revoking unknown tokens is a quiet no-op; revoking
 * a refresh token kills the JWTs of its family; an inactive token introspects to exactly
 * `{active:false}`; deleting a credential or a membership refuses its JWTs at once (SPEC §3).
 */
import t from 'tap';
import { leakedSecrets } from '../helpers/log-sink.js';
import { withTestDatabase } from '../helpers/postgres.js';
import { createTokenHarness, identityOf, PEER, STORE_KINDS, type TokenHarness, type StoreKind } from '../helpers/token-service.js';

async function client(h: TokenHarness, tenantId = 't') {
  const created = await h.service.createTenantApiToken({ tenantId }, {});
  const issued = await h.service.exchange({ clientId: created.record.clientId, secret: created.secret }, { peer: PEER });
  return { clientId: created.record.clientId, issued };
}

// The PostgreSQL harnesses each get a schema of this file's database.
const database = await withTestDatabase(t);
const harness = (kind: StoreKind, overrides: Parameters<typeof createTokenHarness>[1] = {}) => createTokenHarness(kind, overrides, database);

for (const kind of STORE_KINDS) {
  t.test(`${kind}: client B cannot refresh or revoke client A's refresh token (cases 31, 35)`, async (t) => {
    const h = await harness(kind);
    t.teardown(h.close);
    const a = await client(h);
    const b = await client(h);
    await t.rejects(h.service.refresh({ refreshToken: a.issued.refreshToken!, clientId: b.clientId }, { peer: PEER }), { code: 'ERR_TOKEN_INVALID_GRANT' });
    await h.service.revoke(a.issued.refreshToken!, b.clientId);
    await h.service.revoke(a.issued.accessToken, b.clientId);
    await h.service.checkLive(identityOf(a.issued.accessToken));
    const next = await h.service.refresh({ refreshToken: a.issued.refreshToken!, clientId: a.clientId }, { peer: PEER });
    t.type(next.refreshToken, 'string', "A's token was neither rotated nor revoked by B's attempts");
    t.strictSame(leakedSecrets(h.sink.lines(), [a.issued.refreshToken!, a.issued.accessToken, b.issued.refreshToken!, next.refreshToken!]), [], 'no token logged');
  });

  t.test(`${kind}: revoking a refresh token kills its family's JWTs; unknown tokens are a no-op (case 35)`, async (t) => {
    const h = await harness(kind);
    t.teardown(h.close);
    const a = await client(h);
    const identity = identityOf(a.issued.accessToken);
    await h.service.checkLive(identity);
    for (const unknown of ['', 'nope', 'a.b.c', a.issued.accessToken + 'x']) await h.service.revoke(unknown);
    t.pass('unknown or invalid tokens: no error (RFC 7009 §2.2)');
    await h.service.revoke(a.issued.refreshToken!, a.clientId);
    await t.rejects(h.service.checkLive(identity), { code: 'ERR_AUTH_REVOKED' }, 'the JWT is refused at once, although cached');
    await t.rejects(h.service.refresh({ refreshToken: a.issued.refreshToken! }, { peer: PEER }), { code: 'ERR_TOKEN_INVALID_GRANT' });
    await h.service.revoke(a.issued.refreshToken!);
    t.pass('revoking twice is fine');
    t.strictSame(leakedSecrets(h.sink.lines(), [a.issued.refreshToken!, a.issued.accessToken]), [], 'no token logged');
  });

  t.test(`${kind}: inactive tokens introspect to exactly {active:false} (case 35)`, async (t) => {
    const h = await harness(kind);
    t.teardown(h.close);
    const a = await client(h);
    const rotated = await h.service.refresh({ refreshToken: a.issued.refreshToken! }, { peer: PEER });
    const access = await h.service.createTenantAccessToken({ tenantId: 't' }, { expiresInMinutes: 5 });
    t.match(await h.service.introspect(rotated.refreshToken!), { active: true });
    const inactive: Array<[string, string]> = [
      ['a used refresh token', a.issued.refreshToken!],
      ['garbage', 'garbage'],
      ['a tampered JWT', a.issued.accessToken.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'))],
    ];
    for (const [name, token] of inactive) t.strictSame(await h.service.introspect(token), { active: false }, name);
    await h.service.deleteAccessToken('tenant', { tenantId: 't' }, access.record.id);
    t.strictSame(await h.service.introspect(access.jwt), { active: false }, 'a deleted access token');
    h.clock.advance(600_000);
    t.strictSame(await h.service.introspect(rotated.accessToken), { active: false }, 'an expired JWT');
  });

  t.test(`${kind}: deleting a credential or a membership refuses its JWTs at once, even cached (SPEC §3)`, async (t) => {
    const h = await harness(kind);
    t.teardown(h.close);
    const a = await client(h);
    const tenantJwt = identityOf(a.issued.accessToken);
    const user = await h.service.createUserApiToken({ tenantId: 't', userId: 'u' }, {});
    const userJwt = identityOf((await h.service.exchange({ clientId: user.record.clientId, secret: user.secret }, { peer: PEER })).accessToken);
    const userAccess = identityOf((await h.service.createUserAccessToken({ tenantId: 't', userId: 'u' }, {})).jwt);
    for (const identity of [tenantJwt, userJwt, userAccess]) await h.service.checkLive(identity);

    await h.service.deleteApiToken('tenant', { tenantId: 't' }, a.clientId);
    await t.rejects(h.service.checkLive(tenantJwt), { code: 'ERR_AUTH_REVOKED' }, 'credential deleted');
    await h.directory.deleteMembership('t', 'u');
    await t.rejects(h.service.checkLive(userJwt), { code: 'ERR_AUTH_REVOKED' }, 'membership deleted: user API token');
    await t.rejects(h.service.checkLive(userAccess), { code: 'ERR_AUTH_REVOKED' }, 'membership deleted: user access token');
    await t.rejects(h.service.exchange({ clientId: user.record.clientId, secret: user.secret }, { peer: PEER }), { code: 'ERR_TOKEN_INVALID_CLIENT' });
    await h.directory.putMembership('t', 'u');
    await h.service.checkLive(userJwt);
    t.pass('a new membership brings them back');
    await h.directory.deleteTenant('t');
    await t.rejects(h.service.checkLive(userAccess), { code: 'ERR_AUTH_REVOKED' }, 'tenant deleted');
  });
}
