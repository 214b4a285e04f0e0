/**
 * Case 2: both `X-API-KEY` and `Authorization`, or either header repeated → 400 invalid_request,
 * before any verification (RFC 6750 §2). Node keeps only the first `Authorization` and joins
 * `X-API-KEY` lines with ", ", so the decision must look at `rawHeaders`.
 */
import t from 'tap';
import { challenge } from '../../src/errors.js';
import { route } from '../helpers/compiled-config.js';
import { REVOKED_TOKEN, TENANT_ACCESS_TOKEN, USER_API_TOKEN, requestFacts, testDecider } from '../helpers/decide-fixtures.js';

const routes = [route({ name: 'api', pathPrefix: '/api' })];

t.test('more than one credential header line is refused with 400 and nothing verified', async (t) => {
  const cases: { name: string; headers: [string, string][] }[] = [
    { name: 'X-API-KEY and Authorization: Bearer', headers: [['X-API-KEY', TENANT_ACCESS_TOKEN], ['Authorization', `Bearer ${USER_API_TOKEN}`]] },
    { name: 'Authorization: Bearer then X-API-KEY', headers: [['Authorization', `Bearer ${USER_API_TOKEN}`], ['x-api-key', TENANT_ACCESS_TOKEN]] },
    { name: 'X-API-KEY and a Basic Authorization', headers: [['X-API-KEY', TENANT_ACCESS_TOKEN], ['Authorization', 'Basic dXNlcjpwYXNz']] },
    { name: 'two Authorization lines, the second one revoked (Node would keep only the first)', headers: [['Authorization', `Bearer ${USER_API_TOKEN}`], ['Authorization', `Bearer ${REVOKED_TOKEN}`]] },
    { name: 'two Authorization lines in different case', headers: [['Authorization', `Bearer ${USER_API_TOKEN}`], ['AUTHORIZATION', `Bearer ${USER_API_TOKEN}`]] },
    { name: 'two X-API-KEY lines (Node would join them with a comma)', headers: [['X-API-KEY', TENANT_ACCESS_TOKEN], ['X-Api-Key', TENANT_ACCESS_TOKEN]] },
  ];
  for (const c of cases) {
    const { decide, authenticator } = testDecider({ routes });
    const d = await decide(requestFacts({ url: '/api', headers: [['Host', 'api.example.com'], ...c.headers] }));
    if (d.allow) {
      t.fail(`${c.name}: allowed`);
      continue;
    }
    t.equal(d.error.code, 'ERR_AUTH_AMBIGUOUS', c.name);
    t.equal(d.error.statusCode, 400, `${c.name}: 400`);
    t.equal(challenge(d.error, 'gw'), 'Bearer realm="gw", error="invalid_request"', `${c.name}: invalid_request`);
    t.equal(authenticator.calls.length, 0, `${c.name}: nothing verified`);
  }
});

t.test('one credential header is accepted', async (t) => {
  const { decide } = testDecider({ routes });
  const d = await decide(requestFacts({ url: '/api', headers: [['Authorization', `Bearer ${USER_API_TOKEN}`]] }));
  t.equal(d.allow, true);
});
