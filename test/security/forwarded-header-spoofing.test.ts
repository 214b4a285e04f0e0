/**
 * Case 39: spoofed `X-Forwarded-For`, `Forwarded`, `X-Real-IP`, `X-Forwarded-Host`,
 * `X-Forwarded-Proto` or `X-Forwarded-Uri` from an untrusted peer are overwritten, not appended;
 * only a configured trusted proxy's chain is extended (oauth2-proxy CVE-2026-40575;
 * caddy-security GHSA-vj36-3ccr-6563).
 */
import t from 'tap';
import { compiledConfig, route } from '../helpers/compiled-config.js';
import { requestFacts, testDecider } from '../helpers/decide-fixtures.js';

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
