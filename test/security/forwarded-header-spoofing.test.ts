/**
 * Case 39: spoofed `X-Forwarded-For`, `Forwarded`, `X-Real-IP`, `X-Forwarded-Host`,
 * `X-Forwarded-Proto` or `X-Forwarded-Uri` from an untrusted peer are overwritten, not appended;
 * only a configured trusted proxy's chain is extended (oauth2-proxy CVE-2026-40575;
 * caddy-security GHSA-vj36-3ccr-6563).
 */
import t from 'tap';
import { compiledConfig, route } from '../helpers/compiled-config.js';
import { requestFacts, testDecider } from '../helpers/decide-fixtures.js';
import { rawHeaderValues, type Received } from '../../scripts/echo-upstream.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { send, startScenario } from '../helpers/scenario.js';

const routes = [route({ name: 'public', pathPrefix: '/', auth: null })];
const TRUSTED = '10.0.0.2';
const server = { ...compiledConfig({ routes }).server, isTrustedProxy: (a: string) => a === TRUSTED };

const SPOOFED: [string, string][] = [
  ['Host', 'api.example.com'],
  ['X-Forwarded-For', '127.0.0.1'],
  ['X-Forwarded-For', '10.0.0.1'],
  ['Forwarded', 'for=127.0.0.1;host=internal;proto=https'],
  ['X-Real-IP', '127.0.0.1'],
  ['X-Forwarded-Host', 'internal.example'],
  ['X-Forwarded-Proto', 'https'],
  ['X-Forwarded-Uri', '/admin'],
  ['X-Forwarded-Prefix', '/admin'],
  ['X_Forwarded_For', '127.0.0.1'],
];

t.test('from an untrusted peer every forwarding header describes the socket', async (t) => {
  const { decide } = testDecider({ routes, config: { server } });
  const d = await decide(requestFacts({ url: '/x', headers: SPOOFED, remoteAddress: '198.51.100.9' }));
  if (!d.allow) return t.fail(d.error.code);
  t.strictSame({ ...d.headers }, {
    'x-forwarded-for': '198.51.100.9',
    'x-forwarded-proto': 'http',
    'x-forwarded-host': 'api.example.com',
    'x-request-id': 'req-1',
  });
});

t.test('from a trusted proxy the chain is kept and the proxy appended', async (t) => {
  const { decide } = testDecider({ routes, config: { server } });
  const d = await decide(requestFacts({ url: '/x', headers: SPOOFED, remoteAddress: TRUSTED }));
  if (!d.allow) return t.fail(d.error.code);
  t.strictSame({ ...d.headers }, {
    forwarded: 'for=127.0.0.1;host=internal;proto=https',
    'x-real-ip': '127.0.0.1',
    'x-forwarded-uri': '/admin',
    'x-forwarded-prefix': '/admin',
    'x-forwarded-for': `127.0.0.1, 10.0.0.1, ${TRUSTED}`,
    'x-forwarded-proto': 'https',
    'x-forwarded-host': 'internal.example',
    'x-request-id': 'req-1',
  });
});

t.test('TLS from an untrusted peer is reported as https whatever it claims', async (t) => {
  const { decide } = testDecider({ routes, config: { server } });
  const d = await decide(requestFacts({ url: '/x', headers: [['Host', 'h'], ['X-Forwarded-Proto', 'http']], encrypted: true }));
  t.equal(d.allow && d.headers['x-forwarded-proto'], 'https');
});

// HTTP level: the test client connects from 127.0.0.1, untrusted unless configured.

const SPOOFED_LINES: [string, string][] = [
  ['X-Forwarded-For', '203.0.113.1'],
  ['x-forwarded-for', '10.0.0.1, 10.0.0.2'],
  ['Forwarded', 'for=203.0.113.1;host=internal.example;proto=https'],
  ['X-Real-IP', '203.0.113.1'],
  ['X-Forwarded-Host', 'internal.example'],
  ['X-Forwarded-Proto', 'https'],
  ['X-Forwarded-Uri', '/admin'],
  ['X_Forwarded_For', '203.0.113.9'],
];

/** Every peer-describing line the upstream read, by raw name, `_` spellings included. */
function forwardingLines(entry: Received): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (let i = 0; i + 1 < entry.rawHeaders.length; i += 2) {
    const name = entry.rawHeaders[i]!;
    const folded = name.toLowerCase().replaceAll('_', '-');
    if (folded.startsWith('x-forwarded-') || folded === 'forwarded' || folded === 'x-real-ip') (out[name] ??= []).push(entry.rawHeaders[i + 1]!);
  }
  return out;
}

t.test('over HTTP: from an untrusted peer every forwarding header is the socket, on public and protected routes', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const token = await s.mint({ type: 'tenantAccessToken' });
  for (const c of [
    { path: '/public/x', credential: [] as [string, string][] },
    { path: '/api/x', credential: [['x-api-key', token]] as [string, string][] },
  ]) {
    const res = await send(`${s.gateway.url}${c.path}`, { headers: [...SPOOFED_LINES, ...c.credential] });
    t.equal(res.status, 200, c.path);
    t.strictSame(
      forwardingLines(s.upstream.received.at(-1)!),
      { 'x-forwarded-for': ['127.0.0.1'], 'x-forwarded-proto': ['http'], 'x-forwarded-host': [`127.0.0.1:${s.gateway.port}`] },
      `${c.path}: overwritten, not appended; Forwarded, X-Real-IP, X-Forwarded-Uri and the _ spelling dropped`,
    );
  }
  // Audit uses the socket peer, never the claimed one.
  const peers = s.gateway.logs.entries().filter((e) => e['msg'] === 'access').map((e) => e['peer']);
  t.strictSame(peers, ['127.0.0.1', '127.0.0.1'], 'the access log records the socket peer');
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [token]), [], 'no token in the logs');
});

t.test('over HTTP: behind a configured trusted proxy the X-Forwarded-For chain is appended to', async (t) => {
  const s = await startScenario({ config: { server: { trustedProxies: ['127.0.0.1'] } } });
  t.teardown(() => s.close());
  const res = await send(`${s.gateway.url}/public/x`, {
    headers: [
      ['X-Forwarded-For', '203.0.113.1'],
      ['X-Forwarded-For', '10.0.0.1'],
      ['X-Forwarded-Proto', 'https'],
      ['X-Forwarded-Host', 'api.example.com'],
    ],
  });
  t.equal(res.status, 200);
  const seen = s.upstream.received[0]!;
  t.strictSame(rawHeaderValues(seen, 'x-forwarded-for'), ['203.0.113.1, 10.0.0.1, 127.0.0.1'], 'one line: the chain plus the proxy');
  t.strictSame(rawHeaderValues(seen, 'x-forwarded-proto'), ['https'], "the proxy's scheme is kept");
  t.strictSame(rawHeaderValues(seen, 'x-forwarded-host'), ['api.example.com'], "the proxy's host is kept");
  const access = s.gateway.logs.entries().find((e) => e['msg'] === 'access');
  t.equal(access?.['peer'], '127.0.0.1', 'the access log still records the socket peer');
});
