/**
 * Security case 21: a token is accepted only as what it is. The `type` claim must be one of the
 * four M2M types and match the header it came in (access tokens in X-API-KEY, client-credentials
 * JWTs in Authorization: Bearer), whether verified now or served from the cache; the header `typ`
 * must be JWT (RFC 8725 §3.11-3.12; RFC 9068 §4). Refresh-endpoint misuse is the token service's.
 */
import t from 'tap';
import { TOKEN_TYPES } from '../../src/config/schema.js';
import { CREDENTIAL_KIND_OF } from '../../src/auth/identity.js';
import { createAuthHarness } from '../helpers/auth-harness.js';
import { mintToken } from '../helpers/tokens.js';

t.test('each type is accepted in its own header only, cached or not', async (t) => {
  const h = await createAuthHarness(t);
  for (const type of TOKEN_TYPES) {
    const token = await mintToken(h.issuers[0]!, { type, nowMs: h.clock.now() });
    const right = CREDENTIAL_KIND_OF[type];
    const wrong = right === 'bearer' ? 'apiKey' : 'bearer';
    t.equal(await h.outcome(wrong, token), 'ERR_AUTH_TOKEN_TYPE', `${type} in the wrong header, first use`);
    t.equal(await h.outcome(right, token), 'OK', `${type} in its header`);
    t.equal(await h.outcome(wrong, token), 'ERR_AUTH_TOKEN_TYPE', `${type} in the wrong header, cached`);
  }
});

t.test('non-M2M types and foreign tokens are refused', async (t) => {
  const h = await createAuthHarness(t);
  const mint = (claims: Record<string, unknown>, header?: Record<string, unknown>) =>
    mintToken(h.issuers[0]!, { nowMs: h.clock.now(), claims, header });
  const cases: Array<[string, string, string]> = [
    ['an interactive login token (userToken)', await mint({ type: 'userToken' }), 'ERR_AUTH_TOKEN_TYPE'],
    ['a vendor management token', await mint({ type: 'vendor' }), 'ERR_AUTH_TOKEN_TYPE'],
    ['a refresh token', await mint({ type: 'refresh' }), 'ERR_AUTH_TOKEN_TYPE'],
    ['an OIDC ID token (no type, nonce)', await mint({ type: undefined, nonce: 'n', auth_time: 1 }), 'ERR_AUTH_TOKEN_TYPE'],
    ['type in another case', await mint({ type: 'USERAPITOKEN' }), 'ERR_AUTH_TOKEN_TYPE'],
    ['type as an array', await mint({ type: ['userApiToken'] }), 'ERR_AUTH_TOKEN_TYPE'],
    ['type __proto__', await mint({ type: '__proto__' }), 'ERR_AUTH_TOKEN_TYPE'],
    ['type constructor', await mint({ type: 'constructor' }), 'ERR_AUTH_TOKEN_TYPE'],
    ['a token minted for another audience', await mint({ aud: 'another-api' }), 'ERR_AUTH_CLAIMS'],
    ['typ missing', await mint({}, { typ: undefined }), 'ERR_AUTH_MALFORMED'],
    ['typ at+jwt (RFC 9068)', await mint({}, { typ: 'at+jwt' }), 'ERR_AUTH_MALFORMED'],
    ['typ JWS', await mint({}, { typ: 'JWS' }), 'ERR_AUTH_MALFORMED'],
    ['typ JOSE', await mint({}, { typ: 'JOSE' }), 'ERR_AUTH_MALFORMED'],
    ['typ secevent+jwt', await mint({}, { typ: 'secevent+jwt' }), 'ERR_AUTH_MALFORMED'],
    ['typ a number', await mint({}, { typ: 1 }), 'ERR_AUTH_MALFORMED'],
    ['typ empty', await mint({}, { typ: '' }), 'ERR_AUTH_MALFORMED'],
    ['typ jwt in lower case', await mint({}, { typ: 'jwt' }), 'OK'],
  ];
  for (const [name, token, code] of cases) t.equal(await h.outcome('bearer', token), code, name);
});
