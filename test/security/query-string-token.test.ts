/**
 * Case 3: a token in the query string (`?access_token=`, `?api_key=`) is never a credential
 * (RFC 9700 §4.3.2; RFC 6750 §2.3 and §5.3: URLs leak through logs, history and Referer).
 */
import t from 'tap';
import { challenge } from '../../src/errors.js';
import { route } from '../helpers/compiled-config.js';
import { TENANT_ACCESS_TOKEN, USER_API_IDENTITY, USER_API_TOKEN, requestFacts, testDecider } from '../helpers/decide-fixtures.js';

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
