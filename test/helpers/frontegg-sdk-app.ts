/**
 * Starts an application protected by Frontegg's own Node SDK (`@frontegg/client`, unmodified) in a
 * worker thread (test/helpers/frontegg-sdk-worker.ts). A worker, because the SDK is configured
 * through the environment when it is loaded (`FRONTEGG_API_GATEWAY_URL`, `FRONTEGG_CLIENT_ID`,
 * `FRONTEGG_API_KEY`) and keeps its vendor token, public key and access-token caches in module
 * singletons with a refresh timer: every start is a fresh SDK, and `close` ends all of it.
 */
import { Worker } from 'node:worker_threads';
import type { SdkAppMessage } from './frontegg-sdk-worker.js';

export interface FronteggSdkApp {
  readonly url: string;
  /** Every host the SDK looked up and every address it connected to, so far. */
  connections(): Promise<readonly string[]>;
  /** What the SDK wrote to the console (its winston logger), for failure messages. */
  output(): string;
  close(): Promise<void>;
}

/**
 * Starts the SDK app in a fresh worker, configured through the environment the way a Frontegg
 * customer configures it: the base URL and the environment's credentials. Every other
 * `FRONTEGG_*` variable and every proxy variable is removed, so the SDK derives all its service
 * URLs from the base URL and connects directly.
 */
export async function startFronteggSdkApp(config: { baseUrl: string; clientId: string; apiKey: string }): Promise<FronteggSdkApp> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined || name.startsWith('FRONTEGG_') || /^(https?|all|no)_proxy$/i.test(name)) continue;
    env[name] = value;
  }
  Object.assign(env, { FRONTEGG_API_GATEWAY_URL: config.baseUrl, FRONTEGG_CLIENT_ID: config.clientId, FRONTEGG_API_KEY: config.apiKey });
  const worker = new Worker(new URL('./frontegg-sdk-worker.ts', import.meta.url), { env, stdout: true, stderr: true });
  // The SDK logs refusals at `error` level (winston, to the console): kept out of the TAP stream.
  const output: string[] = [];
  worker.stdout.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
  worker.stderr.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
  const next = () =>
    new Promise<SdkAppMessage>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      worker.once('error', onError);
      worker.once('message', (message: SdkAppMessage) => {
        worker.off('error', onError);
        resolve(message);
      });
    });
  const started = await next();
  if (!('port' in started)) throw new Error('the SDK app did not report its port');
  return {
    url: `http://127.0.0.1:${started.port}`,
    async connections() {
      const answer = next();
      worker.postMessage('connections');
      const message = await answer;
      if (!('connections' in message)) throw new Error('unexpected message from the SDK app');
      return message.connections;
    },
    output: () => output.join(''),
    async close() {
      await worker.terminate();
    },
  };
}
