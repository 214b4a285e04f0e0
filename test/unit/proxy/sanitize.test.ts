import t from 'tap';
import type { IncomingHttpHeaders } from 'node:http';
import { sanitizeHeaders, type SanitizeContext } from '../../../src/proxy/sanitize.js';
import { identityHeaders, route } from '../../helpers/compiled-config.js';
import { nodeHeaders } from '../../helpers/decide-fixtures.js';

const PEER = '203.0.113.7';
const PROXY = '10.0.0.2';

function ctx(overrides: Partial<SanitizeContext> = {}): SanitizeContext {
  return {
    route: route({ name: 'api', pathPrefix: '/api' }),
    identity: identityHeaders({ strip: new Set(['x-auth-user-id', 'x-user-id', 'x-tenant-id']) }),
    remoteAddress: PEER,
    encrypted: false,
    isTrustedProxy: (addr) => addr === PROXY,
    requestId: 'req-1',
    upgrade: false,
    ...overrides,
  };
}

/** Headers as Node would hand them over for these raw lines. */
function raw(...lines: [string, string][]): IncomingHttpHeaders {
  return nodeHeaders(lines.flat());
}

/** What the gateway always sets for a plain request from PEER over HTTP with `Host: api.example.com`. */
const SET = { 'x-forwarded-for': PEER, 'x-forwarded-proto': 'http', 'x-forwarded-host': 'api.example.com', 'x-request-id': 'req-1' };

t.test('end-to-end headers pass and the gateway sets its own', async (t) => {
  const out = sanitizeHeaders(raw(['Host', 'api.example.com'], ['Accept', 'application/json'], ['Content-Length', '3'], ['X-Custom', 'a'], ['x-custom', 'b']), ctx());
  t.strictSame({ ...out }, { accept: 'application/json', 'content-length': '3', 'x-custom': 'a, b', ...SET });
});

t.test('each header that must not cross the gateway is dropped', async (t) => {
  const cases: { name: string; line: [string, string] }[] = [
    { name: 'connection', line: ['Connection', 'keep-alive'] },
    { name: 'keep-alive', line: ['Keep-Alive', 'timeout=5'] },
    { name: 'proxy-connection', line: ['Proxy-Connection', 'keep-alive'] },
    { name: 'te', line: ['TE', 'trailers'] },
    { name: 'trailer', line: ['Trailer', 'X-Checksum'] },
    { name: 'transfer-encoding', line: ['Transfer-Encoding', 'chunked'] },
    { name: 'upgrade outside an upgrade', line: ['Upgrade', 'websocket'] },
    { name: 'proxy-authorization', line: ['Proxy-Authorization', 'Basic eDp5'] },
    { name: 'proxy-authenticate', line: ['Proxy-Authenticate', 'Basic'] },
    { name: 'http2-settings', line: ['HTTP2-Settings', 'AAMAAABkAAQAAP__'] },
    { name: 'expect (Node answers 100-continue itself)', line: ['Expect', '100-continue'] },
    { name: 'the identity prefix', line: ['X-Auth-Roles', 'admin'] },
    { name: 'the identity prefix in upper case', line: ['X-AUTH-TENANT-ID', 't'] },
    { name: 'the identity prefix spelled with underscores', line: ['X_Auth_User_Id', 'u'] },
    { name: 'the identity prefix half underscored', line: ['X-Auth_User_Id', 'u'] },
    { name: 'a name in strip', line: ['X-User-Id', 'u'] },
    { name: 'a name in strip spelled with underscores', line: ['x_tenant_id', 't'] },
    { name: 'authorization', line: ['Authorization', 'Bearer abc'] },
    { name: 'x-api-key', line: ['X-API-KEY', 'abc'] },
    { name: 'x-api-key spelled with underscores', line: ['X_API_KEY', 'abc'] },
    { name: 'the client x-request-id', line: ['X-Request-Id', 'forged'] },
    { name: 'forwarded from an untrusted peer', line: ['Forwarded', 'for=1.2.3.4'] },
    { name: 'x-real-ip from an untrusted peer', line: ['X-Real-IP', '1.2.3.4'] },
    { name: 'x-forwarded-uri from an untrusted peer', line: ['X-Forwarded-Uri', '/admin'] },
    { name: 'x-forwarded-port from an untrusted peer', line: ['X-Forwarded-Port', '443'] },
    { name: 'x_forwarded_for spelled with underscores', line: ['X_Forwarded_For', '1.2.3.4'] },
    { name: 'x-original-url (path override)', line: ['X-Original-URL', '/admin'] },
    { name: 'x-rewrite-url (path override)', line: ['X-Rewrite-URL', '/admin'] },
    { name: 'x-http-method-override', line: ['X-HTTP-Method-Override', 'DELETE'] },
    { name: 'x-http-method', line: ['X-HTTP-Method', 'DELETE'] },
    { name: 'x-method-override', line: ['X-Method-Override', 'DELETE'] },
    { name: 'sec-websocket-key outside an upgrade', line: ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='] },
  ];
  for (const c of cases) {
    const out = sanitizeHeaders(raw(['Host', 'api.example.com'], c.line), ctx());
    t.strictSame({ ...out }, SET, c.name);
  }
});

t.test('every header named in Connection is dropped, but never what the gateway sets', async (t) => {
  const out = sanitizeHeaders(
    raw(
      ['Host', 'api.example.com'],
      ['Connection', 'close, X-Custom,x-forwarded-for'],
      ['connection', ' X_Other , X-Request-Id'],
      ['X-Custom', '1'],
      ['X-Other', '2'],
      ['X-Kept', '3'],
    ),
    ctx(),
  );
  t.strictSame({ ...out }, { 'x-kept': '3', ...SET });
});

t.test('a Connection header naming a credential drops it even on a route forwarding credentials', async (t) => {
  const fwd = route({ name: 'fwd', pathPrefix: '/', forwardCredentials: true });
  const out = sanitizeHeaders(raw(['Host', 'h'], ['Connection', 'Authorization'], ['Authorization', 'Bearer abc']), ctx({ route: fwd }));
  t.equal(out.authorization, undefined);
});

t.test('credential headers reach the upstream only on a route that opts in', async (t) => {
  const fwd = route({ name: 'fwd', pathPrefix: '/', forwardCredentials: true });
  const out = sanitizeHeaders(raw(['Host', 'api.example.com'], ['Authorization', 'Bearer abc'], ['X-Api-Key', 'k'], ['X_API_KEY', 'k2']), ctx({ route: fwd }));
  t.strictSame({ ...out }, { authorization: 'Bearer abc', 'x-api-key': 'k', ...SET }, 'the underscore spelling is still dropped');
});

t.test('forwarding headers describe the socket peer unless it is a trusted proxy', async (t) => {
  const spoofed: [string, string][] = [
    ['Host', 'api.example.com'],
    ['X-Forwarded-For', '1.2.3.4'],
    ['X-Forwarded-Proto', 'https'],
    ['X-Forwarded-Host', 'evil.example'],
    ['Forwarded', 'for=1.2.3.4;proto=https'],
    ['X-Real-IP', '1.2.3.4'],
  ];
  t.strictSame({ ...sanitizeHeaders(raw(...spoofed), ctx()) }, SET, 'an untrusted peer: overwritten, not appended');
  t.strictSame(
    { ...sanitizeHeaders(raw(...spoofed), ctx({ remoteAddress: PROXY })) },
    {
      forwarded: 'for=1.2.3.4;proto=https',
      'x-real-ip': '1.2.3.4',
      'x-forwarded-for': `1.2.3.4, ${PROXY}`,
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'evil.example',
      'x-request-id': 'req-1',
    },
    'a trusted proxy: its chain is kept and extended',
  );
  t.strictSame(
    { ...sanitizeHeaders(raw(['Host', 'api.example.com'], ['X-Forwarded-For', '1.2.3.4'], ['X-Forwarded-For', '5.6.7.8']), ctx({ remoteAddress: PROXY })) },
    { ...SET, 'x-forwarded-for': `1.2.3.4, 5.6.7.8, ${PROXY}` },
    'repeated lines from a trusted proxy are one chain',
  );
  t.strictSame(
    { ...sanitizeHeaders(raw(['Host', 'api.example.com'], ['X-Forwarded-Proto', 'gopher'], ['X-Forwarded-Host', 'a b']), ctx({ remoteAddress: PROXY, encrypted: true })) },
    { ...SET, 'x-forwarded-for': PROXY, 'x-forwarded-proto': 'https' },
    'a malformed value from a trusted proxy is replaced by what the gateway knows',
  );
  t.strictSame({ ...sanitizeHeaders(raw(['Host', 'api.example.com']), ctx({ encrypted: true })) }, { ...SET, 'x-forwarded-proto': 'https' }, 'TLS sets https');
});

t.test('x-forwarded-host repeats the Host header only when it is well-formed', async (t) => {
  const cases: { host: string; expected: string | undefined }[] = [
    { host: 'api.example.com', expected: 'api.example.com' },
    { host: 'api.example.com:8443', expected: 'api.example.com:8443' },
    { host: '127.0.0.1:80', expected: '127.0.0.1:80' },
    { host: '[::1]:8080', expected: '[::1]:8080' },
    { host: 'internal_host', expected: 'internal_host' },
    { host: 'evil.com/path', expected: undefined },
    { host: 'user@evil.com', expected: undefined },
    { host: 'a b', expected: undefined },
    { host: 'a:port', expected: undefined },
    { host: '', expected: undefined },
    { host: 'a'.repeat(300), expected: undefined },
  ];
  for (const c of cases) {
    t.equal(sanitizeHeaders(raw(['Host', c.host]), ctx())['x-forwarded-host'], c.expected, JSON.stringify(c.host));
  }
  t.equal(sanitizeHeaders(raw(), ctx())['x-forwarded-host'], undefined, 'no Host header');
});

t.test('an accepted WebSocket upgrade keeps its handshake and gets Connection: upgrade', async (t) => {
  const lines: [string, string][] = [
    ['Host', 'api.example.com'],
    ['Connection', 'keep-alive, Upgrade'],
    ['Upgrade', 'WebSocket'],
    ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='],
    ['Sec-WebSocket-Version', '13'],
    ['Sec_WebSocket_Protocol', 'forged'],
  ];
  t.strictSame({ ...sanitizeHeaders(raw(...lines), ctx({ upgrade: true })) }, {
    'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
    'sec-websocket-version': '13',
    ...SET,
    connection: 'upgrade',
    upgrade: 'WebSocket',
  });
  const h2c = sanitizeHeaders(raw(['Host', 'api.example.com'], ['Connection', 'Upgrade'], ['Upgrade', 'h2c']), ctx({ upgrade: true }));
  t.strictSame({ ...h2c }, { ...SET, connection: 'upgrade' }, 'only websocket is repeated in Upgrade');
});

t.test('header names that look like object internals stay plain data or are dropped', async (t) => {
  const out = sanitizeHeaders(
    raw(['Host', 'api.example.com'], ['__proto__', 'x'], ['__PROTO__', 'y'], ['constructor', 'c'], ['hasOwnProperty', 'h'], ['toString', 's']),
    ctx(),
  );
  t.equal(Object.getPrototypeOf(out), Object.prototype, 'the prototype is not replaced');
  t.strictSame(Object.keys(out).sort(), ['constructor', 'hasownproperty', 'tostring', ...Object.keys(SET)].sort(), '__proto__ is dropped, the rest kept');
  t.equal(out.constructor, 'c');
  t.notOk(Object.hasOwn(out, '__proto__'));
  const poisoned: IncomingHttpHeaders = JSON.parse('{"__proto__": ["polluted"], "host": "api.example.com"}');
  const fromJson = sanitizeHeaders(poisoned, ctx());
  t.equal(Object.getPrototypeOf(fromJson), Object.prototype, 'an own __proto__ key holding an array cannot re-parent the result');
  t.equal(({} as Record<string, unknown>)['0'], undefined, 'Object.prototype untouched');
});

t.test('the input object is not modified', async (t) => {
  const input = raw(['Host', 'api.example.com'], ['X-Auth-User-Id', 'u'], ['Authorization', 'Bearer a']);
  const before = { ...input };
  sanitizeHeaders(input, ctx());
  t.strictSame({ ...input }, before);
});
