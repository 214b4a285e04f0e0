/**
 * Case 40: the upstream never receives the client's `Authorization` or `X-API-KEY` unless the
 * route sets `forwardCredentials` (Envoy's default `forward: false`), and an upstream redirect is
 * handed back, never followed, so credentials cannot travel to its `Location` host
 * (follow-redirects CVE-2024-28849). The decision is tested first, then both over real HTTP.
 */
import t from 'tap';
import { route } from '../helpers/compiled-config.js';
import { TENANT_ACCESS_TOKEN, USER_API_TOKEN, requestFacts, testDecider } from '../helpers/decide-fixtures.js';
import { rawHeaderValues, startEchoUpstream } from '../../scripts/echo-upstream.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { send, startScenario } from '../helpers/scenario.js';

const routes = [
  route({ name: 'api', pathPrefix: '/api' }),
  route({ name: 'legacy', pathPrefix: '/legacy', forwardCredentials: true }),
  route({ name: 'public', pathPrefix: '/public', auth: null }),
];

t.test('credentials stay at the gateway by default', async (t) => {
  const cases: { name: string; url: string; header: [string, string] }[] = [
    { name: 'a bearer token on a protected route', url: '/api', header: ['Authorization', `Bearer ${USER_API_TOKEN}`] },
    { name: 'an access token on a protected route', url: '/api', header: ['X-API-KEY', TENANT_ACCESS_TOKEN] },
    { name: 'a bearer token on a public route', url: '/public', header: ['Authorization', `Bearer ${USER_API_TOKEN}`] },
    { name: 'a Basic credential on a public route', url: '/public', header: ['Authorization', 'Basic dXNlcjpwYXNz'] },
    { name: 'an access token on a public route', url: '/public', header: ['x-api-key', TENANT_ACCESS_TOKEN] },
  ];
  for (const c of cases) {
    const { decide } = testDecider({ routes });
    const d = await decide(requestFacts({ url: c.url, headers: [['Host', 'api.example.com'], c.header] }));
    if (!d.allow) {
      t.fail(`${c.name}: ${d.error.code}`);
      continue;
    }
    t.notOk('authorization' in d.headers, `${c.name}: no Authorization upstream`);
    t.notOk('x-api-key' in d.headers, `${c.name}: no X-API-KEY upstream`);
  }
});

t.test('a route that opts in forwards the credential as received', async (t) => {
  const { decide } = testDecider({ routes });
  const bearer = await decide(requestFacts({ url: '/legacy', headers: [['Authorization', `Bearer ${USER_API_TOKEN}`]] }));
  t.equal(bearer.allow && bearer.headers.authorization, `Bearer ${USER_API_TOKEN}`);
  const apiKey = await decide(requestFacts({ url: '/legacy', headers: [['X-API-KEY', TENANT_ACCESS_TOKEN]] }));
  t.equal(apiKey.allow && apiKey.headers['x-api-key'], TENANT_ACCESS_TOKEN);
});

// HTTP level: what the echo upstream received, and a second upstream that a redirect points to.

t.test('over HTTP: no credential reaches the upstream unless the route opts in', async (t) => {
  const s = await startScenario({
    routes: (u) => [{ name: 'legacy', pathPrefix: '/legacy', upstream: u, auth: {}, forwardCredentials: true }],
  });
  t.teardown(() => s.close());
  const bearer = await s.mint({ type: 'userApiToken' });
  const apiKey = await s.mint({ type: 'tenantAccessToken' });
  const basic = `Basic ${Buffer.from('someone:hunter2-secret').toString('base64')}`;
  const cases: { name: string; path: string; header: [string, string]; forwarded: boolean }[] = [
    { name: 'a bearer token on a protected route', path: '/api/x', header: ['Authorization', `Bearer ${bearer}`], forwarded: false },
    { name: 'an access token on a protected route', path: '/api/x', header: ['X-API-KEY', apiKey], forwarded: false },
    { name: 'a bearer token on a public route', path: '/public/x', header: ['authorization', `Bearer ${bearer}`], forwarded: false },
    { name: 'a Basic credential on a public route', path: '/public/x', header: ['Authorization', basic], forwarded: false },
    { name: 'an access token on a public route', path: '/public/x', header: ['x-api-key', apiKey], forwarded: false },
    { name: 'a bearer token on the opted-in route', path: '/legacy/x', header: ['Authorization', `Bearer ${bearer}`], forwarded: true },
    { name: 'an access token on the opted-in route', path: '/legacy/x', header: ['X-API-KEY', apiKey], forwarded: true },
  ];
  for (const c of cases) {
    const before = s.upstream.received.length;
    const res = await send(`${s.gateway.url}${c.path}`, { headers: [c.header] });
    t.equal(res.status, 200, c.name);
    t.equal(s.upstream.received.length, before + 1, `${c.name}: forwarded`);
    const seen = s.upstream.received.at(-1)!;
    const expected = c.forwarded ? [c.header[1]] : [];
    t.strictSame(rawHeaderValues(seen, c.header[0]), expected, `${c.name}: ${c.forwarded ? 'passed as received' : 'not forwarded'}`);
    t.strictSame(
      [...rawHeaderValues(seen, 'authorization'), ...rawHeaderValues(seen, 'x-api-key')],
      expected,
      `${c.name}: no other credential line either`,
    );
  }
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [bearer, apiKey, basic, 'hunter2-secret']), [], 'no credential in the logs');
});

t.test('over HTTP: an upstream redirect goes back to the client and is never followed', async (t) => {
  const other = await startEchoUpstream();
  const s = await startScenario();
  t.teardown(async () => {
    await s.close();
    await other.close();
  });
  const token = await s.mint({ type: 'tenantAccessToken' });
  for (const status of [301, 302, 303, 307, 308]) {
    s.upstream.handle((_req, res) => {
      res.writeHead(status, { location: `${other.url}/steal`, 'content-length': 0 }).end();
    });
    const res = await send(`${s.gateway.url}/api/x`, { method: 'POST', body: 'payload', headers: [['x-api-key', token], ['content-type', 'text/plain']] });
    t.equal(res.status, status, `${status} reaches the client`);
    t.equal(res.headers['location'], `${other.url}/steal`, `${status}: Location untouched`);
  }
  t.equal(s.upstream.received.length, 5, 'the configured upstream saw each request once');
  t.equal(other.connections(), 0, 'the Location host was never contacted');
  t.equal(other.received.length, 0);
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [token]), [], 'no token in the logs');
});
