import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { App, TokenServiceFactory } from '../../src/app.js';
import { createApp } from '../../src/app.js';
import { systemClock, type Clock } from '../../src/clock.js';
import { compileConfig } from '../../src/config/compile.js';
import { loadConfig } from '../../src/config/load.js';
import { validateConfig } from '../../src/config/validate.js';
import type { CompiledConfig } from '../../src/config/types.js';
import { createLogger } from '../../src/log.js';
import { createLogSink, type LogSink } from './log-sink.js';

export interface TestGateway {
  /** Base URL of the proxy listener. */
  readonly url: string;
  readonly port: number;
  /** Base URL of the admin listener. */
  readonly adminUrl: string;
  readonly app: App;
  readonly config: CompiledConfig;
  readonly logs: LogSink;
  /** The config object it was started from, in the YAML shape (before the test listeners were added). */
  readonly raw: Record<string, unknown>;
  /**
   * With `configDir`: writes `raw` (listeners on port 0 as at start; text as it is) over the config
   * file, in place or, with `replace`, as a new file renamed over the old one (how editors save).
   */
  writeConfig(raw: Record<string, unknown> | string, options?: { replace?: boolean }): Promise<void>;
  close(): Promise<void>;
}

/** The listeners of every test gateway: loopback, ports the system picks; and the captured log level. */
export function withTestListeners(raw: Record<string, unknown>, level: 'info' | 'debug' | 'trace' = 'info'): Record<string, unknown> {
  return {
    ...raw,
    server: { host: '127.0.0.1', ...(raw['server'] as object | undefined), port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    log: { level },
  };
}

/**
 * Starts a real gateway on port 0 (proxy and admin) from a config object in the YAML shape,
 * validated and compiled exactly as a file would be, with its log lines captured. With
 * `configDir`, the object is written there as `gateway.yaml` (JSON is YAML) and loaded from that
 * file, which the gateway then reloads as `serve` does (SIGHUP: `app.reload()`).
 */
export async function startGateway(
  raw: Record<string, unknown>,
  options: {
    clock?: Clock;
    baseDir?: string;
    tokenServices?: TokenServiceFactory;
    configDir?: string;
    logLevel?: 'info' | 'debug' | 'trace';
    processMetrics?: boolean;
  } = {},
): Promise<TestGateway> {
  const level = options.logLevel ?? 'info';
  const configPath = options.configDir === undefined ? undefined : join(options.configDir, 'gateway.yaml');
  async function writeConfig(next: Record<string, unknown> | string, write: { replace?: boolean } = {}): Promise<void> {
    if (configPath === undefined) throw new Error('the gateway was not started from a file (configDir)');
    const text = typeof next === 'string' ? next : JSON.stringify(withTestListeners(next, level), null, 2);
    if (write.replace !== true) return writeFile(configPath, text);
    await writeFile(`${configPath}.new`, text);
    await rename(`${configPath}.new`, configPath);
  }
  let config: CompiledConfig;
  if (configPath === undefined) {
    config = compileConfig(validateConfig(withTestListeners(raw, level)), options.baseDir ?? process.cwd());
  } else {
    await writeConfig(raw);
    config = loadConfig(configPath, {});
  }
  const logs = createLogSink();
  const app = createApp(config, {
    log: createLogger({ level, destination: logs.stream }),
    clock: options.clock ?? systemClock,
    processMetrics: options.processMetrics ?? false,
    tokenServices: options.tokenServices,
    ...(configPath === undefined ? {} : { configFile: { path: configPath, env: {} } }),
  });
  const { proxy, admin } = await app.start();
  return {
    url: `http://127.0.0.1:${proxy.port}`,
    port: proxy.port,
    adminUrl: `http://127.0.0.1:${admin.port}`,
    app,
    config,
    logs,
    raw,
    writeConfig,
    close: () => app.close(),
  };
}

/** Client connections the proxy listener holds open now (its `open_connections` gauge): sockets released or leaked. */
export async function openClientConnections(gateway: TestGateway): Promise<number> {
  const { values } = await gateway.app.metrics.openConnections.get();
  return values.find((v) => v.labels.listener === 'proxy')?.value ?? 0;
}
