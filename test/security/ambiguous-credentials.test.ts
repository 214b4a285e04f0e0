/**
 * Case 2: both `X-API-KEY` and `Authorization`, or either header repeated → 400 invalid_request,
 * before any verification (RFC 6750 §2). Node keeps only the first `Authorization` and joins
 * `X-API-KEY` lines with ", ", so the decision must look at `rawHeaders`. Decision level first, then over HTTP through a real gateway.
 */
import t from 'tap';
import { challenge } from '../../src/errors.js';
import { route } from '../helpers/compiled-config.js';
import { REVOKED_TOKEN, TENANT_ACCESS_TOKEN, USER_API_TOKEN, requestFacts, testDecider } from '../helpers/decide-fixtures.js';
import { expectForwarded, expectRefused } from '../helpers/refusals.js';
import { startScenario } from '../helpers/scenario.js';

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

t.test('over HTTP: 400 invalid_request, and the upstream is not called', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const bearer = await s.mint({ type: 'userApiToken' });
  const apiKey = await s.mint({ type: 'tenantAccessToken' });
  const other = await s.mint({ type: 'userApiToken', claims: { sub: 'client-other' } });
  const cases: { name: string; headers: [string, string][] }[] = [
    { name: 'X-API-KEY and Authorization: Bearer', headers: [['X-API-KEY', apiKey], ['Authorization', `Bearer ${bearer}`]] },
    { name: 'Authorization: Bearer then X-API-KEY', headers: [['Authorization', `Bearer ${bearer}`], ['x-api-key', apiKey]] },
    { name: 'X-API-KEY and a Basic Authorization', headers: [['X-API-KEY', apiKey], ['Authorization', 'Basic dXNlcjpwYXNzd29yZC1zZWNyZXQ=']] },
    { name: 'two Authorization lines (Node would keep only the first)', headers: [['Authorization', `Bearer ${bearer}`], ['Authorization', `Bearer ${other}`]] },
    { name: 'two Authorization lines in different case', headers: [['Authorization', `Bearer ${bearer}`], ['AUTHORIZATION', `Bearer ${bearer}`]] },
    { name: 'two X-API-KEY lines (Node would join them with a comma)', headers: [['X-API-KEY', apiKey], ['X-Api-Key', apiKey]] },
    { name: 'an empty X-API-KEY line next to a valid one', headers: [['X-API-KEY', apiKey], ['X-API-KEY', '']] },
  ];
  for (const c of cases) await expectRefused(t, s, c.name, { headers: c.headers }, 'ERR_AUTH_AMBIGUOUS');
  await expectForwarded(t, s, 'control: one Authorization line', { headers: [['Authorization', `Bearer ${bearer}`]] }, { 'x-auth-subject': 'client-1' });
  await expectForwarded(t, s, 'control: one X-API-KEY line', { headers: [['X-API-KEY', apiKey]] }, { 'x-auth-subject': 'access-2' });
});
