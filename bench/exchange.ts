/**
 * Token-exchange throughput per signing algorithm (SPEC §7: ≥ 10k tokens/s/core for ES256 and
 * EdDSA, ≥ 2.4k for RS256; issue target ≥ 0.85× a bare fast-jwt signing loop), measured in one
 * process on one core: the full exchange (rate limit, store lookup, constant-time secret check,
 * membership/grants, refresh family and token, JWT signing) next to a bare fast-jwt signer with
 * the same key and a comparable payload, interleaved over rounds.
 *
 * `--store sqlite` runs the exchange on the SQLite store (the default deployment) in a fresh
 * temporary file, on its own thread, WAL and durability as deployed; the default is the in-memory store.
 *
 *   npm run build && node dist/bench/exchange.js [--seconds 3] [--rounds 3] [--algorithms ES256,EdDSA] [--store memory|sqlite] [--json]
 *
 * `--json` prints the medians as one JSON array instead of the table (`npm run bench` reads it).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createSigner } from 'fast-jwt';
import { pino } from 'pino';
import { systemClock } from '../src/clock.js';
import { compileConfig } from '../src/config/compile.js';
import { validateConfig } from '../src/config/validate.js';
import { createMemoryStore } from '../src/store/memory.js';
import { createSqliteThreadStore } from '../src/store/sqlite-thread.js';
import type { TokenStore } from '../src/store/types.js';
import { createDirectory } from '../src/tokens/directory.js';
import { createKeyEncryption } from '../src/tokens/key-encryption.js';
import { createKeyManager, type SigningAlgorithm } from '../src/tokens/keys.js';
import { createRateLimiter } from '../src/tokens/rate-limit.js';
import { createSecretHasher } from '../src/tokens/secrets.js';
import { createTokenService } from '../src/tokens/service.js';
import { createJwtSigner } from '../src/tokens/signer.js';
import { median } from './harness.js';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '3' }, rounds: { type: 'string', default: '3' }, algorithms: { type: 'string', default: 'RS256,ES256,EdDSA' }, store: { type: 'string', default: 'memory' }, json: { type: 'boolean', default: false } },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
if (values.store !== 'memory' && values.store !== 'sqlite') throw new Error('--store must be memory or sqlite');
const tmp = values.store === 'sqlite' ? mkdtempSync(join(tmpdir(), 'm2m-bench-')) : undefined;
process.on('exit', () => {
  if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
});

async function openStore(algorithm: SigningAlgorithm): Promise<TokenStore> {
  if (tmp === undefined) return createMemoryStore();
  const store = createSqliteThreadStore({ path: join(tmp, `${algorithm}.db`) });
  await store.migrate();
  return store;
}

async function setup(algorithm: SigningAlgorithm) {
  const config = compileConfig(
    validateConfig({
      tokenService: {
        issuer: 'https://bench.local',
        audience: 'bench',
        algorithm,
        vendor: { clientId: 'vendor', secret: 'v'.repeat(32) },
        refreshTokens: { maxPerCredential: 1000 },
        // The bench measures the exchange path, not the limiter's refusals.
        rateLimit: { perClientPerMinute: 1_000_000, perPeerPerMinute: 1_000_000 },
      },
      directory: { roles: [{ id: 'reader', key: 'reader', permissions: ['reports.read'] }] },
      routes: [{ name: 'api', pathPrefix: '/', upstream: 'http://127.0.0.1:9', auth: {} }],
    }),
    process.cwd(),
  );
  const ts = config.tokenService!;
  const log = pino({ level: 'silent' });
  const store = await openStore(algorithm);
  const keys = createKeyManager({ algorithm, tokenLifetimeSeconds: ts.jwtTtlSeconds }, { store, encryption: createKeyEncryption(randomBytes(32)), clock: systemClock, log });
  await keys.init();
  const signer = createJwtSigner({ keys, clock: systemClock });
  const directory = createDirectory(config.directory, { store, clock: systemClock });
  const service = createTokenService(ts, {
    store,
    signer,
    keys,
    directory,
    hasher: createSecretHasher(randomBytes(32)),
    rateLimiter: createRateLimiter(ts.rateLimit, { clock: systemClock }),
    clock: systemClock,
    log,
  });
  const credentials = [];
  for (let i = 0; i < 64; i += 1) {
    const { record, secret } = await service.createTenantApiToken({ tenantId: 'tenant-bench' }, { roleIds: ['reader'] });
    credentials.push({ clientId: record.clientId, secret });
  }
  const current = keys.current();
  const pem = current.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const bare = createSigner({ key: pem, algorithm, kid: current.kid, header: { alg: algorithm, typ: 'JWT' } });
  return { service, credentials, bare, store };
}

async function timed(fn: () => unknown | Promise<unknown>): Promise<number> {
  const end = performance.now() + seconds * 1000;
  let n = 0;
  while (performance.now() < end) {
    for (let i = 0; i < 50; i += 1) await fn();
    n += 50;
  }
  return n / seconds;
}

async function main(): Promise<void> {
  const results: { algorithm: SigningAlgorithm; exchangesPerSecond: number; bareSignsPerSecond: number }[] = [];
  for (const algorithm of values.algorithms.split(',') as SigningAlgorithm[]) {
    const { service, credentials, bare, store } = await setup(algorithm);
    let i = 0;
    const exchange = () => service.exchange(credentials[i++ % credentials.length]!, { peer: '127.0.0.1' });
    const payload = () => ({ iss: 'https://bench.local', aud: 'bench', sub: randomUUID(), type: 'tenantApiToken', tenantId: 'tenant-bench', roles: ['reader'], permissions: ['reports.read'], jti: randomUUID(), sid: randomUUID(), exp: Math.floor(Date.now() / 1000) + 3600 });
    const sign = () => bare(payload());
    await timed(exchange); // warm-up
    const mine: number[] = [];
    const theirs: number[] = [];
    for (let r = 0; r < rounds; r += 1) {
      mine.push(await timed(exchange));
      theirs.push(await timed(sign));
      console.error(`${algorithm} round ${r + 1}: exchange ${mine.at(-1)!.toFixed(0)}/s, bare sign ${theirs.at(-1)!.toFixed(0)}/s`);
    }
    const m = median(mine);
    const b = median(theirs);
    await store.close();
    results.push({ algorithm, exchangesPerSecond: m, bareSignsPerSecond: b });
  }
  if (values.json) {
    console.log(JSON.stringify(results));
    return;
  }
  console.log(`\n${rounds} interleaved rounds × ${seconds} s, one process, ${values.store} store, Node ${process.version}\n`);
  console.log('| algorithm | exchanges/s (median) | bare fast-jwt signs/s | ratio |');
  console.log('|---|---:|---:|---:|');
  console.log(results.map((r) => `| ${r.algorithm} | ${r.exchangesPerSecond.toFixed(0)} | ${r.bareSignsPerSecond.toFixed(0)} | ${(r.exchangesPerSecond / r.bareSignsPerSecond).toFixed(2)} |`).join('\n'));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
