/**
 * Case 37: `Connection: close, X-Auth-Tenant-Id` (or naming the user id, `X-Forwarded-For` or
 * `Authorization`) must not remove what the gateway injects; the client's hop-by-hop headers
 * (`Connection`, `Keep-Alive`, `TE`, `Upgrade`, `Proxy-Connection`, `Transfer-Encoding`) are
 * not forwarded (RFC 9110 §7.6.1; fastify-reply-from strips them before any hook).
 */
import t from 'tap';
import { route } from '../helpers/compiled-config.js';
import { USER_API_IDENTITY_HEADERS, USER_API_TOKEN, requestFacts, testDecider } from '../helpers/decide-fixtures.js';
import { rawHeaderValues } from '../../scripts/echo-upstream.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { rawExchange } from '../helpers/raw-http.js';
import { parseResponses } from '../helpers/raw-response.js';
import { startScenario } from '../helpers/scenario.js';

const routes = [route({ name: 'api', pathPrefix: '/api' })];
const OURS = {
  'x-forwarded-for': '203.0.113.7',
  'x-forwarded-proto': 'http',
  'x-forwarded-host': 'api.example.com',
  'x-request-id': 'req-1',
  ...USER_API_IDENTITY_HEADERS,
};

t.test('headers named in Connection cannot remove what the gateway sets', async (t) => {
  const connections = [
    'close, X-Auth-Tenant-Id',
    'close, X-Auth-User-Id',
    'keep-alive, X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host',
    'close, Authorization',
    'X-Request-Id',
    'x-auth-roles, x-auth-permissions, x-auth-token-type, x-auth-token-id, x-auth-subject',
    'X_Auth_Tenant_Id',
  ];
  for (const connection of connections) {
    const { decide } = testDecider({ routes });
    const d = await decide(
      requestFacts({ url: '/api', headers: [['Host', 'api.example.com'], ['Connection', connection], ['Authorization', `Bearer ${USER_API_TOKEN}`]] }),
    );
    if (!d.allow) {
      t.fail(`${connection}: ${d.error.code}`);
      continue;
    }
    t.strictSame({ ...d.headers }, OURS, connection);
  }
});

t.test('the client hop-by-hop headers and those it names are not forwarded', async (t) => {
  const { decide } = testDecider({ routes });
  const d = await decide(
    requestFacts({
      url: '/api',
      method: 'POST',
      headers: [
        ['Host', 'api.example.com'],
        ['Connection', 'keep-alive, X-Secret-Hop, Content-Type'],
        ['Keep-Alive', 'timeout=600'],
        ['TE', 'trailers, deflate'],
        ['Trailer', 'X-Checksum'],
        ['Upgrade', 'h2c'],
        ['Proxy-Connection', 'keep-alive'],
        ['Transfer-Encoding', 'chunked'],
        ['X-Secret-Hop', 'must not pass'],
        ['Content-Type', 'application/json'],
        ['X-End-To-End', 'passes'],
        ['Authorization', `Bearer ${USER_API_TOKEN}`],
      ],
    }),
  );
  if (!d.allow) return t.fail(d.error.code);
  t.strictSame({ ...d.headers }, { 'x-end-to-end': 'passes', ...OURS });
});

// HTTP level: raw request bytes, so every hop-by-hop line is sent exactly as written.

t.test('over HTTP: headers named in Connection cannot remove the injected ones, and no hop-by-hop value is forwarded', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const token = await s.mint({ type: 'userApiToken', claims: { jti: 'jti-37', sub: 'client-37', userId: 'user-37', tenantId: 'tenant-37', roles: ['viewer'] } });
  const connections: string[][] = [
    ['close, x-auth-tenant-id'],
    ['close, X-Auth-User-Id'],
    ['close, X-Forwarded-For'],
    ['close, Authorization'],
    ['close, x-auth-tenant-id, x-auth-user-id, x-forwarded-for, authorization, x-auth-roles'],
    ['close', 'X-Auth-Tenant-Id, X-Auth-User-Id'],
  ];
  for (const lines of connections) {
    const name = lines.join(' / ');
    const before = s.upstream.received.length;
    const request = [
      'POST /api/x HTTP/1.1',
      `Host: 127.0.0.1:${s.gateway.port}`,
      ...lines.map((l) => `Connection: ${l}`),
      'Keep-Alive: timeout=600, max=1000',
      'TE: trailers',
      'Upgrade: h2c',
      'Proxy-Connection: keep-alive',
      'Transfer-Encoding: chunked',
      'X-Auth-Tenant-Id: spoofed-tenant',
      'X-End-To-End: passes',
      `Authorization: Bearer ${token}`,
      '',
      '5\r\nhello\r\n0\r\n\r\n',
    ].join('\r\n');
    const { text, closed } = await rawExchange(s.gateway.port, request);
    const [res] = parseResponses(text);
    t.equal(res?.status, 200, `${name}: status`);
    t.ok(closed, `${name}: the client's close is honoured`);
    t.equal(s.upstream.received.length, before + 1, `${name}: forwarded once`);
    const seen = s.upstream.received.at(-1)!;
    t.strictSame(
      {
        userId: rawHeaderValues(seen, 'x-auth-user-id'),
        tenantId: rawHeaderValues(seen, 'x-auth-tenant-id'),
        roles: rawHeaderValues(seen, 'x-auth-roles'),
        forwardedFor: rawHeaderValues(seen, 'x-forwarded-for'),
        endToEnd: rawHeaderValues(seen, 'x-end-to-end'),
        body: seen.body,
      },
      { userId: ['user-37'], tenantId: ['tenant-37'], roles: ['viewer'], forwardedFor: ['127.0.0.1'], endToEnd: ['passes'], body: 'hello' },
      `${name}: the injected headers arrive, once each`,
    );
    t.strictSame(rawHeaderValues(seen, 'authorization'), [], `${name}: the credential is not forwarded`);
    for (const hop of ['keep-alive', 'te', 'upgrade', 'proxy-connection']) {
      t.strictSame(rawHeaderValues(seen, hop), [], `${name}: no ${hop} line upstream`);
    }
    // The forwarder frames the body it streams itself (chunked, or a length once it has it all):
    // exactly one framing line, never a copy of the client's.
    const framing = [...rawHeaderValues(seen, 'transfer-encoding').map((v) => `te:${v}`), ...rawHeaderValues(seen, 'content-length').map((v) => `cl:${v}`)];
    t.ok(framing.length === 1 && (framing[0] === 'te:chunked' || framing[0] === 'cl:5'), `${name}: one framing line of the gateway's own (${framing.join(' ')})`);
    t.notMatch(rawHeaderValues(seen, 'connection').join(','), /close|x-auth|x-forwarded|authorization/i, `${name}: not the client's Connection`);
  }
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [token]), [], 'no token in the logs');
});

t.test('over HTTP: a header named only in Connection is dropped before the upstream', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const request = [
    'GET /public/x HTTP/1.1',
    'Host: example.test',
    'Connection: close, X-Secret-Hop',
    'X-Secret-Hop: must not pass',
    '',
    '',
  ].join('\r\n');
  const { text } = await rawExchange(s.gateway.port, request);
  t.equal(parseResponses(text)[0]?.status, 200);
  t.strictSame(rawHeaderValues(s.upstream.received[0]!, 'x-secret-hop'), []);
});
