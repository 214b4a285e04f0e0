/**
 * Where a cold token's time goes, layer by layer, in one process on one core (SPEC §7's cold-token
 * bar): the same 20k distinct ES256 tokens, twice as many as the verified cache holds, taken in
 * turn through each layer of the gateway's cold path, each layer containing the one before it:
 *
 * 1. the signature check alone: one `crypto.verify` over `header.payload` with the issuer's key;
 * 2. the key's fast-jwt verifier (SPEC §5): its own decoding, then the same check;
 * 3. `verifyToken` (auth/verify.ts): the strict decoding, the header checks, the verifier, the claims;
 * 4. the authenticator: size cap, cache key (SHA-256), verified and negative caches with
 *    eviction, coalescing, metrics;
 * 5. the decision (proxy/create-decider.ts): route, header sanitizing, credential extraction, the
 *    log fingerprint, authorization, the identity headers.
 *
 * Layers are interleaved over rounds; medians. No HTTP: what the HTTP stack costs on top is the
 * gap between the gateway's pass-through and direct in `npm run bench`.
 *
 *   npm run build && node dist/bench/cold-path.js [--rounds 7] [--tokens 20000]
 */
import { generateKeyPairSync, randomUUID, verify } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createSigner } from 'fast-jwt';
import { pino } from 'pino';
import { createAuthenticator } from '../src/auth/create-authenticator.js';
import { createKeySource } from '../src/auth/key-source.js';
import { createTokenVerifier } from '../src/auth/verify.js';
import { systemClock } from '../src/clock.js';
import { parseConfigText } from '../src/config/load.js';
import { createMetrics } from '../src/metrics.js';
import { createDecider } from '../src/proxy/create-decider.js';
import type { RequestFacts } from '../src/proxy/decide.js';
import { BenchError, median, runBench } from './harness.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '7' }, tokens: { type: 'string', default: '20000' } } });
const rounds = Number(values.rounds);
const count = Number(values.tokens);

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'm2m-bench-'));
  try {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(join(work, 'jwks.json'), JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'k', alg: 'ES256', use: 'sig' }] }));
    const sign = createSigner({ key: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), algorithm: 'ES256', kid: 'k' });
    const now = Math.floor(Date.now() / 1000);
    const tokens = Array.from({ length: count }, () =>
      sign({ iss: 'https://issuer.bench.local', aud: 'bench', sub: randomUUID(), jti: randomUUID(), type: 'tenantApiToken', tenantId: 'tenant-bench', roles: ['reader'], permissions: ['reports.read'], iat: now, exp: now + 3600 }),
    );
    const config = parseConfigText(
      `
auth: { cache: { maxEntries: ${Math.floor(count / 2)} } }
issuers:
  - { name: bench, issuer: "https://issuer.bench.local", audience: bench, algorithms: [ES256], jwks: { file: ${JSON.stringify(join(work, 'jwks.json'))} } }
routes:
  - { name: api, pathPrefix: /api, upstream: "http://127.0.0.1:1", auth: { tokenTypes: [tenantApiToken] } }
`,
      {},
      work,
    );
    const deps = { clock: systemClock, metrics: createMetrics(), log: pino({ level: 'warn' }) };
    const source = createKeySource(config.issuers[0]!, deps, { watch: false });
    await source.start();
    const key = source.get('k');
    if (key === undefined) throw new BenchError('the key set did not load');
    const verifyToken = createTokenVerifier({ issuers: config.issuers, clockToleranceSeconds: config.auth.clockToleranceSeconds }, { clock: systemClock, resolveKeys: async () => [key] });
    const authenticator = createAuthenticator(config, { ...deps, keySources: [source] });
    const decide = createDecider(config, { authenticator });

    const signed = tokens.map((t) => {
      const dot = t.lastIndexOf('.');
      return { input: Buffer.from(t.slice(0, dot)), signature: Buffer.from(t.slice(dot + 1), 'base64url') };
    });
    const facts: RequestFacts[] = tokens.map((t) => ({
      method: 'GET',
      url: '/api/x',
      headers: { host: 'bench.local', authorization: `Bearer ${t}` },
      rawHeaders: ['Host', 'bench.local', 'Authorization', `Bearer ${t}`],
      remoteAddress: '127.0.0.1',
      encrypted: false,
      requestId: 'bench',
      upgrade: false,
    }));
    const layers: [string, (i: number) => unknown][] = [
      ['signature check (crypto.verify)', (i) => verify('sha256', signed[i]!.input, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signed[i]!.signature) || fail('signature')],
      ['fast-jwt verifier', (i) => key.verify(tokens[i]!)],
      ['verifyToken (strict decoding, claims)', (i) => verifyToken(tokens[i]!)],
      ['authenticator (cache key, caches, metrics)', (i) => authenticator.authenticate({ kind: 'bearer', token: tokens[i]! })],
      ['decision (route, headers, fingerprint)', async (i) => ((await decide(facts[i]!)).allow ? undefined : fail('decision'))],
    ];

    const samples = new Map<string, number[]>();
    for (let round = 0; round <= rounds; round += 1) {
      for (const [name, run] of layers) {
        const started = process.hrtime.bigint();
        for (let i = 0; i < count; i += 1) await run(i);
        const us = Number(process.hrtime.bigint() - started) / count / 1000;
        if (round > 0) samples.set(name, [...(samples.get(name) ?? []), us]); // round 0 warms up
      }
    }
    console.log(`${count} distinct ES256 tokens, verified cache ${Math.floor(count / 2)}, ${rounds} rounds, medians; Node ${process.version}\n`);
    console.log('| layer (each contains the one above) | µs per token | added by the layer |');
    console.log('|---|---:|---:|');
    let previous = 0;
    for (const [name] of layers) {
      const us = median(samples.get(name)!);
      console.log(`| ${name} | ${us.toFixed(1)} | ${previous === 0 ? '' : (us - previous).toFixed(1)} |`);
      previous = us;
    }
    await authenticator.close();
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function fail(what: string): never {
  throw new BenchError(`${what} refused a valid token`);
}

runBench(main);
