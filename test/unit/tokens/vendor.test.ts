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
import { createJwtSigner } from '../../../src/tokens/signer.js';
import { createVendorTokens } from '../../../src/tokens/vendor.js';

/** Vendor tokens (SPEC §4.1): issued for the environment's credentials, verified with the own keys only. */

const OPTIONS = {
  issuer: 'https://gw.example',
  audience: 'env',
  vendor: { clientId: 'vendor-id', secret: 's'.repeat(16) + randomBytes(16).toString('hex'), tokenTtlSeconds: 600 },
};
const ISSUER: CompiledIssuer = { name: 'local', issuer: OPTIONS.issuer, audiences: [OPTIONS.audience], algorithms: [...SIGNING_ALGORITHMS], jwks: { kind: 'own' } };

async function setup() {
  const clock = createManualClock();
  const log = pino({ level: 'silent' });
  const keys = createKeyManager({ algorithm: 'RS256', tokenLifetimeSeconds: 3600 }, { store: createMemoryStore(), encryption: createKeyEncryption(randomBytes(32)), clock, log });
  await keys.init();
  const signer = createJwtSigner({ keys, clock });
  const source = createOwnKeySource(ISSUER, { keys, clock, metrics: createMetrics({ processMetrics: false }), log }, { autoRefresh: false });
  await source.start();
  return { clock, signer, vendor: createVendorTokens(OPTIONS, { signer, clock, keys: source }) };
}

t.test('the environment credentials get a vendor JWT that verifies until it expires', async (t) => {
  const { clock, vendor } = await setup();
  const { token, expiresIn } = vendor.issue({ clientId: OPTIONS.vendor.clientId, secret: OPTIONS.vendor.secret });
  t.equal(expiresIn, 600);
  const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
  t.match(claims, { type: 'vendor', iss: OPTIONS.issuer, aud: OPTIONS.audience, exp: Number });
  await t.resolves(vendor.verify(token));
  clock.advance(600_000);
  await t.rejects(vendor.verify(token), { code: 'ERR_VENDOR_UNAUTHORIZED' }, 'exp = now is expired');
});

t.test('wrong credentials and every token that is not a vendor token are ERR_VENDOR_UNAUTHORIZED', async (t) => {
  const { vendor, signer } = await setup();
  t.throws(() => vendor.issue({ clientId: 'other', secret: OPTIONS.vendor.secret }), { code: 'ERR_VENDOR_UNAUTHORIZED' });
  t.throws(() => vendor.issue({ clientId: OPTIONS.vendor.clientId, secret: 'wrong' }), { code: 'ERR_VENDOR_UNAUTHORIZED' });
  const base = { iss: OPTIONS.issuer, aud: OPTIONS.audience, sub: 'x', tenantId: 't', roles: [], permissions: [] };
  const { token } = vendor.issue({ clientId: OPTIONS.vendor.clientId, secret: OPTIONS.vendor.secret });
  const [h, p, sig] = token.split('.') as [string, string, string];
  const cases: [string, string][] = [
    ['an M2M token of our own issuer', signer.sign({ ...base, type: 'tenantApiToken' }, { expiresInSeconds: 60 }).token],
    ['a vendor token of another issuer', signer.sign({ ...base, iss: 'https://evil', type: 'vendor' }, { expiresInSeconds: 60 }).token],
    ['a vendor token for another audience', signer.sign({ ...base, aud: 'other', type: 'vendor' }, { expiresInSeconds: 60 }).token],
    ['a vendor token without exp', signer.sign({ ...base, type: 'vendor' }, { expiresInSeconds: null }).token],
    ['a tampered payload', `${h}.${Buffer.from(JSON.stringify({ type: 'vendor', iss: OPTIONS.issuer, aud: OPTIONS.audience, exp: 9e9 })).toString('base64url')}.${sig}`],
    ['a stripped signature', `${h}.${p}.`],
    ['alg none', `${Buffer.from('{"alg":"none","kid":"x"}').toString('base64url')}.${p}.${sig}`],
    ['garbage', 'not-a-jwt'],
    ['empty', ''],
  ];
  for (const [name, candidate] of cases) await t.rejects(vendor.verify(candidate), { code: 'ERR_VENDOR_UNAUTHORIZED' }, name);
});
