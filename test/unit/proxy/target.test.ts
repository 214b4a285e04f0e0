import t from 'tap';
import { GatewayError } from '../../../src/errors.js';
import { MAX_PATH_LENGTH, normalizeTarget } from '../../../src/proxy/target.js';

t.test('an origin-form target is normalised so the matcher and the upstream read the same path', async (t) => {
  const cases: { name: string; url: string; path: string; matchPath: string; query: string }[] = [
    { name: 'the root is kept', url: '/', path: '/', matchPath: '/', query: '' },
    { name: 'a plain path is returned as is', url: '/api/v1/users', path: '/api/v1/users', matchPath: '/api/v1/users', query: '' },
    { name: 'a trailing slash is kept', url: '/api/', path: '/api/', matchPath: '/api/', query: '' },
    { name: 'the match path is lower-cased but the forwarded path keeps its case', url: '/ADMIN/Users', path: '/ADMIN/Users', matchPath: '/admin/users', query: '' },
    { name: 'encoded unreserved letters are decoded', url: '/%61dmin', path: '/admin', matchPath: '/admin', query: '' },
    { name: 'encoded unreserved marks are decoded', url: '/a%2Db%5Fc%7Ed%2Ee', path: '/a-b_c~d.e', matchPath: '/a-b_c~d.e', query: '' },
    { name: 'the hex of other escapes is upper-cased', url: '/caf%c3%a9', path: '/caf%C3%A9', matchPath: '/caf%c3%a9', query: '' },
    { name: 'an escape already in upper case is left alone', url: '/a%20b', path: '/a%20b', matchPath: '/a%20b', query: '' },
    { name: 'an encoded question mark stays in the path', url: '/a%3fb', path: '/a%3Fb', matchPath: '/a%3fb', query: '' },
    { name: 'a segment of three dots is an ordinary name', url: '/a/.../b', path: '/a/.../b', matchPath: '/a/.../b', query: '' },
    { name: 'a dot inside a segment is an ordinary character', url: '/a/.well-known/x..y', path: '/a/.well-known/x..y', matchPath: '/a/.well-known/x..y', query: '' },
    { name: 'sub-delimiters, colon and at sign are allowed', url: "/a:b@c!$&'()*+,=", path: "/a:b@c!$&'()*+,=", matchPath: "/a:b@c!$&'()*+,=", query: '' },
    { name: 'an at sign at the start of the path stays a path', url: '/@evil.com/x', path: '/@evil.com/x', matchPath: '/@evil.com/x', query: '' },
    { name: 'the query is forwarded as received', url: '/Search?Q=%2e%2E/..&x=[1]', path: '/Search?Q=%2e%2E/..&x=[1]', matchPath: '/search', query: 'Q=%2e%2E/..&x=[1]' },
    { name: 'an empty query is dropped', url: '/a?', path: '/a', matchPath: '/a', query: '' },
    { name: 'a query with a slash and a question mark is accepted', url: '/a?next=/b?c', path: '/a?next=/b?c', matchPath: '/a', query: 'next=/b?c' },
    { name: 'a path of exactly the maximum length is accepted', url: '/' + 'a'.repeat(MAX_PATH_LENGTH - 1), path: '/' + 'a'.repeat(MAX_PATH_LENGTH - 1), matchPath: '/' + 'a'.repeat(MAX_PATH_LENGTH - 1), query: '' },
  ];
  for (const c of cases) {
    t.strictSame(normalizeTarget(c.url), { path: c.path, matchPath: c.matchPath, query: c.query }, c.name);
  }
});

t.test('a target the upstream could read differently is refused with 400', async (t) => {
  const cases: { name: string; url: string }[] = [
    { name: 'absolute-form', url: 'http://evil/' },
    { name: 'absolute-form with userinfo', url: 'http://user@evil/admin' },
    { name: 'authority-form', url: 'evil:443' },
    { name: 'asterisk-form', url: '*' },
    { name: 'an empty target', url: '' },
    { name: 'a relative path', url: 'admin' },
    { name: 'a dot-dot segment', url: '/public/../admin' },
    { name: 'a dot segment', url: '/public/./admin' },
    { name: 'a trailing dot-dot segment', url: '/public/..' },
    { name: 'a trailing dot segment', url: '/admin/.' },
    { name: 'a dot-dot segment alone', url: '/..' },
    { name: 'an encoded dot-dot segment', url: '/public/%2e%2e/admin' },
    { name: 'an upper-case encoded dot-dot segment', url: '/public/%2E%2E/admin' },
    { name: 'a half-encoded dot-dot segment', url: '/public/.%2e/admin' },
    { name: 'an encoded dot segment', url: '/public/%2e/admin' },
    { name: 'a dot-dot segment before the query', url: '/public/..?x=1' },
    { name: 'an encoded slash', url: '/public%2F..%2Fadmin' },
    { name: 'a lower-case encoded slash', url: '/public%2f..%2fadmin' },
    { name: 'an encoded backslash', url: '/public%5C..%5Cadmin' },
    { name: 'a raw backslash', url: '/public\\..\\admin' },
    { name: 'a leading double slash', url: '//admin' },
    { name: 'a double slash inside the path', url: '/public//admin' },
    { name: 'a matrix parameter', url: '/admin;x=1' },
    { name: 'an encoded semicolon', url: '/admin%3Bx=1' },
    { name: 'an encoded percent (double decoding)', url: '/public/%252e%252e/admin' },
    { name: 'an encoded NUL', url: '/admin%00.json' },
    { name: 'an encoded line feed', url: '/a%0Ab' },
    { name: 'an encoded DEL', url: '/a%7Fb' },
    { name: 'a raw NUL', url: '/a\u0000b' },
    { name: 'a raw carriage return', url: '/a\rb' },
    { name: 'a raw tab', url: '/a\tb' },
    { name: 'a raw space', url: '/a b' },
    { name: 'a raw DEL', url: '/a\u007fb' },
    { name: 'a raw non-ASCII character', url: '/caf\u00e9' },
    { name: 'a fragment', url: '/admin#/../public' },
    { name: 'a raw double quote', url: '/a"b' },
    { name: 'a raw pipe', url: '/a|b' },
    { name: 'a truncated escape', url: '/a%2' },
    { name: 'an escape at the very end', url: '/a%' },
    { name: 'an escape with a non-hex digit', url: '/a%G1' },
    { name: 'a control character in the query', url: '/a?x=\r\nInjected: 1' },
    { name: 'a space in the query', url: '/a?x=a b' },
    { name: 'a fragment in the query', url: '/a?x=1#frag' },
    { name: 'a non-ASCII character in the query', url: '/a?x=\u00e9' },
    { name: 'a path one character over the maximum', url: '/' + 'a'.repeat(MAX_PATH_LENGTH) },
  ];
  for (const c of cases) {
    t.throws(() => normalizeTarget(c.url), { code: 'ERR_REQUEST_INVALID', statusCode: 400 }, c.name);
  }
});

t.test('a refusal is a GatewayError whose detail names the rule, never the input', async (t) => {
  try {
    normalizeTarget('/public/../admin');
    t.fail('should have thrown');
  } catch (err) {
    t.ok(err instanceof GatewayError);
    t.equal((err as GatewayError).detail, 'dot segment');
  }
});
