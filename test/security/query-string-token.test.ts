/**
 * Case 3: a token in the query string (`?access_token=`, `?api_key=`) is never a credential
 * (RFC 9700 §4.3.2; RFC 6750 §2.3 and §5.3: URLs leak through logs, history and Referer), and the
 * access line logs the path without its query. Decision level first, then over HTTP.
 */
import t from 'tap';
import { challenge } from '../../src/errors.js';
import { route } from '../helpers/compiled-config.js';
import { TENANT_ACCESS_TOKEN, USER_API_IDENTITY, USER_API_TOKEN, requestFacts, testDecider } from '../helpers/decide-fixtures.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { expectForwarded, expectRefused } from '../helpers/refusals.js';
import { startScenario } from '../helpers/scenario.js';

const routes = [route({ name: 'api', pathPrefix: '/api' })];

t.test('a valid token in the query string is not read', async (t) => {
  const urls = [
    `/api/items?access_token=${USER_API_TOKEN}`,
    `/api/items?api_key=${TENANT_ACCESS_TOKEN}`,
    `/api/items?x-api-key=${TENANT_ACCESS_TOKEN}`,
    `/api/items?token=${USER_API_TOKEN}&authorization=Bearer%20${USER_API_TOKEN}`,
  ];
  for (const url of urls) {
    const { decide, authenticator } = testDecider({ routes });
    const d = await decide(requestFacts({ url }));
    if (d.allow) {
      t.fail(`${url}: allowed`);
      continue;
    }
    t.equal(d.error.code, 'ERR_AUTH_MISSING', url);
    t.equal(challenge(d.error, 'gw'), 'Bearer realm="gw"', `${url}: treated as no credential at all`);
    t.equal(authenticator.calls.length, 0, `${url}: the authenticator never sees it`);
  }
});

t.test('with a header credential, the query is only forwarded, never used to authenticate', async (t) => {
  const { decide, authenticator } = testDecider({ routes });
  const d = await decide(requestFacts({ url: `/api?access_token=${TENANT_ACCESS_TOKEN}`, headers: [['Authorization', `Bearer ${USER_API_TOKEN}`]] }));
  if (!d.allow) return t.fail(d.error.code);
  t.equal(d.identity, USER_API_IDENTITY);
  t.strictSame(authenticator.calls, [{ kind: 'bearer', token: USER_API_TOKEN }]);
});

t.test('over HTTP: a query token is no credential, and the logged URL has no query', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const bearer = await s.mint({ type: 'userApiToken' });
  const apiKey = await s.mint({ type: 'tenantAccessToken' });
  const paths = [
    `/api/items?access_token=${bearer}`,
    `/api/items?api_key=${apiKey}`,
    `/api/items?x-api-key=${apiKey}`,
    `/api/items?page=2&access_token=${bearer}`,
    `/api/items?authorization=Bearer%20${bearer}`,
  ];
  for (const path of paths) await expectRefused(t, s, path.replace(/=.*/, '=…'), { path }, 'ERR_AUTH_MISSING');

  const seen = await expectForwarded(
    t,
    s,
    'a header credential with another token in the query',
    { path: `/api/items?access_token=${apiKey}`, headers: [['Authorization', `Bearer ${bearer}`], ['x-request-id', 'with-query']] },
    { 'x-auth-subject': 'client-1', 'x-auth-token-type': 'userApiToken' },
  );
  t.equal(seen?.url, `/api/items?access_token=${apiKey}`, 'the query is forwarded as sent, never used');
  await expectForwarded(t, s, 'a token in the query of a public route', { path: `/public/x?api_key=${apiKey}`, headers: [['x-request-id', 'public-query']] });

  const access = s.gateway.logs.entries().filter((e) => e['msg'] === 'access');
  t.equal(access.length, paths.length + 2, 'every request has its access line');
  for (const entry of access) t.notMatch(String(entry['path']), /\?/, `${String(entry['reqId'])}: the path is logged without its query`);
  t.equal(access.find((e) => e['reqId'] === 'with-query')?.['path'], '/api/items');
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [bearer, apiKey]), [], 'no query token in any log line');
});
