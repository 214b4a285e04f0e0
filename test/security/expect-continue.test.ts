/**
 * Case 38: a POST with `Expect: 100-continue` still gets the identity headers injected and the
 * spoofed ones stripped (http-proxy skips `proxyReq` when `Expect` is present; GHSA-6x33-pw7p-hmpq).
 * Decision level: the headers do not depend on `Expect`, and `Expect` itself is not forwarded
 * (Node answers the 100-continue to the client; undici refuses the header).
 */
import t from 'tap';
import { route } from '../helpers/compiled-config.js';
import { USER_API_TOKEN, requestFacts, testDecider } from '../helpers/decide-fixtures.js';

const routes = [route({ name: 'api', pathPrefix: '/api' })];

t.test('Expect: 100-continue changes nothing in the forwarded identity', async (t) => {
  const base: [string, string][] = [
    ['Host', 'api.example.com'],
    ['Content-Length', '1048576'],
    ['X-Auth-User-Id', 'admin'],
    ['X-Auth-Tenant-Id', 'other'],
    ['Authorization', `Bearer ${USER_API_TOKEN}`],
  ];
  const { decide } = testDecider({ routes });
  const without = await decide(requestFacts({ method: 'POST', url: '/api/upload', headers: base }));
  const withExpect = await decide(requestFacts({ method: 'POST', url: '/api/upload', headers: [...base, ['Expect', '100-continue']] }));
  if (!without.allow || !withExpect.allow) return t.fail('denied');
  t.strictSame({ ...withExpect.headers }, { ...without.headers }, 'identical headers with and without Expect');
  t.equal(withExpect.headers['x-auth-user-id'], 'user-1');
  t.equal(withExpect.headers['x-auth-tenant-id'], 'tenant-1');
  t.equal(withExpect.headers['content-length'], '1048576');
  t.notOk('expect' in withExpect.headers, 'Expect is not forwarded');
});
