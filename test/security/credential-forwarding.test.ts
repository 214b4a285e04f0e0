/**
 * Case 40 (header part): the upstream never receives the client's `Authorization` or `X-API-KEY`
 * unless the route sets `forwardCredentials` (Envoy's default `forward: false`). Not following
 * upstream redirects is the forwarder's part, tested at the HTTP level.
 */
import t from 'tap';
import { route } from '../helpers/compiled-config.js';
import { TENANT_ACCESS_TOKEN, USER_API_TOKEN, requestFacts, testDecider } from '../helpers/decide-fixtures.js';

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
