#!/usr/bin/env -S node --heap-growing-percent=50
/**
 * Process entry: the CLI, signals and exit codes. The only module that touches `process.*`;
 * everything else receives what it needs.
 */
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { createApp } from './app.js';
import { CREDENTIAL_COMMANDS, failureText, runCredentialCommand } from './cli/commands.js';
import { configPathOf, USAGE } from './cli/usage.js';
import { systemClock } from './clock.js';
import { loadConfig } from './config/load.js';
import { configJsonSchema } from './config/json-schema.js';
import { createLogger } from './log.js';

// V8's allocation-site pretenuring misjudges a proxy's per-request objects (alive across one
// scavenge while the upstream answers, dead soon after) as long-lived, and allocates them straight
// into the old generation: scavenges then take 5–7 ms instead of under 1, old space fills with
// garbage between full collections, and throughput drops by a quarter. Measured with
// `npm run bench` (README "Performance"); the flag is read at each collection, so setting it here,
// before any request, is enough.
setFlagsFromString('--no-allocation-site-pretenuring');
// The shebang's `--heap-growing-percent=50` lets old space grow by at most 1.5× between full
// collections instead of up to 4×: with 10k cached tokens the process holds 121 MB instead of
// 135 MB, at no throughput cost seen (README "Performance"). V8 reads that one only at start and
// Node.js refuses it in NODE_OPTIONS, so it is on the command line: the shebang, which the
// installed bin, the container's entrypoint and `npm start` all go through.

const OPTIONS = { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } } as const;

async function main(argv: readonly string[]): Promise<number> {
  // The credential commands have options of their own: find the command first, then parse.
  const first = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: false, tokens: true }).tokens.find((t) => t.kind === 'positional');
  if (first !== undefined && CREDENTIAL_COMMANDS.includes(first.value)) {
    return runCredentialCommand(argv, { env: process.env, stdout: process.stdout, stderr: process.stderr });
  }
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], allowPositionals: true, options: OPTIONS });
  } catch (err) {
    process.stderr.write(`m2m-gateway: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  const [command = 'serve', ...rest] = positionals;
  const configPath = configPathOf(values.config ?? rest[0], process.env);
  switch (command) {
    case 'serve':
      return serve(configPath);
    case 'check-config':
      return checkConfig(configPath);
    case 'schema':
      process.stdout.write(configJsonSchema());
      return 0;
    default:
      process.stderr.write(`Unknown command "${command}".\n\n${USAGE}`);
      return 2;
  }
}

function checkConfig(path: string): number {
  try {
    loadConfig(path, process.env);
    process.stdout.write(`${path}: OK\n`);
    return 0;
  } catch (err) {
    return reportConfigError(path, err);
  }
}

function reportConfigError(path: string, err: unknown): number {
  process.stderr.write(`${failureText(path, err)}\n`);
  return 1;
}

async function serve(path: string): Promise<number> {
  let config;
  try {
    config = loadConfig(path, process.env);
  } catch (err) {
    return reportConfigError(path, err);
  }
  const log = createLogger({ level: config.log.level });
  const app = createApp(config, { log, clock: systemClock, configFile: { path, env: process.env } });
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception');
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    log.fatal({ err }, 'unhandled rejection');
    process.exit(1);
  });
  // SPEC §6: validate, then swap; a bad file is logged and the running config kept. Listened to
  // from the start, as Node's default for SIGHUP is to exit (before start() ends it is a no-op).
  process.on('SIGHUP', () => void app.reload());
  try {
    await app.start();
  } catch (err) {
    // A listener that did bind (the proxy, when the admin port is taken), the key refresh timers
    // and the store would otherwise keep the process alive, serving half a gateway.
    await app.close().catch(() => undefined);
    throw err;
  }
  return new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      log.info({ signal }, 'shutting down');
      app.close().then(
        () => resolve(0),
        (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
