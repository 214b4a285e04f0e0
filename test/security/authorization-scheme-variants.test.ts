/**
 * Case 4: scheme variants have one documented behaviour and never a 500 (RFC 6750 §2.1; Envoy
 * `TestInvalidPrefix`): the scheme is case-insensitive and followed by 1*SP; `Bearer-x`, a tab,
 * an empty token → 401 invalid_token; another scheme (`Basic`) on a protected route → missing.
 * Decision level first, then over HTTP through a real gateway.
 */
import t from 'tap';
import { challenge } from '../../src/errors.js';
import { route } from '../helpers/compiled-config.js';
import { USER_API_IDENTITY, USER_API_TOKEN, requestFacts, testDecider } from '../helpers/decide-fixtures.js';
import { expectForwarded, expectRefused, type AuthRefusal } from '../helpers/refusals.js';
import { startScenario } from '../helpers/scenario.js';

const routes = [route({ name: 'api', pathPrefix: '/api' })];

t.test('spellings of Bearer all authenticate the same token', async (t) => {
  const values = [`Bearer ${USER_API_TOKEN}`, `bearer ${USER_API_TOKEN}`, `BEARER ${USER_API_TOKEN}`, `bEaReR ${USER_API_TOKEN}`, `Bearer  ${USER_API_TOKEN}`, `Bearer ${USER_API_TOKEN} `];
  for (const value of values) {
    const { decide, authenticator } = testDecider({ routes });
    const d = await decide(requestFacts({ url: '/api', headers: [['Authorization', value]] }));
    t.equal(d.allow && d.identity, USER_API_IDENTITY, JSON.stringify(value));
    t.strictSame(authenticator.calls, [{ kind: 'bearer', token: USER_API_TOKEN }], `${JSON.stringify(value)}: the same token`);
  }
});

t.test('a broken Bearer is an invalid token, another scheme is no credential', async (t) => {
  const cases: { value: string; code: string; challenge: string }[] = [
    { value: `Bearer-${USER_API_TOKEN}`, code: 'ERR_AUTH_MALFORMED', challenge: 'Bearer realm="gw", error="invalid_token"' },
    { value: `Bearer\t${USER_API_TOKEN}`, code: 'ERR_AUTH_MALFORMED', challenge: 'Bearer realm="gw", error="invalid_token"' },
    { value: 'Bearer', code: 'ERR_AUTH_MALFORMED', challenge: 'Bearer realm="gw", error="invalid_token"' },
    { value: 'Bearer    ', code: 'ERR_AUTH_MALFORMED', challenge: 'Bearer realm="gw", error="invalid_token"' },
    { value: `Bearer ${USER_API_TOKEN} extra`, code: 'ERR_AUTH_MALFORMED', challenge: 'Bearer realm="gw", error="invalid_token"' },
    { value: `Bearer ${USER_API_TOKEN}, Bearer other`, code: 'ERR_AUTH_MALFORMED', challenge: 'Bearer realm="gw", error="invalid_token"' },
    { value: 'Basic dXNlcjpwYXNz', code: 'ERR_AUTH_MISSING', challenge: 'Bearer realm="gw"' },
    { value: `Token ${USER_API_TOKEN}`, code: 'ERR_AUTH_MISSING', challenge: 'Bearer realm="gw"' },
    { value: USER_API_TOKEN, code: 'ERR_AUTH_MISSING', challenge: 'Bearer realm="gw"' },
    { value: '', code: 'ERR_AUTH_MISSING', challenge: 'Bearer realm="gw"' },
  ];
  for (const c of cases) {
    const { decide, authenticator } = testDecider({ routes });
    const d = await decide(requestFacts({ url: '/api', headers: [['Authorization', c.value]] }));
    if (d.allow) {
      t.fail(`${JSON.stringify(c.value)}: allowed`);
      continue;
    }
    t.equal(d.error.code, c.code, JSON.stringify(c.value));
    t.equal(d.error.statusCode, 401, `${JSON.stringify(c.value)}: 401`);
    t.equal(challenge(d.error, 'gw'), c.challenge, `${JSON.stringify(c.value)}: challenge`);
    t.equal(authenticator.calls.length, 0, `${JSON.stringify(c.value)}: nothing verified`);
  }
});

t.test('over HTTP: the same token through every spelling, and 401 for the broken ones', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const token = await s.mint({ type: 'userApiToken', claims: { sub: 'client-4' } });
  for (const value of [`Bearer ${token}`, `bearer ${token}`, `BEARER ${token}`, `bEaReR ${token}`, `Bearer  ${token}`, `Bearer ${token} `]) {
    await expectForwarded(t, s, JSON.stringify(value.replace(token, 'x')), { headers: [['Authorization', value]] }, { 'x-auth-subject': 'client-4' });
  }
  const cases: [string, AuthRefusal][] = [
    [`Bearer-${token}`, 'ERR_AUTH_MALFORMED'],
    [`Bearer\t${token}`, 'ERR_AUTH_MALFORMED'],
    ['Bearer', 'ERR_AUTH_MALFORMED'],
    ['Bearer    ', 'ERR_AUTH_MALFORMED'],
    [`Bearer ${token} extra`, 'ERR_AUTH_MALFORMED'],
    [`Bearer ${token}, Bearer ${token}`, 'ERR_AUTH_MALFORMED'],
    [`Basic ${Buffer.from('client-4:a-password-secret').toString('base64')}`, 'ERR_AUTH_MISSING'],
    [`Token ${token}`, 'ERR_AUTH_MISSING'],
    [token, 'ERR_AUTH_MISSING'],
    ['', 'ERR_AUTH_MISSING'],
  ];
  for (const [value, code] of cases) await expectRefused(t, s, JSON.stringify(value.replace(token, 'x')), { headers: [['Authorization', value]] }, code);
});
