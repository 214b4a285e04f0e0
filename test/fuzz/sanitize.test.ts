/** Header sanitizing (src/proxy/sanitize.ts, src/proxy/hop-by-hop.ts) on arbitrary header lines. */
import fc from 'fast-check';
import t from 'tap';
import { HOP_BY_HOP_HEADERS } from '../../src/proxy/hop-by-hop.js';
import { sanitizeHeaders, type SanitizeContext } from '../../src/proxy/sanitize.js';
import { identityHeaders, route } from '../helpers/compiled-config.js';
import { nodeHeaders } from '../helpers/decide-fixtures.js';
import { assertProperty } from '../helpers/fuzz.js';

const PEER = '203.0.113.7';
const PROXY = '10.0.0.2';
const identity = identityHeaders({ strip: new Set(['x-user-id', 'x-tenant-id']) });

/** Every header the gateway manages: a client must never get one of these through under any spelling. */
const MANAGED = [
  ...Object.values(identity.names),
  ...identity.strip,
  'x-auth-anything',
  ...HOP_BY_HOP_HEADERS,
  'http2-settings',
  'expect',
  'x-original-url',
  'x-rewrite-url',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  'authorization',
  'x-api-key',
  'x-request-id',
  'forwarded',
  'x-real-ip',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-prefix',
  'sec-websocket-key',
  'host',
];

/** Names the gateway sets itself after sanitizing. */
const SET_BY_GATEWAY = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-request-id', 'connection', 'upgrade']);

/** A managed name in any case, with any of its dashes written as underscores. */
const respelled = fc
  .tuple(fc.constantFrom(...MANAGED), fc.array(fc.boolean(), { minLength: 64, maxLength: 64 }), fc.array(fc.boolean(), { minLength: 64, maxLength: 64 }))
  .map(([name, upper, underscore]) => [...name].map((c, i) => (c === '-' && underscore[i] ? '_' : upper[i] ? c.toUpperCase() : c)).join(''));
const token = fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,20}$/);
/** A field value as Node's parser lets it through: visible ASCII, SP and HTAB, obs-text. */
const fieldValue = fc.string({ unit: fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.constant(0x09), fc.integer({ min: 0x80, max: 0xff })).map((c) => String.fromCharCode(c)), maxLength: 40 });
const connectionValue = fc.array(fc.oneof(respelled, token, fc.constantFrom('close', 'keep-alive', 'upgrade')), { maxLength: 4 }).map((names) => names.join(', '));
const lines = fc.array(fc.oneof(fc.tuple(respelled, fieldValue), fc.tuple(token, fieldValue), fc.tuple(fc.constant('Connection'), connectionValue)), { maxLength: 12 });

const context = (trusted: boolean, upgrade: boolean, forwardCredentials: boolean): SanitizeContext => ({
  route: route({ name: 'api', pathPrefix: '/api', forwardCredentials }),
  identity,
  remoteAddress: trusted ? PROXY : PEER,
  encrypted: false,
  isTrustedProxy: (address) => address === PROXY,
  requestId: 'req-1',
  upgrade,
});

const fold = (name: string) => name.toLowerCase().replaceAll('_', '-');

t.test('no client-supplied identity, hop-by-hop or routing header survives in any case or underscore spelling', async () => {
  assertProperty(
    fc.property(lines, fc.boolean(), fc.boolean(), fc.boolean(), (input, trusted, upgrade, forwardCredentials) => {
      const out = sanitizeHeaders(nodeHeaders(input.flat()), context(trusted, upgrade, forwardCredentials));
      const connectionNamed = input.filter(([n]) => fold(n) === 'connection').flatMap(([, v]) => v.split(',').map((x) => fold(x.trim())));
      for (const key of Object.keys(out)) {
        const name = fold(key);
        if (SET_BY_GATEWAY.has(key)) continue;
        if (name.startsWith(identity.prefix) || identity.strip.has(name)) return false;
        if (HOP_BY_HOP_HEADERS.has(name) || name === 'expect' || name === 'http2-settings' || name === 'host') return false;
        if (name.startsWith('x-original') || name.startsWith('x-rewrite') || name.includes('method')) return false;
        if (name === 'x-request-id' || connectionNamed.includes(name)) return false;
        if ((name === 'authorization' || name === 'x-api-key') && !(forwardCredentials && key === name)) return false;
        if ((name === 'forwarded' || name === 'x-real-ip' || name.startsWith('x-forwarded-')) && !(trusted && key === name)) return false;
        if (name.startsWith('sec-websocket-') && !(upgrade && key === name)) return false;
        // What is kept is kept as sent, under its lower-case name.
        if (key !== key.toLowerCase()) return false;
      }
      return out['x-request-id'] === 'req-1' && typeof out['x-forwarded-for'] === 'string' && out['x-forwarded-for'].endsWith(trusted ? PROXY : PEER);
    }),
  );
});

t.test('sanitizing is idempotent for what the client sent', async () => {
  assertProperty(
    fc.property(lines, fc.boolean(), fc.boolean(), (input, upgrade, forwardCredentials) => {
      const ctx = context(false, upgrade, forwardCredentials);
      const passed = (headers: object) => JSON.stringify(Object.entries(headers).filter(([k]) => !SET_BY_GATEWAY.has(k)).sort());
      const once = sanitizeHeaders(nodeHeaders(input.flat()), ctx);
      const twice = sanitizeHeaders(once, ctx);
      return passed(once) === passed(twice);
    }),
  );
});

t.test('a header value the gateway sets itself never holds CR, LF or NUL, and X-Forwarded-Host is always a host', async () => {
  assertProperty(
    fc.property(lines, fc.boolean(), (input, trusted) => {
      const out = sanitizeHeaders(nodeHeaders(input.flat()), context(trusted, false, false));
      for (const [key, value] of Object.entries(out)) {
        const text = Array.isArray(value) ? value.join('') : String(value);
        if (/[\r\n\0]/.test(text)) return false;
        if (key === 'x-forwarded-host' && !/^[A-Za-z0-9_.\-[\]:]+$/.test(text)) return false;
      }
      return !Object.hasOwn(out, '__proto__');
    }),
  );
});
