/**
 * Case 47: whatever a client sends — good and bad tokens, tokens in query strings, Basic
 * credentials, malformed headers, smuggling payloads, upgrades — no captured log line contains a
 * token, a token's payload or signature segment, or a credential. Tokens appear only as their
 * fingerprint: the first 8 hex of SHA-256 (SPEC §6 "Logs"; pino `redact` is the second line).
 * The token service's flows — client secrets, vendor secret, access and refresh tokens, raw
 * `Authorization: Basic` and `X-API-KEY` values, good and bad — are logged at trace level and
 * searched the same way. Every file of test/security also checks its own lines.
 */
import { createHash } from 'node:crypto';
import t from 'tap';
import { startEchoUpstream } from '../../scripts/echo-upstream.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { rawExchange } from '../helpers/raw-http.js';
import { parseResponses } from '../helpers/raw-response.js';
import { send, startScenario } from '../helpers/scenario.js';
import { tamperSignature } from '../helpers/tokens.js';
import { basicAuth, createTenantApiToken, postForm, startTokenScenario, VENDOR } from '../helpers/token-scenario.js';

const fingerprint = (token: string) => createHash('sha256').update(token).digest('hex').slice(0, 8);

t.test('no log line carries a token or a credential, only 8-hex fingerprints', async (t) => {
  const broken = await startEchoUpstream();
  broken.handle((req) => req.socket.resetAndDestroy());
  const s = await startScenario({
    routes: (u) => [
      { name: 'ws', pathPrefix: '/ws', upstream: u, auth: {}, websocket: { allowedOrigins: ['https://app.example'] } },
      { name: 'broken', pathPrefix: '/broken', upstream: broken.url, auth: {} },
    ],
  });
  t.teardown(async () => {
    await s.close();
    await broken.close();
  });
  const bearer = await s.mint({ type: 'userApiToken' });
  const apiKey = await s.mint({ type: 'userAccessToken' });
  const viewer = await s.mint({ type: 'userAccessToken', claims: { roles: ['viewer'] } });
  const expired = await s.mint({ type: 'userAccessToken', nowMs: Date.now() - 7_200_000, ttlSeconds: 3600 });
  const tampered = tamperSignature(apiKey);
  const unknownKid = await s.mint({ type: 'userAccessToken', header: { kid: 'no-such-kid' } });
  const oversized = await s.mint({ type: 'userAccessToken', claims: { pad: 'p'.repeat(9000) } });
  const inQuery = await s.mint({ type: 'userAccessToken' });
  const smuggled = await s.mint({ type: 'userApiToken' });
  const basicSecret = 's3cr3t-basic-password';
  const basic = Buffer.from(`client-47:${basicSecret}`).toString('base64');
  const u = s.gateway.url;

  /** Requests sent through node:http, each tagged with a request id to find its access line. */
  const requests: { id: string; path: string; headers: [string, string][]; status: number; token?: string }[] = [
    { id: 'good-bearer', path: '/api/x', headers: [['authorization', `Bearer ${bearer}`]], status: 200, token: bearer },
    { id: 'good-api-key', path: '/api/x', headers: [['x-api-key', apiKey]], status: 200, token: apiKey },
    { id: 'good-cached', path: '/api/y', headers: [['x-api-key', apiKey]], status: 200, token: apiKey },
    { id: 'forbidden', path: '/admin/x', headers: [['x-api-key', viewer]], status: 403, token: viewer },
    { id: 'expired', path: '/api/x', headers: [['x-api-key', expired]], status: 401, token: expired },
    { id: 'tampered', path: '/api/x', headers: [['x-api-key', tampered]], status: 401, token: tampered },
    { id: 'unknown-kid', path: '/api/x', headers: [['x-api-key', unknownKid]], status: 401, token: unknownKid },
    { id: 'wrong-header', path: '/api/x', headers: [['authorization', `Bearer ${apiKey}`]], status: 401, token: apiKey },
    { id: 'oversized', path: '/api/x', headers: [['x-api-key', oversized]], status: 401 },
    { id: 'query-access-token', path: `/api/x?access_token=${inQuery}`, headers: [], status: 401 },
    { id: 'query-api-key', path: `/public/x?api_key=${inQuery}&x=1`, headers: [], status: 200 },
    { id: 'basic-protected', path: '/api/x', headers: [['authorization', `Basic ${basic}`]], status: 401 },
    { id: 'basic-public', path: '/public/x', headers: [['authorization', `Basic ${basic}`]], status: 200 },
    { id: 'both-headers', path: '/api/x', headers: [['x-api-key', apiKey], ['authorization', `Bearer ${bearer}`]], status: 400 },
    { id: 'two-api-keys', path: '/api/x', headers: [['x-api-key', apiKey], ['X-API-KEY', viewer]], status: 400 },
    { id: 'malformed-scheme', path: '/api/x', headers: [['authorization', `Bearer-${bearer}`]], status: 401 },
    { id: 'garbage-token', path: '/api/x', headers: [['authorization', `Bearer ${bearer.split('.')[1]}`]], status: 401 },
    { id: 'cookie', path: '/public/x', headers: [['cookie', `session=${apiKey}`]], status: 200 },
    { id: 'token-as-request-id', path: '/public/x', headers: [['x-request-id', apiKey]], status: 200 },
    { id: 'upstream-reset', path: '/broken/x', headers: [['x-api-key', apiKey]], status: 502, token: apiKey },
  ];
  for (const r of requests) {
    const headers: [string, string][] = r.id === 'token-as-request-id' ? r.headers : [['x-request-id', r.id], ...r.headers];
    const res = await send(`${u}${r.path}`, { headers });
    t.equal(res.status, r.status, `${r.id}: ${r.status}`);
  }

  /** Requests no HTTP client would send: refused by the parser, or upgrades. */
  const raw: { name: string; bytes: string; status: number }[] = [
    { name: 'a CR inside the credential', bytes: `GET /api/x HTTP/1.1\r\nHost: x\r\nX-API-KEY: ${apiKey}\rx\r\n\r\n`, status: 400 },
    { name: 'a smuggling payload', bytes: `POST /api/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${smuggled}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, status: 400 },
    { name: 'a header block over the cap', bytes: `GET /api/x HTTP/1.1\r\nHost: x\r\nX-API-KEY: ${apiKey}\r\nX-Pad: ${'a'.repeat(20_000)}\r\n\r\n`, status: 431 },
    {
      name: 'a cross-site upgrade',
      bytes: `GET /ws/chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: https://evil.example\r\nX-API-KEY: ${apiKey}\r\n\r\n`,
      status: 403,
    },
    {
      name: 'an upgrade with a bad token',
      bytes: `GET /ws/chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-API-KEY: ${tampered}\r\n\r\n`,
      status: 401,
    },
  ];
  for (const r of raw) {
    const { text } = await rawExchange(s.gateway.port, r.bytes);
    t.equal(parseResponses(text)[0]?.status, r.status, `${r.name}: ${r.status}`);
  }

  const lines = s.gateway.logs.lines();
  const secrets = [bearer, apiKey, viewer, expired, tampered, unknownKid, oversized, inQuery, smuggled, basic, basicSecret];
  t.strictSame(leakedSecrets(lines, secrets), [], 'no token, payload or signature segment, or Basic credential in any line');
  t.notOk(lines.some((line) => line.includes('eyJ')), 'nothing JWT-shaped in any line');

  const access = s.gateway.logs.entries().filter((e) => e['msg'] === 'access');
  t.ok(access.length >= requests.length, 'every request was logged');
  for (const entry of access) {
    const fp = entry['tokenFp'];
    if (fp !== undefined) t.match(fp, /^[0-9a-f]{8}$/, `${String(entry['reqId'])}: the fingerprint is 8 hex`);
  }
  for (const r of requests.filter((req) => req.token !== undefined)) {
    const entry = access.find((e) => e['reqId'] === r.id);
    t.equal(entry?.['tokenFp'], fingerprint(r.token!), `${r.id}: logged by fingerprint`);
  }
  const queried = access.find((e) => e['reqId'] === 'query-api-key');
  t.equal(queried?.['path'], '/public/x', 'the query string is not logged');
});

t.test('the token service at trace level: no client secret, vendor secret, access or refresh token, or raw credential header in any line', async (t) => {
  const s = await startTokenScenario({ logLevel: 'trace', tokenService: { rateLimit: { perClientPerMinute: 4, perPeerPerMinute: 1000 } } });
  t.teardown(() => s.close());
  const base = s.gateway.url;
  const json = { 'content-type': 'application/json' };
  const vendor = await s.vendorToken();
  const manage = { authorization: `Bearer ${vendor}`, 'frontegg-tenant-id': 'tenant-1', ...json };
  const client = await createTenantApiToken(s);
  const basic = basicAuth(client.clientId, client.secret);
  const accessRes = await fetch(`${base}/identity/resources/tenants/access-tokens/v1`, { method: 'POST', headers: manage, body: '{}' });
  const apiKey = ((await accessRes.json()) as { secret: string }).secret;
  const issued = (await (await postForm(s, '/oauth/token', 'grant_type=client_credentials', { authorization: basic })).json()) as Record<string, string>;
  const refreshed = (await (await postForm(s, '/oauth/token', `grant_type=refresh_token&refresh_token=${encodeURIComponent(issued.refresh_token!)}`, { authorization: basic })).json()) as Record<string, string>;
  const v1 = (await (await fetch(`${base}/identity/resources/auth/v1/api-token`, { method: 'POST', headers: json, body: JSON.stringify(client) })).json()) as Record<string, string>;
  const v1Refreshed = (await (await fetch(`${base}/identity/resources/auth/v1/api-token/token/refresh`, { method: 'POST', headers: json, body: JSON.stringify({ refreshToken: v1.refreshToken }) })).json()) as Record<string, string>;
  const wrongSecret = 'wrong-secret-0123456789abcdefghijklmnopq';
  const wrongBasic = basicAuth(client.clientId, wrongSecret);

  // Refusals: each carries a secret somewhere a careless log call would pick it up.
  await postForm(s, `/oauth/token?client_secret=${client.secret}`, 'grant_type=client_credentials');
  await postForm(s, '/oauth/token', `grant_type=client_credentials&client_secret=${client.secret}`, { authorization: basic });
  await postForm(s, '/oauth/token', `grant_type=client_credentials&client_id=${client.clientId}&client_secret=${wrongSecret}`);
  await postForm(s, '/oauth/token', `grant_type=refresh_token&refresh_token=${encodeURIComponent(issued.refresh_token!)}`, { authorization: basic }); // a reuse
  await postForm(s, '/oauth/token', `grant_type=refresh_token&refresh_token=${encodeURIComponent(refreshed.refresh_token!)}&pad=${'x'.repeat(9000)}`, { authorization: basic });
  await postForm(s, '/oauth/revoke', `token=${encodeURIComponent(v1Refreshed.refreshToken!)}`, { authorization: wrongBasic });
  await postForm(s, '/oauth/introspect', `token=${encodeURIComponent(apiKey)}`, { authorization: `Bearer ${vendor}` });
  await fetch(`${base}/identity/resources/auth/v1/api-token`, { method: 'POST', headers: json, body: `{"clientId":"${client.clientId}","secret":"${client.secret}","secret":"x"}` });
  await fetch(`${base}/auth/vendor`, { method: 'POST', headers: json, body: JSON.stringify({ ...VENDOR, secret: wrongSecret }) });
  await fetch(`${base}/auth/vendor?secret=${VENDOR.secret}`, { method: 'POST', headers: json, body: JSON.stringify(VENDOR) });
  for (let i = 0; i < 6; i++) await postForm(s, '/oauth/token', 'grant_type=client_credentials', { authorization: wrongBasic }); // into the rate limit
  await fetch(`${base}/identity/resources/tenants/api-tokens/v1`, { headers: { ...manage, authorization: `Bearer ${vendor}x` } });

  // The proxy with what was issued, good and bad, in each header it reads.
  await fetch(`${base}/api/x`, { headers: { 'x-api-key': apiKey } });
  await fetch(`${base}/api/x`, { headers: { authorization: `Bearer ${v1Refreshed.accessToken!}` } });
  await fetch(`${base}/api/x`, { headers: { authorization: `Bearer ${issued.access_token!}` } }); // revoked by the reuse
  await fetch(`${base}/api/x`, { headers: { authorization: basic } });
  await fetch(`${base}/api/x`, { headers: { 'x-api-key': client.secret } });
  await fetch(`${base}/api/x`, { headers: { authorization: `Bearer ${refreshed.refresh_token!}` } });
  await fetch(`${base}/api/x`, { headers: { 'x-api-key': apiKey, authorization: `Bearer ${vendor}` } });

  const lines = s.gateway.logs.lines();
  t.ok(lines.some((l) => l.includes('"level":"debug"')), 'debug lines were captured (sanity)');
  const secrets = [
    client.secret,
    wrongSecret,
    VENDOR.secret,
    vendor,
    apiKey,
    basic.slice('Basic '.length),
    wrongBasic.slice('Basic '.length),
    ...[issued, refreshed].flatMap((x) => [x.access_token!, x.refresh_token!]),
    ...[v1, v1Refreshed].flatMap((x) => [x.accessToken!, x.refreshToken!]),
  ];
  t.strictSame(leakedSecrets(lines, secrets), [], 'no secret, token or raw credential in any line');
  t.notOk(lines.some((line) => line.includes('eyJ')), 'nothing JWT-shaped in any line');
});
