import { randomBytes } from 'node:crypto';
import t from 'tap';
import { pino } from 'pino';
import { createManualClock } from '../../../src/clock.js';
import type { CompiledIssuer } from '../../../src/config/types.js';
import { createMetrics } from '../../../src/metrics.js';
import { createMemoryStore } from '../../../src/store/memory.js';
import { createKeyEncryption } from '../../../src/tokens/key-encryption.js';
import { createKeyManager, SIGNING_ALGORITHMS } from '../../../src/tokens/keys.js';
import { createOwnKeySource } from '../../../src/tokens/own-key-source.js';
import { createRateLimiter } from '../../../src/tokens/rate-limit.js';
import { createJwtSigner } from '../../../src/tokens/signer.js';
import { createVendorTokens } from '../../../src/tokens/vendor.js';

/** Vendor tokens (SPEC §4.1): issued for the environment's credentials, verified with the own keys only. */

const OPTIONS = {
  issuer: 'https://gw.example',
  audience: 'env',
  vendor: { clientId: 'vendor-id', secret: 's'.repeat(16) + randomBytes(16).toString('hex'), tokenTtlSeconds: 600 },
};
const ISSUER: CompiledIssuer = { name: 'local', issuer: OPTIONS.issuer, audiences: [OPTIONS.audience], algorithms: [...SIGNING_ALGORITHMS], jwks: { kind: 'own' } };

const PEER = { peer: '192.0.2.10' };
const ATTACKER = { peer: '203.0.113.66' };

async function setup(rateLimit = { perClientPerMinute: 100, perPeerPerMinute: 1000 }) {
  const clock = createManualClock();
  const log = pino({ level: 'silent' });
  const keys = createKeyManager({ algorithm: 'RS256', tokenLifetimeSeconds: 3600 }, { store: createMemoryStore(), encryption: createKeyEncryption(randomBytes(32)), clock, log });
  await keys.init();
  const signer = createJwtSigner({ keys, clock });
  const source = createOwnKeySource(ISSUER, { keys, clock, metrics: createMetrics({ processMetrics: false }), log }, { autoRefresh: false });
  await source.start();
  return { clock, signer, vendor: createVendorTokens(OPTIONS, { signer, clock, keys: source, rateLimiter: createRateLimiter(rateLimit, { clock }) }) };
}

t.test('the environment credentials get a vendor JWT that verifies until it expires', async (t) => {
  const { clock, vendor } = await setup();
  const { token, expiresIn } = await vendor.issue({ clientId: OPTIONS.vendor.clientId, secret: OPTIONS.vendor.secret }, PEER);
  t.equal(expiresIn, 600);
  const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
  t.match(claims, { type: 'vendor', iss: OPTIONS.issuer, aud: OPTIONS.audience, exp: Number });
  await t.resolves(vendor.verify(token));
  clock.advance(600_000);
  await t.rejects(vendor.verify(token), { code: 'ERR_VENDOR_UNAUTHORIZED' }, 'exp = now is expired');
});

t.test('wrong credentials and every token that is not a vendor token are ERR_VENDOR_UNAUTHORIZED', async (t) => {
  const { vendor, signer } = await setup();
  await t.rejects(vendor.issue({ clientId: 'other', secret: OPTIONS.vendor.secret }, PEER), { code: 'ERR_VENDOR_UNAUTHORIZED' });
  await t.rejects(vendor.issue({ clientId: OPTIONS.vendor.clientId, secret: 'wrong' }, PEER), { code: 'ERR_VENDOR_UNAUTHORIZED' });
  const base = { iss: OPTIONS.issuer, aud: OPTIONS.audience, sub: 'x', tenantId: 't', roles: [], permissions: [] };
  const { token } = await vendor.issue({ clientId: OPTIONS.vendor.clientId, secret: OPTIONS.vendor.secret }, PEER);
  const [h, p, sig] = token.split('.') as [string, string, string];
  const cases: [string, string][] = [
    ['an M2M token of our own issuer', (await signer.sign({ ...base, type: 'tenantApiToken' }, { expiresInSeconds: 60 })).token],
    ['a vendor token of another issuer', (await signer.sign({ ...base, iss: 'https://evil', type: 'vendor' }, { expiresInSeconds: 60 })).token],
    ['a vendor token for another audience', (await signer.sign({ ...base, aud: 'other', type: 'vendor' }, { expiresInSeconds: 60 })).token],
    ['a vendor token without exp', (await signer.sign({ ...base, type: 'vendor' }, { expiresInSeconds: null })).token],
    ['a tampered payload', `${h}.${Buffer.from(JSON.stringify({ type: 'vendor', iss: OPTIONS.issuer, aud: OPTIONS.audience, exp: 9e9 })).toString('base64url')}.${sig}`],
    ['a stripped signature', `${h}.${p}.`],
    ['alg none', `${Buffer.from('{"alg":"none","kid":"x"}').toString('base64url')}.${p}.${sig}`],
    ['garbage', 'not-a-jwt'],
    ['empty', ''],
  ];
  for (const [name, candidate] of cases) await t.rejects(vendor.verify(candidate), { code: 'ERR_VENDOR_UNAUTHORIZED' }, name);
});

t.test('wrong vendor secrets are rate-limited per (clientId, peer); the lock ends and never reaches another peer (case 29)', async (t) => {
  const { clock, vendor } = await setup({ perClientPerMinute: 3, perPeerPerMinute: 1000 });
  const guess = { clientId: OPTIONS.vendor.clientId, secret: 'guess'.repeat(8) };
  const right = { clientId: OPTIONS.vendor.clientId, secret: OPTIONS.vendor.secret };
  for (let i = 0; i < 3; i++) await t.rejects(vendor.issue(guess, ATTACKER), { code: 'ERR_VENDOR_UNAUTHORIZED' }, `failure ${i + 1}`);
  clock.advance(20_000);
  await t.rejects(vendor.issue(guess, ATTACKER), { code: 'ERR_TOKEN_RATE_LIMITED', statusCode: 429, retryAfterSeconds: 40 });
  await t.rejects(vendor.issue(right, ATTACKER), { code: 'ERR_TOKEN_RATE_LIMITED' }, 'even the right secret from the locked peer: the lock is no oracle');
  t.type((await vendor.issue(right, PEER)).token, 'string', 'the environment, from its own peer, is served');
  clock.advance(40_000);
  t.type((await vendor.issue(right, ATTACKER)).token, 'string', 'the window ended');
});

t.test('the per-peer limit counts every vendor attempt, whatever the clientId (case 29)', async (t) => {
  const { vendor } = await setup({ perClientPerMinute: 1000, perPeerPerMinute: 5 });
  for (let i = 0; i < 5; i++) await t.rejects(vendor.issue({ clientId: `guess-${i}`, secret: 'x' }, ATTACKER), { code: 'ERR_VENDOR_UNAUTHORIZED' });
  await t.rejects(vendor.issue({ clientId: 'guess-x', secret: 'x' }, ATTACKER), { code: 'ERR_TOKEN_RATE_LIMITED', retryAfterSeconds: 60 });
  await t.rejects(vendor.issue({ clientId: 'guess-x', secret: 'x' }, PEER), { code: 'ERR_VENDOR_UNAUTHORIZED' }, 'another peer is not affected');
});
