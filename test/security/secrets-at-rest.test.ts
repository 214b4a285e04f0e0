/**
 * Security case 34 at the token service (RFC 6749 §10.10; OWASP Password Storage): a dump of the
 * SQLite files or of every PostgreSQL table holds only keyed digests — no client secret, refresh
 * token or JWT in any readable or reversible form — and no log line carries one either (case 47). Over HTTP, a secret appears in
 * its creation answer and nowhere else. The constant-time compare with a dummy digest for unknown
 * clients is checked in test/unit/tokens/secrets.test.ts.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import t from 'tap';
import { leakedSecrets } from '../helpers/log-sink.js';
import { withTestDatabase } from '../helpers/postgres.js';
import { createTokenHarness, PEER, type TokenHarness } from '../helpers/token-service.js';
import { basicAuth, postForm, startTokenScenario } from '../helpers/token-scenario.js';

// The PostgreSQL harness gets a schema of this file's database.
const database = await withTestDatabase(t);

/** Everything the store holds, as text: the SQLite files byte for byte, or every PostgreSQL row as JSON. */
async function dumpStore(kind: 'sqlite' | 'postgres', h: TokenHarness): Promise<string> {
  if (kind === 'sqlite') {
    const dir = dirname(h.file!);
    return (await Promise.all((await readdir(dir)).map((f) => readFile(join(dir, f))))).map((b) => b.toString('latin1')).join('\n');
  }
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    const tables = await client.query<{ table_schema: string; table_name: string }>(
      "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')",
    );
    const rows: string[] = [];
    for (const { table_schema: schema, table_name: table } of tables.rows) {
      const result = await client.query<{ row: string }>(`SELECT row_to_json(t)::text AS row FROM "${schema}"."${table}" t`);
      rows.push(...result.rows.map((r) => r.row));
    }
    return rows.join('\n');
  } finally {
    await client.end();
  }
}

for (const kind of ['sqlite', 'postgres'] as const) {
  t.test(`${kind}: a dump of the store and the logs contain no secret, refresh token or JWT`, async (t) => {
    const h = await createTokenHarness(kind, {}, database);
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

    const dump = await dumpStore(kind, h);
    t.ok(dump.includes(tenantToken.record.clientId), 'the dump is readable (sanity)');
    t.ok(dump.includes(tenantToken.record.secretHash), 'only the digest is there');
    const forms = secrets.flatMap((s) => [s, Buffer.from(s, 'base64url').toString('hex'), Buffer.from(s).toString('base64')]);
    t.same(forms.filter((s) => dump.includes(s)), [], 'no secret in plain, hex or base64 form');
    t.same(leakedSecrets(h.sink.lines(), secrets), [], 'no secret in the logs');
  });
}

t.test('over HTTP: a secret appears in its creation answer only; the SQLite dump and the logs hold none', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'm2m-at-rest-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const s = await startTokenScenario({ store: { driver: 'sqlite', path: join(dir, 'store.db') } });
  t.teardown(() => s.close());
  const base = s.gateway.url;
  const vendor = await s.vendorToken();
  const manage = { authorization: `Bearer ${vendor}`, 'frontegg-tenant-id': 'tenant-1', 'frontegg-user-id': 'user-1', 'content-type': 'application/json' };
  /** Every answer body after creation, to search for the secrets. */
  const later: string[] = [];
  const text = async (res: Promise<Response>) => {
    const body = await (await res).text();
    later.push(body);
    return body;
  };

  const tenantRes = await fetch(`${base}/identity/resources/tenants/api-tokens/v2`, { method: 'POST', headers: manage, body: '{}' });
  const tenant = (await tenantRes.json()) as { clientId: string; secret: string };
  const userRes = await fetch(`${base}/identity/resources/users/api-tokens/v1`, { method: 'POST', headers: manage, body: '{}' });
  const user = (await userRes.json()) as { clientId: string; secret: string };
  const accessRes = await fetch(`${base}/identity/resources/tenants/access-tokens/v1`, { method: 'POST', headers: manage, body: '{}' });
  const access = (await accessRes.json()) as { id: string; secret: string };
  t.equal(tenantRes.status, 201);
  t.equal(userRes.status, 201);
  t.equal(accessRes.status, 201);

  const issued = JSON.parse(await text(postForm(s, '/oauth/token', 'grant_type=client_credentials', { authorization: basicAuth(tenant.clientId, tenant.secret) }))) as Record<string, string>;
  const next = JSON.parse(
    await text(postForm(s, '/oauth/token', new URLSearchParams({ grant_type: 'refresh_token', refresh_token: issued.refresh_token! }).toString(), { authorization: basicAuth(tenant.clientId, tenant.secret) })),
  ) as Record<string, string>;
  await text(fetch(`${base}/identity/resources/auth/v1/api-token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ clientId: user.clientId, secret: user.secret }) }));
  await text(fetch(`${base}/identity/resources/tenants/api-tokens/v1`, { headers: manage }));
  await text(fetch(`${base}/identity/resources/users/api-tokens/v1`, { headers: manage }));
  await text(fetch(`${base}/identity/resources/tenants/access-tokens/v1`, { headers: manage }));
  await text(fetch(`${base}/identity/resources/vendor-only/tenants/access-tokens/v1/${access.id}`, { headers: manage }));
  await text(postForm(s, '/oauth/introspect', new URLSearchParams({ token: issued.refresh_token! }).toString(), { authorization: `Bearer ${vendor}` }));
  const secrets = [tenant.secret, user.secret, access.secret];
  t.strictSame(secrets.filter((secret) => later.some((body) => body.includes(secret))), [], 'no later answer — list, lookup, exchange, introspection — carries a secret');

  const dump = (await Promise.all((await readdir(dir)).map((f) => readFile(join(dir, f))))).map((b) => b.toString('latin1')).join('\n');
  t.ok(dump.includes(tenant.clientId), 'the dump is readable (sanity)');
  const tokens = [...secrets, issued.access_token!, issued.refresh_token!, next.access_token!, next.refresh_token!];
  const forms = tokens.flatMap((x) => [x, Buffer.from(x, 'base64url').toString('hex'), Buffer.from(x).toString('base64')]);
  t.same(forms.filter((x) => dump.includes(x)), [], 'no secret, refresh token or JWT in plain, hex or base64 form in the store');
  t.equal(s.upstream.received.length, 0, 'nothing reached the upstream');
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [...tokens, vendor]), [], 'no secret in the logs');
});
