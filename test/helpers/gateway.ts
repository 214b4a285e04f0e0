import type { App, TokenServiceFactory } from '../../src/app.js';
import { createApp } from '../../src/app.js';
import { systemClock, type Clock } from '../../src/clock.js';
import { compileConfig } from '../../src/config/compile.js';
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
  close(): Promise<void>;
}

/**
 * Starts a real gateway on port 0 (proxy and admin) from a config object in the YAML shape,
 * validated and compiled exactly as a file would be, with its log lines captured.
 */
export async function startGateway(
  raw: Record<string, unknown>,
  options: { clock?: Clock; baseDir?: string; tokenServices?: TokenServiceFactory; logLevel?: 'info' | 'debug' | 'trace'; processMetrics?: boolean } = {},
): Promise<TestGateway> {
  const level = options.logLevel ?? 'info';
  const withPorts = {
    ...raw,
    server: { host: '127.0.0.1', ...(raw['server'] as object | undefined), port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    log: { level },
  };
  const config = compileConfig(validateConfig(withPorts), options.baseDir ?? process.cwd());
  const logs = createLogSink();
  const app = createApp(config, {
    log: createLogger({ level, destination: logs.stream }),
    clock: options.clock ?? systemClock,
    processMetrics: options.processMetrics ?? false,
    tokenServices: options.tokenServices,
  });
  const { proxy, admin } = await app.start();
  return {
    url: `http://127.0.0.1:${proxy.port}`,
    port: proxy.port,
    adminUrl: `http://127.0.0.1:${admin.port}`,
    app,
    config,
    logs,
    close: () => app.close(),
  };
}

/** Client connections the proxy listener holds open now (its `open_connections` gauge): sockets released or leaked. */
export async function openClientConnections(gateway: TestGateway): Promise<number> {
  const { values } = await gateway.app.metrics.openConnections.get();
  return values.find((v) => v.labels.listener === 'proxy')?.value ?? 0;
}
