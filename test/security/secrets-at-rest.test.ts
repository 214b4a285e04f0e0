/**
 * Security case 34 at the token service (RFC 6749 §10.10; OWASP Password Storage): a dump of the
 * SQLite file holds only keyed digests — no client secret, refresh token or JWT in any readable or
 * reversible form — and no log line carries one either (case 47).
 */
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import t from 'tap';
import { leakedSecrets } from '../helpers/log-sink.js';
import { createTokenHarness, PEER } from '../helpers/token-service.js';

t.test('the SQLite files and the logs contain no secret, refresh token or JWT', async (t) => {
  const h = await createTokenHarness('sqlite');
  t.teardown(h.close);
  const secrets: string[] = [];
  const tenantToken = await h.service.createTenantApiToken({ tenantId: 't' }, { roleIds: ['r-admin'] });
  const userToken = await h.service.createUserApiToken({ tenantId: 't', userId: 'u' }, {});
  const access = await h.service.createTenantAccessToken({ tenantId: 't' }, {});
  secrets.push(tenantToken.secret, userToken.secret, access.jwt);
  for (const created of [tenantToken, userToken]) {
    const issued = await h.service.exchange({ clientId: created.record.clientId, secret: created.secret }, { peer: PEER });
    const next = await h.service.refresh({ refreshToken: issued.refreshToken! }, { peer: PEER });
    secrets.push(issued.accessToken, issued.refreshToken!, next.accessToken, next.refreshToken!);
    await t.rejects(h.service.refresh({ refreshToken: issued.refreshToken! }, { peer: PEER }), { code: 'ERR_TOKEN_INVALID_GRANT' }); // logs a reuse
  }
  await t.rejects(h.service.exchange({ clientId: tenantToken.record.clientId, secret: 'wrong-' + tenantToken.secret }, { peer: PEER }));

  const dir = dirname(h.file!);
  const dump = (await Promise.all((await readdir(dir)).map((f) => readFile(join(dir, f))))).map((b) => b.toString('latin1')).join('\n');
  t.ok(dump.includes(tenantToken.record.clientId), 'the dump is readable (sanity)');
  t.ok(dump.includes(tenantToken.record.secretHash), 'only the digest is there');
  const forms = secrets.flatMap((s) => [s, Buffer.from(s, 'base64url').toString('hex'), Buffer.from(s).toString('base64')]);
  t.same(forms.filter((s) => dump.includes(s)), [], 'no secret in plain, hex or base64 form');
  t.same(leakedSecrets(h.sink.lines(), secrets), [], 'no secret in the logs');
});
