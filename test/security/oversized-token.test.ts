/**
 * Security case 5: a credential over the size cap is refused before any base64, JSON, hashing
 * or crypto work; only its length is looked at.
 */
import t from 'tap';
import { counterValue, createAuthHarness, tokensInLogs } from '../helpers/auth-harness.js';
import { mintToken } from '../helpers/tokens.js';

t.test('a token over maxTokenBytes is ERR_AUTH_TOO_LARGE, with no cache lookup and no crypto', async (t) => {
  const h = await createAuthHarness(t, { auth: { maxTokenBytes: 8192 } });
  const issuer = h.issuers[0]!;
  // A genuinely valid token, made large by a claim: only the size may refuse it.
  const big = await mintToken(issuer, { nowMs: h.clock.now(), claims: { metadata: { pad: 'x'.repeat(9000) } } });
  const huge = 'A'.repeat(1024 * 1024);
  const cases: Array<[string, string]> = [
    ['a validly signed token of ~12 KiB', big],
    ['1 MiB of base64url characters', huge],
    ['8193 characters of garbage', '.'.repeat(8193)],
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

t.test('the cap is inclusive: a token of exactly maxTokenBytes is verified', async (t) => {
  const probe = await createAuthHarness(t);
  const token = await mintToken(probe.issuers[0]!, { nowMs: probe.clock.now() });
  const exact = await createAuthHarness(t, { testIssuers: probe.issuers, auth: { maxTokenBytes: token.length } });
  t.equal(await exact.outcome('bearer', token), 'OK');
  const under = await createAuthHarness(t, { testIssuers: probe.issuers, auth: { maxTokenBytes: token.length - 1 } });
  t.equal(await under.outcome('bearer', token), 'ERR_AUTH_TOO_LARGE');
});
