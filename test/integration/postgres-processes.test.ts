/**
 * The PostgreSQL store's concurrency guarantees hold across gateway processes, not only across
 * connections of one: three issuer replicas (separate OS processes) on one database take
 * concurrent requests for the same credential. A refresh token is rotated exactly once however
 * many processes it is presented to at once, the other presentations count as reuse and revoke
 * the family, and the live refresh-token cap holds for exchanges spread over every process.
 */
import pg from 'pg';
import t from 'tap';
import { withTestDatabase } from '../helpers/postgres.js';
import { ISSUER_CONFIG, serve, vendorCall, type Process } from '../helpers/processes.js';
import { basicAuth } from '../helpers/token-scenario.js';

const database = await withTestDatabase(t);
const env = { M2M_DATABASE_URL: database.url, ORDERS_UPSTREAM: 'http://127.0.0.1:9' };
const processes: Process[] = [];
for (const name of ['replica 1', 'replica 2', 'replica 3']) processes.push(await serve(t, name, ISSUER_CONFIG, env));
const [first] = processes;

/** A tenant client-credentials token, created at the first replica. */
async function createClient(): Promise<{ clientId: string; secret: string }> {
  const created = await vendorCall(first!, 'POST', '/identity/resources/tenants/api-tokens/v2', { headers: { 'frontegg-tenant-id': 'acme' }, body: { roleIds: ['reader'] } });
  if (created.status !== 201) throw new Error(`create: ${created.status} ${JSON.stringify(created.body)}`);
  return { clientId: String(created.body['clientId']), secret: String(created.body['secret']) };
}

const post = (url: string, body: unknown) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

t.test('one refresh token presented to every replica at once is rotated exactly once; the rest revoke its family', async (t) => {
  const client = await createClient();
  const exchanged = await post(`${first!.url}/identity/resources/auth/v1/api-token`, client);
  t.equal(exchanged.status, 200);
  const { refreshToken } = (await exchanged.json()) as { refreshToken: string };

  const attempts = processes.flatMap((gateway) =>
    Array.from({ length: 10 }, async () => {
      const res = await post(`${gateway.url}/identity/resources/auth/v1/api-token/token/refresh`, { refreshToken });
      return { status: res.status, body: (await res.json()) as { refreshToken?: string } };
    }),
  );
  const results = await Promise.all(attempts);
  const rotated = results.filter((r) => r.status === 200);
  t.equal(rotated.length, 1, `exactly one of ${results.length} concurrent refreshes over ${processes.length} processes succeeds`);
  t.ok(
    results.every((r) => r.status === 200 || r.status === 400),
    `every other one is refused as an invalid grant (400), none fails otherwise: ${results.map((r) => r.status).join(',')}`,
  );
  const next = rotated[0]!.body.refreshToken!;
  for (const gateway of processes) {
    const reuse = await post(`${gateway.url}/identity/resources/auth/v1/api-token/token/refresh`, { refreshToken: next });
    t.not(reuse.status, 200, `${gateway.name}: the winner's new token died with its family, since the same token was presented again`);
  }
});

t.test('the live refresh-token cap holds for concurrent exchanges spread over every replica', async (t) => {
  const client = await createClient();
  const exchanges = Array.from({ length: 120 }, (_, i) =>
    fetch(`${processes[i % processes.length]!.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuth(client.clientId, client.secret) },
      body: 'grant_type=client_credentials',
    }).then((res) => res.status),
  );
  const statuses = await Promise.all(exchanges);
  t.same(statuses.filter((s) => s !== 200), [], 'every exchange succeeds');
  const db = new pg.Client({ connectionString: database.url });
  await db.connect();
  t.teardown(() => db.end());
  const { rows } = await db.query<{ live: string }>('SELECT count(*) AS live FROM refresh_tokens WHERE client_id = $1 AND used_at IS NULL AND revoked_at IS NULL', [client.clientId]);
  t.equal(Number(rows[0]!.live), 100, 'exactly maxPerCredential (100) live refresh tokens remain, the oldest revoked');
});
