/**
 * Case 5: a credential over `auth.maxTokenBytes` (default 8 KiB) is refused with 401 on its
 * length alone, before any base64, JSON, hashing or crypto work; a header block over
 * `server.maxHeaderBytes` (default 16 KiB) is refused by the HTTP parser with 431 and the
 * connection closed. Either way the process keeps serving. Decision and authenticator levels
 * first, then over HTTP through a real gateway. (Latency under such load is measured in bench/,
 * never asserted.)
 */
import t from 'tap';
import { tokenFingerprint } from '../../src/auth/token-hash.js';
import { counterValue, createAuthHarness, tokensInLogs } from '../helpers/auth-harness.js';
import { route } from '../helpers/compiled-config.js';
import { TENANT_ACCESS_IDENTITY, requestFacts, testDecider } from '../helpers/decide-fixtures.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { rawExchange } from '../helpers/raw-http.js';
import { parseResponses, statusOfFreshGet } from '../helpers/raw-response.js';
import { expectForwarded, expectRefused } from '../helpers/refusals.js';
import { startScenario } from '../helpers/scenario.js';
import { mintToken } from '../helpers/tokens.js';

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
  t.equal(ok.tokenFingerprint, tokenFingerprint(atCap));
  const over = await decide(requestFacts({ url: '/api', headers: [['X-API-KEY', atCap + 'b']] }));
  t.equal(over.allow ? 'allowed' : over.error.code, 'ERR_AUTH_TOO_LARGE', 'one over the cap');
  t.equal(authenticator.calls.length, 1);
});

t.test('the authenticator refuses by length alone: no cache lookup, no hashing, no crypto', async (t) => {
  const h = await createAuthHarness(t, { auth: { maxTokenBytes: CAP } });
  const issuer = h.issuers[0]!;
  // A genuinely valid token, made large by a claim: only the size may refuse it.
  const big = await mintToken(issuer, { nowMs: h.clock.now(), claims: { metadata: { pad: 'x'.repeat(9000) } } });
  const cases: Array<[string, string]> = [
    ['a validly signed token of ~12 KiB', big],
    ['1 MiB of base64url characters', 'A'.repeat(1024 * 1024)],
    ['8193 characters of garbage', '.'.repeat(CAP + 1)],
  ];
  for (const [name, token] of cases) {
    for (const kind of ['bearer', 'apiKey'] as const) t.equal(await h.outcome(kind, token), 'ERR_AUTH_TOO_LARGE', `${name} (${kind})`);
  }
  t.equal(h.verifications(), 0, 'no signature verification');
  for (const cache of ['verified', 'rejected']) {
    t.equal(await counterValue(h.metrics.cacheEvents, { cache, event: 'miss' }), 0, `no ${cache} cache lookup (so no hashing)`);
  }
  t.same(tokensInLogs(h.logs, [big]), []);
});

t.test('the authenticator cap is inclusive: a token of exactly maxTokenBytes is verified', async (t) => {
  const probe = await createAuthHarness(t);
  const token = await mintToken(probe.issuers[0]!, { nowMs: probe.clock.now() });
  const exact = await createAuthHarness(t, { testIssuers: probe.issuers, auth: { maxTokenBytes: token.length } });
  t.equal(await exact.outcome('bearer', token), 'OK');
  const under = await createAuthHarness(t, { testIssuers: probe.issuers, auth: { maxTokenBytes: token.length - 1 } });
  t.equal(await under.outcome('bearer', token), 'ERR_AUTH_TOO_LARGE');
});

t.test('over HTTP: 401 over the token cap, 431 over the header cap, and the gateway keeps serving', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const pad = (type: 'userApiToken' | 'tenantAccessToken', bytes: number) => s.mint({ type, claims: { metadata: { pad: 'x'.repeat(bytes) } } });
  const bigBearer = await pad('userApiToken', 9000);
  const bigApiKey = await pad('tenantAccessToken', 9000);
  t.ok(bigBearer.length > CAP && bigBearer.length < 16_384 - 512, 'a validly signed token between the two caps');
  await expectRefused(t, s, 'a valid ~12 KiB Bearer token', { headers: [['Authorization', `Bearer ${bigBearer}`]] }, 'ERR_AUTH_TOO_LARGE');
  await expectRefused(t, s, 'a valid ~12 KiB access token', { headers: [['X-API-KEY', bigApiKey]] }, 'ERR_AUTH_TOO_LARGE');
  await expectRefused(t, s, 'one byte over the cap, garbage', { headers: [['X-API-KEY', 'A'.repeat(CAP + 1)]] }, 'ERR_AUTH_TOO_LARGE');

  const huge = await pad('tenantAccessToken', 20_000);
  for (const [name, line] of [['a 20 KiB X-API-KEY', `X-API-KEY: ${huge}`], ['a 20 KiB Bearer token', `Authorization: Bearer ${huge}`]] as const) {
    const { text, closed } = await rawExchange(s.gateway.port, `GET /api/x HTTP/1.1\r\nHost: x\r\n${line}\r\n\r\n`);
    const responses = parseResponses(text);
    t.strictSame(responses.map((r) => r.status), [431], `${name}: 431`);
    t.equal(responses[0]?.header('www-authenticate'), undefined, `${name}: no challenge, it never got to the credential`);
    t.ok(closed, `${name}: connection closed`);
    t.equal(await statusOfFreshGet(s.gateway.port), 200, `${name}: the gateway still serves`);
  }
  t.equal(s.upstream.received.filter((r) => r.url !== '/public/after').length, 0, 'no oversized credential reached the upstream');

  const normal = await s.mint({ type: 'tenantAccessToken' });
  await expectForwarded(t, s, 'control: a normal token after all that', { headers: [['X-API-KEY', normal]] }, { 'x-auth-tenant-id': 'tenant-1' });
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [bigBearer, bigApiKey, huge]), [], 'no oversized token in the logs');
});
