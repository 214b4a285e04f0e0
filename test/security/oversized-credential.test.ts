/**
 * Case 5: a token over the configured cap is refused (401) on its size alone, before any base64,
 * JSON or crypto work: the authenticator is never called and no fingerprint is computed.
 * (The 16 KiB header-block limit → 431 is the HTTP listener's, tested at that level.)
 */
import t from 'tap';
import { hashToken } from '../../src/auth/token-hash.js';
import { route } from '../helpers/compiled-config.js';
import { TENANT_ACCESS_IDENTITY, requestFacts, testDecider } from '../helpers/decide-fixtures.js';

const routes = [route({ name: 'api', pathPrefix: '/api' })];
const CAP = 8192;

t.test('a token one byte over the cap is refused before verification, in either header', async (t) => {
  const big = 'a'.repeat(CAP + 1);
  for (const header of [['X-API-KEY', big], ['Authorization', `Bearer ${big}`]] as [string, string][]) {
    const { decide, authenticator } = testDecider({ routes, outcomes: { [big]: TENANT_ACCESS_IDENTITY } });
    const d = await decide(requestFacts({ url: '/api', headers: [header] }));
    if (d.allow) {
      t.fail(`${header[0]}: allowed`);
      continue;
    }
    t.equal(d.error.code, 'ERR_AUTH_TOO_LARGE', header[0]);
    t.equal(d.error.statusCode, 401, `${header[0]}: 401`);
    t.equal(d.tokenFingerprint, undefined, `${header[0]}: not even hashed`);
    t.equal(authenticator.calls.length, 0, `${header[0]}: not verified`);
  }
});

t.test('the cap follows the configuration and a token at the cap is verified', async (t) => {
  const config = { auth: { realm: 'gw', maxTokenBytes: 256, clockToleranceSeconds: 30, cache: { maxEntries: 1, maxTtlSeconds: 1 }, negativeCache: { maxEntries: 0, ttlSeconds: 1 }, basicExchange: { forwardJwt: false } } };
  const atCap = 'b'.repeat(256);
  const { decide, authenticator } = testDecider({ routes, config, outcomes: { [atCap]: TENANT_ACCESS_IDENTITY } });
  const ok = await decide(requestFacts({ url: '/api', headers: [['X-API-KEY', atCap]] }));
  t.equal(ok.allow, true, 'at the cap');
  t.equal(ok.tokenFingerprint, hashToken(atCap).fingerprint);
  const over = await decide(requestFacts({ url: '/api', headers: [['X-API-KEY', atCap + 'b']] }));
  t.equal(over.allow ? 'allowed' : over.error.code, 'ERR_AUTH_TOO_LARGE', 'one over the cap');
  t.equal(authenticator.calls.length, 1);
});
