/**
 * Case 37: `Connection: close, X-Auth-Tenant-Id` (or naming the user id, `X-Forwarded-For` or
 * `Authorization`) must not remove what the gateway injects; the client's hop-by-hop headers
 * (`Connection`, `Keep-Alive`, `TE`, `Upgrade`, `Proxy-Connection`, `Transfer-Encoding`) are
 * not forwarded (RFC 9110 §7.6.1; fastify-reply-from strips them before any hook).
 */
import t from 'tap';
import { route } from '../helpers/compiled-config.js';
import { USER_API_TOKEN, requestFacts, testDecider } from '../helpers/decide-fixtures.js';

const routes = [route({ name: 'api', pathPrefix: '/api' })];
const OURS = {
  'x-forwarded-for': '203.0.113.7',
  'x-forwarded-proto': 'http',
  'x-forwarded-host': 'api.example.com',
  'x-request-id': 'req-1',
  'x-auth-user-id': 'user-1',
  'x-auth-tenant-id': 'tenant-1',
  'x-auth-roles': 'admin,reader',
  'x-auth-permissions': 'fe.secure.*,reports.read',
  'x-auth-token-type': 'userApiToken',
  'x-auth-token-id': 'jti-1',
  'x-auth-subject': 'client-1',
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
