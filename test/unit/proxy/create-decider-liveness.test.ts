import t from 'tap';
import type { Identity } from '../../../src/auth/identity.js';
import { GatewayError } from '../../../src/errors.js';
import { createDecider } from '../../../src/proxy/create-decider.js';
import { compiledConfig, route, authRequirement } from '../../helpers/compiled-config.js';
import { USER_API_IDENTITY, fakeAuthenticator, requestFacts } from '../../helpers/decide-fixtures.js';

/** The token service's liveness hook on the proxy path (SPEC §3, §5): deleted credentials are refused at once. */

const GOOD = 'good.user.token';
const ROUTES = [route({ name: 'api', pathPrefix: '/api' }), route({ name: 'admin', pathPrefix: '/admin', auth: authRequirement({ anyRole: ['owner'] }) })];

function setup(check: (identity: Identity) => Promise<Identity>, issuer = USER_API_IDENTITY.issuer) {
  const calls: Identity[] = [];
  const decide = createDecider(compiledConfig({ routes: ROUTES }), {
    authenticator: fakeAuthenticator({ [GOOD]: USER_API_IDENTITY }),
    liveness: new Map([
      [
        issuer,
        async (identity: Identity) => {
          calls.push(identity);
          return check(identity);
        },
      ],
    ]),
  });
  const request = (url: string) => decide(requestFacts({ url, headers: [['Host', 'api.example.com'], ['Authorization', `Bearer ${GOOD}`]] }));
  return { request, calls };
}

t.test('the live identity, with its current roles, is what is authorized and injected', async (t) => {
  const { request, calls } = setup(async (identity) => ({ ...identity, roles: ['owner'] }));
  const d = await request('/admin/x');
  if (!d.allow) return t.fail(`denied: ${d.error.code}`);
  t.strictSame(d.identity?.roles, ['owner']);
  t.equal(d.headers['x-auth-roles'], 'owner');
  t.equal(calls.length, 1);
});

t.test('a role taken away since the JWT was signed is refused 403', async (t) => {
  const { request } = setup(async (identity) => ({ ...identity, roles: [] }));
  const d = await request('/admin/x');
  t.equal(d.allow ? 'allow' : d.error.code, 'ERR_AUTH_FORBIDDEN');
});

t.test('a revoked credential is refused 401 with its fingerprint logged', async (t) => {
  const { request } = setup(async () => {
    throw new GatewayError('ERR_AUTH_REVOKED', 'deleted');
  });
  const d = await request('/api/x');
  if (d.allow) return t.fail('allowed');
  t.equal(d.error.code, 'ERR_AUTH_REVOKED');
  t.equal(d.error.statusCode, 401);
  t.type(d.tokenFingerprint, 'string');
});

t.test('a failing store fails closed with 503, never an allow', async (t) => {
  const { request } = setup(async () => {
    throw new Error('SQLITE_BUSY');
  });
  const d = await request('/api/x');
  if (d.allow) return t.fail('allowed');
  t.equal(d.error.statusCode, 503);
});

t.test('identities of other issuers are not checked', async (t) => {
  const { request, calls } = setup(async () => {
    throw new GatewayError('ERR_AUTH_REVOKED');
  }, 'local');
  const d = await request('/api/x');
  t.ok(d.allow);
  t.equal(calls.length, 0);
});
