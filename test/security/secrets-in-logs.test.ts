/**
 * Case 47: whatever a client sends — good and bad tokens, tokens in query strings, Basic
 * credentials, malformed headers, smuggling payloads, upgrades — no captured log line contains a
 * token, a token's payload or signature segment, or a credential. Tokens appear only as their
 * fingerprint: the first 8 hex of SHA-256 (SPEC §6 "Logs"; pino `redact` is the second line).
 */
import { createHash } from 'node:crypto';
import t from 'tap';
import { startEchoUpstream } from '../../scripts/echo-upstream.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { rawExchange } from '../helpers/raw-http.js';
import { parseResponses } from '../helpers/raw-response.js';
import { send, startScenario } from '../helpers/scenario.js';
import { tamperSignature } from '../helpers/tokens.js';

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
