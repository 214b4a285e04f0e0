/**
 * Security case 20: `iss` must equal the configured issuer exactly — not an array holding it, not
 * a trailing-slash or case variant — and `aud` must be present and contain a configured audience
 * (CVE-2025-30144; RFC 8725 §3.9). Authenticator level first, then over HTTP.
 */
import t from 'tap';
import { createAuthHarness } from '../helpers/auth-harness.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { expectForwarded, expectRefused, type AuthRefusal } from '../helpers/refusals.js';
import { startScenario } from '../helpers/scenario.js';
import { mintToken } from '../helpers/tokens.js';

/** Claim overrides for an issuer `https://issuer.test` with audiences api-one and api-two. */
const VARIANTS: Array<[string, Record<string, unknown>, AuthRefusal | 'OK']> = [
  ['the exact iss and a configured aud', {}, 'OK'],
  ['the second configured audience', { aud: 'api-two' }, 'OK'],
  ['aud as an array containing ours', { aud: ['elsewhere', 'api-one'] }, 'OK'],
  ['iss as an array containing the right value', { iss: ['https://issuer.test'] }, 'ERR_AUTH_CLAIMS'],
  ['iss as an array with the right value first', { iss: ['https://issuer.test', 'https://evil.test'] }, 'ERR_AUTH_CLAIMS'],
  ['iss with a trailing slash', { iss: 'https://issuer.test/' }, 'ERR_AUTH_CLAIMS'],
  ['iss in upper case', { iss: 'HTTPS://ISSUER.TEST' }, 'ERR_AUTH_CLAIMS'],
  ['iss with a default port', { iss: 'https://issuer.test:443' }, 'ERR_AUTH_CLAIMS'],
  ['iss with surrounding space', { iss: ' https://issuer.test' }, 'ERR_AUTH_CLAIMS'],
  ['iss as a prefix', { iss: 'https://issuer.test.evil.test' }, 'ERR_AUTH_CLAIMS'],
  ['iss as an object', { iss: { value: 'https://issuer.test' } }, 'ERR_AUTH_CLAIMS'],
  ['aud missing', { aud: undefined }, 'ERR_AUTH_CLAIMS'],
  ['aud another audience', { aud: 'api-three' }, 'ERR_AUTH_CLAIMS'],
  ['aud an array without ours', { aud: ['api-three', 'api-four'] }, 'ERR_AUTH_CLAIMS'],
  ['aud an empty array', { aud: [] }, 'ERR_AUTH_CLAIMS'],
  ['aud in another case', { aud: 'API-ONE' }, 'ERR_AUTH_CLAIMS'],
  ['aud with a trailing slash', { aud: 'api-one/' }, 'ERR_AUTH_CLAIMS'],
  ['aud as an object', { aud: { 'api-one': true } }, 'ERR_AUTH_CLAIMS'],
  ['aud as a nested array', { aud: [['api-one']] }, 'ERR_AUTH_CLAIMS'],
  ['aud with a non-string entry next to ours', { aud: ['api-one', 7] }, 'ERR_AUTH_CLAIMS'],
];

t.test('iss and aud variants', async (t) => {
  const h = await createAuthHarness(t, {
    issuers: [{ issuer: 'https://issuer.test', audience: 'api-one' }],
    issuerOverrides: { audiences: ['api-one', 'api-two'] },
  });
  const issuer = h.issuers[0]!;
  const mint = (claims: Record<string, unknown>) => mintToken(issuer, { nowMs: h.clock.now(), claims });
  for (const [name, claims, code] of VARIANTS) t.equal(await h.outcome('bearer', await mint(claims)), code, name);
});

t.test('over HTTP: each variant gives its outcome, in either header', async (t) => {
  const s = await startScenario({ issuer: { issuer: 'https://issuer.test', audience: 'api-one' }, issuerConfig: { audience: ['api-one', 'api-two'] } });
  t.teardown(() => s.close());
  const tokens: string[] = [];
  for (const [type, header] of [['userApiToken', 'Authorization'], ['userAccessToken', 'X-API-KEY']] as const) {
    const line = (token: string): [string, string] => [header, header === 'Authorization' ? `Bearer ${token}` : token];
    for (const [name, claims, code] of VARIANTS) {
      const token = await s.mint({ type, claims });
      tokens.push(token);
      if (code === 'OK') await expectForwarded(t, s, `${name} (${header}): accepted`, { headers: [line(token)] });
      else await expectRefused(t, s, `${name} (${header})`, { headers: [line(token)] }, code);
    }
  }
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), tokens), [], 'no token in the logs');
});
