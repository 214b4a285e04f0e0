import t from 'tap';
import { startTokenScenario } from '../helpers/token-scenario.js';

/** The token service's metrics, read from the admin listener after real traffic (SPEC §6). */

function json(url: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

/** `name{labels} value` lines of one scrape, as a map from `name{labels}` to value. */
async function scrape(adminUrl: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^(m2m_gateway_\S+) (\S+)$/.exec(line);
    if (match !== null) samples.set(match[1]!, Number(match[2]));
  }
  return samples;
}

t.test('issuance, exchanges by result, liveness cache and store latency are counted', async (t) => {
  const s = await startTokenScenario();
  t.teardown(() => s.close());
  const base = s.gateway.url;
  const vendor = await s.vendorToken();
  const scope = { authorization: `Bearer ${vendor}`, 'frontegg-tenant-id': 'acme' };

  const created = await json(`${base}/identity/resources/tenants/api-tokens/v2`, { roleIds: ['r-viewer'] }, scope);
  t.equal(created.status, 201);
  const { clientId, secret } = (await created.json()) as { clientId: string; secret: string };
  const client = { clientId, secret };
  t.equal((await json(`${base}/identity/resources/tenants/access-tokens/v1`, {}, scope)).status, 201);

  const exchanged = await json(`${base}/identity/resources/auth/v1/api-token`, client);
  t.equal(exchanged.status, 200);
  const tokens = (await exchanged.json()) as { accessToken: string; refreshToken: string };
  t.equal((await json(`${base}/identity/resources/auth/v1/api-token`, { ...client, secret: `${client.secret}x` })).status, 401);
  t.equal((await json(`${base}/identity/resources/auth/v1/api-token/token/refresh`, { refreshToken: tokens.refreshToken })).status, 200);
  for (let i = 0; i < 2; i++) {
    t.equal((await fetch(`${base}/api/x`, { headers: { authorization: `Bearer ${tokens.accessToken}` } })).status, 200);
  }

  const m = await scrape(s.gateway.adminUrl);
  t.equal(m.get('m2m_gateway_tokens_issued_total{kind="tenantApiToken"}'), 1);
  t.equal(m.get('m2m_gateway_tokens_issued_total{kind="tenantAccessToken"}'), 1);
  t.equal(m.get('m2m_gateway_tokens_issued_total{kind="jwt"}'), 2, 'the exchange and the refresh');
  t.equal(m.get('m2m_gateway_tokens_issued_total{kind="refreshToken"}'), 2);
  t.equal(m.get('m2m_gateway_token_exchanges_total{grant="client_credentials",result="ok"}'), 1);
  t.equal(m.get('m2m_gateway_token_exchanges_total{grant="client_credentials",result="ERR_TOKEN_INVALID_CLIENT"}'), 1);
  t.equal(m.get('m2m_gateway_token_exchanges_total{grant="refresh_token",result="ok"}'), 1);
  t.equal(m.get('m2m_gateway_cache_events_total{cache="liveness",event="miss"}'), 1, 'the first proxied call looked the credential up');
  t.equal(m.get('m2m_gateway_cache_events_total{cache="liveness",event="hit"}'), 1, 'the second was answered from the cache');
  t.ok((m.get('m2m_gateway_store_duration_seconds_count{operation="getApiToken",result="ok"}') ?? 0) >= 1, 'store calls are timed');
  t.same([...m.keys()].filter((key) => key.includes(secret) || key.includes(clientId)), [], 'no secret or client id in a label');
});
