import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createAuthenticator, type GatewayAuthenticator } from '../../src/auth/create-authenticator.js';
import type { CredentialKind, Identity } from '../../src/auth/identity.js';
import type { PreparedKey } from '../../src/auth/jwks.js';
import { createKeySource, type KeySource } from '../../src/auth/key-source.js';
import { createManualClock } from '../../src/clock.js';
import type { CompiledConfig, CompiledIssuer } from '../../src/config/types.js';
import { isGatewayError, type ErrorCode } from '../../src/errors.js';
import { createMetrics, type Metrics } from '../../src/metrics.js';
import { compiledConfig } from './compiled-config.js';
import { createLogSink, type LogSink } from './log-sink.js';
import { createTestIssuer, writeJwksFile, type TestIssuer, type TestIssuerOptions } from './tokens.js';

export type ManualClock = ReturnType<typeof createManualClock>;

export interface AuthHarness {
  readonly clock: ManualClock;
  readonly metrics: Metrics;
  readonly logs: LogSink;
  readonly issuers: readonly TestIssuer[];
  readonly config: Pick<CompiledConfig, 'auth' | 'issuers'>;
  /** Where each issuer's JWKS file lives (same order as `issuers`). */
  readonly jwksPaths: readonly string[];
  readonly authenticator: GatewayAuthenticator;
  /** The key sources (one per issuer) the authenticator uses. */
  readonly sources: readonly KeySource[];
  /** How many signature verifications (fast-jwt calls) ran so far: the cold-path counter. */
  verifications(): number;
  authenticate(kind: CredentialKind, token: string): Promise<Identity>;
  /** `'OK'` when the token is accepted in that header, else the rejection code. */
  outcome(kind: CredentialKind, token: string): Promise<ErrorCode | 'OK'>;
  close(): Promise<void>;
}

export interface AuthHarnessOptions {
  /** One test issuer each (default: one RS256 issuer). */
  readonly issuers?: readonly TestIssuerOptions[];
  /** Issuers created by the test (e.g. shared across harnesses); wins over `issuers`. */
  readonly testIssuers?: readonly TestIssuer[];
  readonly auth?: Partial<CompiledConfig['auth']>;
  /** Adjusts each compiled issuer (e.g. more audiences). */
  readonly issuerOverrides?: Partial<CompiledIssuer>;
  readonly startMs?: number;
  /** Default `debug`, so tests see (and check) every line the auth layer can write. */
  readonly logLevel?: string;
}

/**
 * An authenticator over file-backed JWKS of freshly generated test issuers, with a manual clock,
 * its own metrics registry and captured logs. Nothing is timed: no watcher, a poll far in the
 * future; tests reload explicitly. `t.teardown` closes it.
 */
export async function createAuthHarness(
  t: { teardown(fn: () => unknown): void },
  options: AuthHarnessOptions = {},
): Promise<AuthHarness> {
  const clock = createManualClock(options.startMs);
  const metrics = createMetrics({ processMetrics: false });
  const logs = createLogSink();
  const log = pino({ level: options.logLevel ?? 'debug' }, logs.stream);
  const issuers =
    options.testIssuers ??
    (await Promise.all(
      (options.issuers ?? [{}]).map((o, i) => createTestIssuer({ name: `issuer${i}`, kid: `kid-${i}`, ...o })),
    ));
  const dir = await mkdtemp(join(tmpdir(), 'm2m-auth-'));
  const jwksPaths = issuers.map((_, i) => join(dir, `jwks-${i}.json`));
  await Promise.all(issuers.map((issuer, i) => writeJwksFile(jwksPaths[i]!, issuer.jwks)));
  const base = compiledConfig({ routes: [] });
  const config = {
    auth: { ...base.auth, ...options.auth },
    issuers: issuers.map((issuer, i) => issuer.compiled({ kind: 'file', file: jwksPaths[i]! }, options.issuerOverrides)),
  };
  // Each prepared key is wrapped once so the harness can count signature verifications.
  let verifications = 0;
  const counting = new WeakMap<PreparedKey, PreparedKey>();
  const counted = (key: PreparedKey): PreparedKey => {
    let wrapped = counting.get(key);
    if (wrapped === undefined) {
      wrapped = Object.freeze({
        ...key,
        verify: (token: string) => {
          verifications++;
          return key.verify(token);
        },
      });
      counting.set(key, wrapped);
    }
    return wrapped;
  };
  const sources = config.issuers.map((issuer) => {
    const source = createKeySource(issuer, { clock, metrics, log }, { watch: false, pollIntervalMs: 3_600_000 });
    return Object.freeze({
      ...source,
      get: (kid: string) => {
        const key = source.get(kid);
        return key === undefined ? undefined : counted(key);
      },
    });
  });
  const authenticator = createAuthenticator(config, { clock, metrics, log, keySources: sources });
  await authenticator.start();

  const authenticate = (kind: CredentialKind, token: string) => authenticator.authenticate({ kind, token });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await authenticator.close();
    await rm(dir, { recursive: true, force: true });
  };
  t.teardown(close);
  return {
    clock,
    metrics,
    logs,
    issuers,
    config,
    jwksPaths,
    authenticator,
    sources,
    verifications: () => verifications,
    authenticate,
    async outcome(kind: CredentialKind, token: string) {
      try {
        await authenticate(kind, token);
        return 'OK';
      } catch (err) {
        if (isGatewayError(err)) return err.code;
        throw err;
      }
    },
    close,
  };
}

/** Current value of one counter series of a metric, e.g. `counterValue(m.cacheEvents, {cache:'verified', event:'hit'})`. */
export async function counterValue(metric: { get(): Promise<{ values: Array<{ value: number; labels: object }> }> }, labels: Record<string, string>): Promise<number> {
  const { values } = await metric.get();
  const match = values.find((v) => Object.entries(labels).every(([k, val]) => (v.labels as Record<string, unknown>)[k] === val));
  return match?.value ?? 0;
}

/** Security case 47: no captured log line contains any of these tokens (or their signature segment). */
export function tokensInLogs(logs: LogSink, tokens: readonly string[]): string[] {
  const lines = logs.lines();
  return tokens.filter((token) => {
    const signature = token.split('.')[2] ?? '';
    return lines.some((line) => line.includes(token) || (signature.length > 16 && line.includes(signature)));
  });
}
