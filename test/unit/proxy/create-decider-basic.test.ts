import t from 'tap';
import type { BasicCredentials } from '../../../src/auth/basic.js';
import { tokenFingerprint } from '../../../src/auth/token-hash.js';
import { GatewayError } from '../../../src/errors.js';
import { createDecider } from '../../../src/proxy/create-decider.js';
import { authRequirement, compiledConfig, route } from '../../helpers/compiled-config.js';
import { fakeAuthenticator, requestFacts, USER_API_IDENTITY, USER_API_TOKEN } from '../../helpers/decide-fixtures.js';

/** Exchange at the edge on the decision path, without sockets: Basic → the exchange's JWT → the usual checks. */

const ROUTES = [
  route({ name: 'edge', pathPrefix: '/edge', auth: authRequirement({ basic: true }), forwardCredentials: true }),
  route({ name: 'api', pathPrefix: '/api' }),
];
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

function setup(forwardJwt: boolean, exchange: (c: BasicCredentials, peer: string) => Promise<string> = async () => USER_API_TOKEN) {
  const asked: { credentials: BasicCredentials; peer: string }[] = [];
  const decide = createDecider(compiledConfig({ routes: ROUTES, auth: { ...compiledConfig({ routes: ROUTES }).auth, basicExchange: { forwardJwt } } }), {
    authenticator: fakeAuthenticator({ [USER_API_TOKEN]: USER_API_IDENTITY }),
    exchangeBasic: async (credentials, peer) => {
      asked.push({ credentials, peer });
      return exchange(credentials, peer);
    },
  });
  const request = (url: string, authorization: string) => decide(requestFacts({ url, headers: [['Host', 'h'], ['Authorization', authorization]] }));
  return { request, asked };
}

t.test('Basic is exchanged for the JWT, which is what gets authenticated; the Basic header is dropped even with forwardCredentials', async (t) => {
  const { request, asked } = setup(false);
  const d = await request('/edge/x', basic('client-1', 'secret-1'));
  if (!d.allow) throw t.fail(d.error.code);
  t.strictSame(asked.map((a) => a.credentials), [{ clientId: 'client-1', secret: 'secret-1' }]);
  t.equal(d.credentialKind, 'basic');
  t.equal(d.tokenFingerprint, tokenFingerprint('client-1'), 'the clientId fingerprint');
  t.equal(d.headers['authorization'], undefined);
  t.equal(d.headers['x-auth-subject'], USER_API_IDENTITY.subject);
});

t.test('forwardJwt puts the minted JWT upstream as Bearer', async (t) => {
  const { request } = setup(true);
  const d = await request('/edge/x', basic('client-1', 'secret-1'));
  t.equal(d.allow && d.headers['authorization'], `Bearer ${USER_API_TOKEN}`);
});

t.test('refusals of the exchange deny with their code; a broken exchange is 503, never an allow', async (t) => {
  const cases: [string, Error, string][] = [
    ['a refused secret', new GatewayError('ERR_TOKEN_INVALID_CLIENT'), 'ERR_TOKEN_INVALID_CLIENT'],
    ['the rate limit', new GatewayError('ERR_TOKEN_RATE_LIMITED', 'x', { retryAfterSeconds: 30 }), 'ERR_TOKEN_RATE_LIMITED'],
    ['a broken store', new Error('connection lost'), 'ERR_STORE_UNAVAILABLE'],
  ];
  for (const [name, error, code] of cases) {
    const { request } = setup(false, async () => {
      throw error;
    });
    const d = await request('/edge/x', basic('client-1', 'secret-1'));
    t.equal(d.allow ? 'allowed' : d.error.code, code, name);
    t.equal(d.tokenFingerprint, tokenFingerprint('client-1'), `${name}: logged by the clientId fingerprint`);
  }
});

t.test('malformed Basic is an invalid credential and is not exchanged; elsewhere Basic is no credential', async (t) => {
  const { request, asked } = setup(false);
  const malformed = await request('/edge/x', `Basic ${Buffer.from('no-colon').toString('base64')}`);
  t.equal(malformed.allow ? 'allowed' : malformed.error.code, 'ERR_AUTH_MALFORMED');
  const elsewhere = await request('/api/x', basic('client-1', 'secret-1'));
  t.equal(elsewhere.allow ? 'allowed' : elsewhere.error.code, 'ERR_AUTH_MISSING');
  t.equal(asked.length, 0);
});
