/**
 * Security cases 32 and 33 at the token service (RFC 9700 §4.14.2; RFC 6819 §5.2.2.3; fosite
 * `handleRefreshTokenReuse`): refresh tokens are single-use; reusing a rotated one revokes the whole
 * family — the live refresh token and every JWT of the family (refused by checkLive through `sid`);
 * two concurrent refreshes with one token give exactly one success; expired, revoked and garbage
 * tokens are invalid_grant; at most 100 live per credential, the oldest going first.
 */
import { decodeJwt } from 'jose';
import t from 'tap';
import type { Identity } from '../../src/auth/identity.js';
import { isGatewayError } from '../../src/errors.js';
import { createTokenHarness, PEER, STORE_KINDS, type TokenHarness } from '../helpers/token-service.js';

function identityOf(jwt: string): Identity {
  const p = decodeJwt(jwt);
  return {
    tokenType: p.type as Identity['tokenType'],
    issuer: 'local',
    subject: p.sub!,
    tokenId: p.jti!,
    userId: p.userId as string | undefined,
    tenantId: p.tenantId as string,
    roles: p.roles as string[],
    permissions: p.permissions as string[],
    expiresAtMs: p.exp! * 1000,
    sessionId: p.sid as string,
  };
}

async function credential(h: TokenHarness) {
  const created = await h.service.createTenantApiToken({ tenantId: 't' }, {});
  const exchange = () => h.service.exchange({ clientId: created.record.clientId, secret: created.secret }, { peer: PEER });
  return { created, exchange };
}

for (const kind of STORE_KINDS) {
  t.test(`${kind}: reuse of a rotated refresh token revokes the whole family (case 32)`, async (t) => {
    const h = await createTokenHarness(kind);
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
    const h = await createTokenHarness(kind);
    t.teardown(h.close);
    const { exchange } = await credential(h);
    const { refreshToken } = await exchange();
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => h.service.refresh({ refreshToken: refreshToken! }, { peer: PEER })));
    const ok = results.filter((r) => r.status === 'fulfilled');
    t.equal(ok.length, 1, 'one success');
    for (const r of results) if (r.status === 'rejected') t.equal(isGatewayError(r.reason) && r.reason.code, 'ERR_TOKEN_INVALID_GRANT');
  });

  t.test(`${kind}: expired, revoked and garbage refresh tokens → invalid_grant (case 33)`, async (t) => {
    const h = await createTokenHarness(kind, { refreshTokens: { enabled: true, ttlSeconds: 60, maxPerCredential: 100 } });
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
    const h = await createTokenHarness(kind);
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
