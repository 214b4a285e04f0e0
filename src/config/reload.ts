import { createHash } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import type { Clock } from '../clock.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { fileSignature, watchDirectoryOf } from '../watch-directory.js';
import type { Env } from './env.js';
import { parseConfigText, readConfigFile } from './load.js';
import type { CompiledConfig } from './types.js';

/** What asked for a reload: `SIGHUP` always reloads; a file change only when the text changed. */
export type ReloadTrigger = 'SIGHUP' | 'file';

export interface ConfigReloaderOptions {
  readonly path: string;
  /** The source of `${VAR}` values, as at start. */
  readonly env: Env;
  /** Reload when the file changes (`reload.watch`). */
  readonly watch: boolean;
  /** How often the file is checked when the watcher misses a change (default 5000). */
  readonly pollIntervalMs?: number;
  /** Quiet time after the last change event before reloading: an editor's save is several events (default 100). */
  readonly debounceMs?: number;
}

export interface ConfigReloaderDeps {
  /** Builds and swaps in the new configuration; throws `ConfigError` to refuse it (the running one is kept). */
  readonly apply: (next: CompiledConfig) => Promise<void>;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly clock: Clock;
}

export interface ConfigReloader {
  /**
   * Reloads the file now or, when a reload is under way, once more after it (triggers arriving
   * meanwhile share that one). Resolves true when a new configuration was applied. Never rejects.
   */
  reload(trigger: ReloadTrigger): Promise<boolean>;
  /** Remembers the file as it is now and, with `watch`, starts watching it. */
  start(): Promise<void>;
  close(): void;
}

/**
 * Live reload of the config file (SPEC §6): read → substitute → validate → compile, and only a
 * config without a single problem is handed to `apply`, which swaps it in at once. A refused file
 * changes nothing: each problem is logged at `error` by its path, as `check-config` prints it, and
 * counted as a failure. The log names the file's fingerprint (SHA-256 of its text, truncated),
 * never its content.
 *
 * Changes are seen by `fs.watch` on the file's directory, which catches an editor replacing the
 * file by rename and a Kubernetes ConfigMap swapping its `..data` symlink, and by a periodic `stat`
 * for file systems where watching misses events.
 */
export function createConfigReloader(options: ConfigReloaderOptions, deps: ConfigReloaderDeps): ConfigReloader {
  const { path, env, log, metrics } = { ...options, ...deps };
  const baseDir = dirname(resolve(path));
  const pollIntervalMs = options.pollIntervalMs ?? 5000;
  const debounceMs = options.debounceMs ?? 100;
  let running: Promise<boolean> | undefined;
  let queued: Promise<boolean> | undefined;
  let queuedTrigger: ReloadTrigger = 'file';
  let lastFingerprint: string | undefined;
  let lastSignature: string | undefined;
  let stopWatching = (): void => undefined;
  let poller: NodeJS.Timeout | undefined;
  let debounce: NodeJS.Timeout | undefined;
  let closed = false;


  function refuse(trigger: ReloadTrigger, fingerprint: string | undefined, err: unknown): false {
    metrics.configReloads.inc({ result: 'failure' });
    if (err instanceof ConfigError) {
      for (const problem of err.problems) log.error({ config: path, problem }, 'configuration problem');
      log.error({ config: path, trigger, fingerprint, problems: err.problems.length }, 'configuration reload refused; the running configuration is kept');
    } else {
      log.error({ config: path, trigger, fingerprint, err }, 'configuration reload failed; the running configuration is kept');
    }
    return false;
  }

  async function load(trigger: ReloadTrigger): Promise<boolean> {
    if (closed) return false;
    const seen = await fileSignature(path);
    let text: string;
    try {
      text = readConfigFile(path);
    } catch (err) {
      lastSignature = seen;
      return refuse(trigger, undefined, err);
    }
    const fingerprint = fingerprintOf(text);
    lastSignature = seen;
    // Saving a file unchanged, or a second event of one save, is not a reload; SIGHUP always is.
    if (trigger === 'file' && fingerprint === lastFingerprint) return false;
    lastFingerprint = fingerprint;
    try {
      await deps.apply(parseConfigText(text, env, baseDir));
    } catch (err) {
      return refuse(trigger, fingerprint, err);
    }
    metrics.configReloads.inc({ result: 'success' });
    metrics.configLastReloadSuccess.set(deps.clock.now() / 1000);
    log.info({ config: path, trigger, fingerprint }, 'configuration reloaded');
    return true;
  }

  function reload(trigger: ReloadTrigger): Promise<boolean> {
    if (running === undefined) return run(trigger);
    if (trigger === 'SIGHUP') queuedTrigger = 'SIGHUP';
    if (queued === undefined) {
      queued = running.then(() => {
        const next = queuedTrigger;
        queued = undefined;
        queuedTrigger = 'file';
        return run(next);
      });
    }
    return queued;
  }

  function run(trigger: ReloadTrigger): Promise<boolean> {
    running = load(trigger)
      .catch((err: unknown) => refuse(trigger, undefined, err))
      .finally(() => {
        running = undefined;
      });
    return running;
  }

  function changed(): void {
    if (closed) return;
    clearTimeout(debounce);
    debounce = setTimeout(() => void reload('file'), debounceMs);
    debounce.unref();
  }

  async function poll(): Promise<void> {
    if (running === undefined && (await fileSignature(path)) !== lastSignature) changed();
  }

  function startWatching(): void {
    // `..data` (and its `..data_tmp` step) is how a ConfigMap volume swaps every file at once.
    stopWatching = watchDirectoryOf(path, 'config', log, changed, (file) => file.startsWith('..data'));
    poller = setInterval(() => void poll(), pollIntervalMs);
    poller.unref();
  }

  return Object.freeze({
    reload,
    async start() {
      lastSignature = await fileSignature(path);
      try {
        lastFingerprint = fingerprintOf(readConfigFile(path));
      } catch {
        // Read again at the first change; the running config came from the same file moments ago.
      }
      metrics.configLastReloadSuccess.set(deps.clock.now() / 1000);
      log.info({ config: path, fingerprint: lastFingerprint, watch: options.watch }, 'configuration loaded; SIGHUP reloads it');
      if (options.watch && !closed) startWatching();
    },
    close() {
      closed = true;
      stopWatching();
      clearInterval(poller);
      clearTimeout(debounce);
    },
  });
}

/** The log's name for a config text: enough to tell two versions apart, nothing of what they say. */
export function fingerprintOf(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}
