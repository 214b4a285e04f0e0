/**
 * Case 38: a POST with `Expect: 100-continue` still gets the identity headers injected and the
 * spoofed ones stripped (http-proxy skips `proxyReq` when `Expect` is present; GHSA-6x33-pw7p-hmpq).
 * Decision level: the headers do not depend on `Expect`, and `Expect` itself is not forwarded
 * (Node answers the 100-continue to the client; undici refuses the header). HTTP level: a real
 * 100-continue exchange with a large body.
 */
import { request } from 'node:http';
import t from 'tap';
import { route } from '../helpers/compiled-config.js';
import { USER_API_TOKEN, requestFacts, testDecider } from '../helpers/decide-fixtures.js';
import { rawHeaderValues } from '../../scripts/echo-upstream.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { send, startScenario } from '../helpers/scenario.js';

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

// HTTP level: node:http sends the headers, waits for the interim 100 Continue, then the body.

/** A POST with `Expect: 100-continue` whose body is written only once the server said continue. */
function postExpectingContinue(
  url: string,
  headers: Record<string, string>,
  body: Buffer,
): Promise<{ status: number; body: string; continued: boolean }> {
  return new Promise((resolve, reject) => {
    let continued = false;
    const req = request(url, { method: 'POST', agent: false, headers: { ...headers, expect: '100-continue', 'content-length': String(body.length) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), continued }));
      res.on('error', reject);
    });
    req.on('continue', () => {
      continued = true;
      req.end(body);
    });
    req.on('error', reject);
  });
}

t.test('over HTTP: a 256 KiB POST behind Expect: 100-continue gets the identity injected and the spoof stripped', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const token = await s.mint({ type: 'userAccessToken', claims: { userId: 'user-38', tenantId: 'tenant-38' } });
  const body = Buffer.alloc(256 * 1024);
  for (let i = 0; i < body.length; i += 1) body[i] = 0x61 + (i % 26);
  const res = await postExpectingContinue(`${s.gateway.url}/api/upload`, { 'x-api-key': token, 'X-Auth-User-Id': 'admin', 'content-type': 'text/plain' }, body);
  t.ok(res.continued, 'the client was told to continue');
  t.equal(res.status, 200);
  t.equal(s.upstream.received.length, 1);
  const seen = s.upstream.received[0]!;
  t.strictSame(rawHeaderValues(seen, 'x-auth-user-id'), ['user-38'], 'the identity is injected, the spoof stripped');
  t.strictSame(rawHeaderValues(seen, 'x-auth-tenant-id'), ['tenant-38']);
  t.strictSame(rawHeaderValues(seen, 'expect'), [], 'Expect is not forwarded');
  t.strictSame(rawHeaderValues(seen, 'x-api-key'), [], 'the credential is not forwarded');
  t.equal(seen.body.length, body.length, 'the body arrived whole');
  t.ok(seen.body === body.toString('latin1'), 'byte for byte');

  const denied = await postExpectingContinue(`${s.gateway.url}/api/upload`, { 'X-Auth-User-Id': 'admin' }, body).catch((err: Error) => err);
  // A denied request may be answered before or instead of the 100 (RFC 9110 §10.1.1); either way a 401.
  t.equal(denied instanceof Error ? denied.message : denied.status, 401, 'no credential: 401');
  t.equal(s.upstream.received.length, 1, 'the denied upload reached no upstream');
  t.equal((await send(`${s.gateway.url}/public/x`)).status, 200, 'still serving');
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [token]), [], 'no token in the logs');
});
