/**
 * Case 1: no `Authorization` and no `X-API-KEY` → 401 with a bare `WWW-Authenticate: Bearer
 * realm=…` (no `error`, RFC 6750 §3.1), and nothing reaches the upstream. Decision level: the
 * request is denied with ERR_AUTH_MISSING before the authenticator is asked anything; then the same
 * over HTTP through a real gateway.
 */
import t from 'tap';
import { challenge } from '../../src/errors.js';
import { route } from '../helpers/compiled-config.js';
import { requestFacts, testDecider } from '../helpers/decide-fixtures.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { expectForwarded, expectRefused } from '../helpers/refusals.js';
import { startScenario } from '../helpers/scenario.js';

const routes = [route({ name: 'api', pathPrefix: '/api' }), route({ name: 'public', pathPrefix: '/public', auth: null })];

t.test('a protected route without any credential header is denied with the bare challenge', async (t) => {
  const cases: { name: string; headers: [string, string][] }[] = [
    { name: 'no headers but Host', headers: [['Host', 'api.example.com']] },
    { name: 'only unrelated headers', headers: [['Host', 'api.example.com'], ['Accept', '*/*'], ['Cookie', 'session=abc']] },
    { name: 'a credential in another header name', headers: [['Host', 'api.example.com'], ['X-Access-Token', 'user.api.token'], ['Api-Key', 'user.api.token']] },
    { name: 'an underscore-spelled X_API_KEY', headers: [['Host', 'api.example.com'], ['X_API_KEY', 'user.api.token']] },
    { name: 'a Basic credential', headers: [['Host', 'api.example.com'], ['Authorization', 'Basic dXNlcjpwYXNz']] },
  ];
  for (const c of cases) {
    const { decide, authenticator } = testDecider({ routes });
    const d = await decide(requestFacts({ url: '/api/items', headers: c.headers }));
    if (d.allow) {
      t.fail(`${c.name}: allowed`);
      continue;
    }
    t.equal(d.error.code, 'ERR_AUTH_MISSING', c.name);
    t.equal(d.error.statusCode, 401, `${c.name}: 401`);
    t.equal(challenge(d.error, 'gw'), 'Bearer realm="gw"', `${c.name}: the challenge carries no error code`);
    t.equal(d.route?.name, 'api', `${c.name}: the route is known for the log`);
    t.equal(authenticator.calls.length, 0, `${c.name}: the authenticator is not asked`);
  }
});

t.test('a public route needs no credential', async (t) => {
  const { decide } = testDecider({ routes });
  const d = await decide(requestFacts({ url: '/public/health' }));
  t.equal(d.allow, true);
});

t.test('over HTTP: 401 with the bare challenge, and the upstream is not called', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const token = await s.mint({ type: 'userAccessToken' });
  const cases: { name: string; method?: string; headers: [string, string][] }[] = [
    { name: 'no headers but Host', headers: [] },
    { name: 'only unrelated headers', headers: [['Accept', '*/*'], ['Cookie', `session=${token}`]] },
    { name: 'a credential in another header name', headers: [['X-Access-Token', token], ['Api-Key', token]] },
    { name: 'an underscore-spelled X_API_KEY', headers: [['X_API_KEY', token]] },
    { name: 'a Basic credential', headers: [['Authorization', 'Basic dXNlcjpwYXNzd29yZC1zZWNyZXQ=']] },
    { name: 'a POST', method: 'POST', headers: [['Content-Type', 'text/plain'], ['Content-Length', '0']] },
  ];
  for (const c of cases) await expectRefused(t, s, c.name, { method: c.method, headers: c.headers }, 'ERR_AUTH_MISSING');
  await expectForwarded(t, s, 'control: the same request with the token in X-API-KEY', { headers: [['X-API-KEY', token]] }, { 'x-auth-user-id': 'user-1' });
  await expectForwarded(t, s, 'control: a public route needs no credential', { path: '/public/x' });
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [token]), [], 'the token sent in other headers is not logged either');
});
