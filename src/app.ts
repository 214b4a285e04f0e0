import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createAuthenticator, type GatewayAuthenticator } from './auth/create-authenticator.js';
import type { BasicCredentials } from './auth/basic.js';
import type { Identity } from './auth/identity.js';
import { createKeySource, type KeySource } from './auth/key-source.js';
import type { Clock } from './clock.js';
import type { Env } from './config/env.js';
import { createConfigReloader, type ConfigReloader } from './config/reload.js';
import { keepRestartOnly, restartOnlyChanges, sameValue } from './config/restart-only.js';
import type { CompiledConfig, CompiledDirectory, CompiledIssuer, CompiledIssuerLiveness, CompiledTokenService } from './config/types.js';
import { ConfigError, GatewayError } from './errors.js';
import { createAdminServer } from './http/admin-server.js';
import { createProxyServer, type RequestPipeline } from './http/proxy-server.js';
import { createTokenApi, isTokenApiPath, type TokenApi } from './http/token-api.js';
import type { Logger } from './log.js';
import { createMetrics, type Metrics } from './metrics.js';
import { createDecider } from './proxy/create-decider.js';
import { createForwarder, type Forwarder } from './proxy/forward.js';
import { createWebSocketTunnel } from './proxy/websocket.js';
import { createStoreHealth, type StoreHealth } from './store/health.js';
import { createPostgresChangeListener, type PostgresChangeListener } from './store/postgres-changes.js';
import { instrumentStore } from './store/instrumented.js';
import { createMemoryStore } from './store/memory.js';
import { createPostgresStore } from './store/postgres.js';
import { createSqliteThreadStore } from './store/sqlite-thread.js';
import type { TokenStore } from './store/types.js';
import { createKeyEncryption, loadKeyEncryptionKey } from './tokens/key-encryption.js';
import { createKeyManager, type KeyManager } from './tokens/keys.js';
import { createOwnKeySource } from './tokens/own-key-source.js';
import { createJwtSigner, type JwtSigner } from './tokens/signer.js';
import { createDirectory } from './tokens/directory.js';
import { createIssuerApiLiveness } from './tokens/issuer-api-liveness.js';
import { createLivenessChecker, type LivenessChecker } from './tokens/liveness.js';
import { createStoreLiveness } from './tokens/store-liveness.js';
import { instrumentTokenService } from './tokens/instrumented.js';
import { createRateLimiter } from './tokens/rate-limit.js';
import { createSecretHasher, loadSecretKey } from './tokens/secrets.js';
import { createTokenService } from './tokens/service.js';
import type { Directory, TokenService } from './tokens/types.js';
import { createVendorTokens } from './tokens/vendor.js';

/** Everything the token service is built from, ready: keys initialised, store migrated. */
export interface TokenServiceContext {
  readonly config: CompiledConfig;
  readonly tokenService: CompiledTokenService;
  readonly store: TokenStore;
  readonly keys: KeyManager;
  readonly signer: JwtSigner;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: Metrics;
}

/** What a `TokenServiceFactory` builds. */
export interface BuiltTokenService {
  readonly tokenService: TokenService;
  readonly directory: Directory;
  /** The caches behind `checkLive`, fed the store's change events when the store publishes them. */
  readonly liveness?: Pick<LivenessChecker, 'apply' | 'clear'>;
  /** Replaces the directory's role definitions (a config reload); without it roles change only with a restart. */
  readonly reconfigureDirectory?: (directory: CompiledDirectory) => void;
}

/** Builds the token service and directory over the prepared pieces (src/tokens/service.ts). */
export type TokenServiceFactory = (context: TokenServiceContext) => Promise<BuiltTokenService>;

/**
 * The standalone token service: the secret-hash server key (config, env or a generated file in
 * dataDir), the directory, the exchange rate limiter (security case 29) and the service.
 */
export const defaultTokenServices: TokenServiceFactory = async ({ config, tokenService: ts, store, keys, signer, clock, log, metrics }) => {
  const secretKey = await loadSecretKey({ value: ts.secretKey, dataDir: config.dataDir }, { log });
  const directory = createDirectory(config.directory, { store, clock });
  const rateLimiter = createRateLimiter(ts.rateLimit, { clock });
  const tokenService = createTokenService(ts, {
    store,
    signer,
    keys,
    directory,
    hasher: createSecretHasher(secretKey),
    rateLimiter,
    clock,
    log,
    metrics,
    liveness: { ttlMs: config.liveness.cacheTtlMs, maxEntries: config.liveness.maxEntries, negativeMaxEntries: config.liveness.negativeMaxEntries },
    edgeMaxEntries: config.auth.cache.maxEntries,
  });
  return { tokenService, directory, liveness: tokenService.liveness, reconfigureDirectory: directory.reconfigure };
};

export interface OpenTokenServiceDeps {
  readonly log: Logger;
  readonly clock: Clock;
  /** Builds the service and directory (default `defaultTokenServices`). */
  readonly tokenServices?: TokenServiceFactory;
  /** A store to use instead of the configured one (tests); closed by `close()`. */
  readonly store?: TokenStore;
  /** Where store latency, issuance and exchanges are counted (a throwaway registry when absent). */
  readonly metrics?: Metrics;
  /** Told the outcome of every store call (readiness). */
  readonly storeHealth?: StoreHealth;
}

/** The configured token service, open on its store: what `serve` runs and the CLI commands use. */
export interface OpenTokenService {
  readonly store: TokenStore;
  readonly keys: KeyManager;
  readonly signer: JwtSigner;
  readonly tokenService: TokenService;
  readonly directory: Directory;
  readonly liveness: Pick<LivenessChecker, 'apply' | 'clear'> | undefined;
  readonly reconfigureDirectory: ((directory: CompiledDirectory) => void) | undefined;
  /** Closes the store. */
  close(): Promise<void>;
}

/**
 * Opens the configured token service without any listener (SPEC §2 standalone; §6 CLI): the store
 * (created and migrated), the key-encryption key, the signing keys (generated on first use), the
 * signer, then the service and directory from `deps.tokenServices`. `serve` and the credential
 * commands both go through here, so they share one store, one set of keys and one validation.
 * A config without `tokenService` is ERR_CONFIG_INVALID. On failure the store is closed again.
 */
export async function openTokenService(config: CompiledConfig, deps: OpenTokenServiceDeps): Promise<OpenTokenService> {
  const ts = config.tokenService;
  if (ts === undefined) throw new GatewayError('ERR_CONFIG_INVALID', 'the config has no tokenService section: there is no token service to open');
  const { log, clock } = deps;
  const metrics = deps.metrics ?? createMetrics({ processMetrics: false });
  let driver: TokenStore;
  if (deps.store !== undefined) driver = deps.store;
  else if (config.store.driver === 'memory') driver = createMemoryStore();
  else if (config.store.driver === 'postgres') driver = createPostgresStore({ connectionString: config.store.url });
  else {
    await mkdir(dirname(config.store.path), { recursive: true, mode: 0o700 });
    driver = createSqliteThreadStore({ path: config.store.path });
  }
  const store = instrumentStore(driver, metrics, deps.storeHealth);
  try {
    await store.migrate();
    const kek = await loadKeyEncryptionKey({ value: ts.keyEncryptionKey, valueSource: 'tokenService.keyEncryptionKey', dataDir: config.dataDir }, { log });
    const keys = createKeyManager(
      {
        algorithm: ts.algorithm,
        // A retired key stays published as long as a JWT or vendor token it signed can live; the
        // key manager keeps it beyond that while a live access token it signed needs it.
        tokenLifetimeSeconds: Math.max(ts.jwtTtlSeconds, ts.vendor.tokenTtlSeconds),
        publishAheadSeconds: ts.publishKeysAheadSeconds,
      },
      { store, encryption: createKeyEncryption(kek), clock, log },
    );
    await keys.init();
    const signer = createJwtSigner({ keys, clock });
    const built = await (deps.tokenServices ?? defaultTokenServices)({ config, tokenService: ts, store, keys, signer, clock, log, metrics });
    const tokenService = instrumentTokenService(built.tokenService, metrics);
    return Object.freeze({
      store,
      keys,
      signer,
      tokenService,
      directory: built.directory,
      liveness: built.liveness,
      reconfigureDirectory: built.reconfigureDirectory,
      close: () => store.close(),
    });
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
}

export interface AppDeps {
  readonly log: Logger;
  readonly clock: Clock;
  /** Process metrics (event loop, memory, fds) are on by default; tests with many apps turn them off. */
  readonly processMetrics?: boolean;
  readonly newId?: () => string;
  /** With `config.tokenService`: builds the service and directory (default `defaultTokenServices`). */
  readonly tokenServices?: TokenServiceFactory;
  /** With `config.tokenService`: a store to use instead of the configured one (tests); closed with the app. */
  readonly store?: TokenStore;
  /** The file `config` was loaded from: reloaded by `reload()` and, with `reload.watch`, when it changes. */
  readonly configFile?: { readonly path: string; readonly env: Env };
}

export interface App {
  /** Loads key sets and listens; resolves with the bound addresses. */
  start(): Promise<{ readonly proxy: AddressInfo; readonly admin: AddressInfo }>;
  /** True when the gateway should receive traffic. */
  ready(): boolean;
  /**
   * Graceful stop (SPEC §6): readiness turns false, listeners stop accepting, in-flight requests
   * get up to `server.shutdownTimeoutMs` to finish, then remaining connections are cut.
   */
  close(): Promise<void>;
  /**
   * Reloads the config file now (SIGHUP): validated, then swapped in; a bad file is refused with
   * its problems logged and the running configuration kept. Resolves true when it was applied.
   */
  reload(): Promise<boolean>;
  readonly metrics: Metrics;
}

/**
 * One configuration in force, with what was built from it. A request takes the current generation
 * when it starts and releases it when it ends (`RequestPipeline`); a reload makes a new current
 * one, and what only older generations used is closed once their last request has ended.
 */
interface Generation extends RequestPipeline {
  readonly config: CompiledConfig;
  readonly authenticator: GatewayAuthenticator;
  /** The authenticator's sources, one per issuer of `config.issuers`. */
  readonly keySources: readonly KeySource[];
  readonly forwarder: Forwarder;
  /** Requests under way on this generation. */
  active: number;
}

/** What the authenticator is built from: when none of it changes, a reload keeps the authenticator and its caches. */
function authenticatorInputs(config: CompiledConfig) {
  const { maxTokenBytes, clockToleranceSeconds, cache, negativeCache } = config.auth;
  return { issuers: config.issuers, maxTokenBytes, clockToleranceSeconds, cache, negativeCache };
}

/** The composition root: builds every dependency once and wires the servers. */
export function createApp(config: CompiledConfig, deps: AppDeps): App {
  const { log, clock } = deps;
  const metrics = createMetrics({ processMetrics: deps.processMetrics });
  const now = () => performance.now();
  const tunnel = createWebSocketTunnel({ onError: (err) => log.warn({ err: err.message }, 'websocket tunnel error') });
  let draining = false;
  let listening = false;
  // Built in start(): the token service's keys and store are read asynchronously, and the
  // authenticator must trust the own issuer's keys from its first request.
  let current: Generation | undefined;
  /** The current generation and the older ones still serving requests. */
  const generations = new Set<Generation>();
  let tokenApi: TokenApi | undefined;
  let opened: OpenTokenService | undefined;
  let reloader: ConfigReloader | undefined;
  let reloadWhenStarted = false;
  // Started once, shared by every generation: the token service's key source and exchange, and
  // the liveness checks by issuer name (with the source each sidecar issuer's was started from).
  let ownSource: KeySource | undefined;
  let exchangeBasic: ((credentials: BasicCredentials, peer: string) => Promise<string>) | undefined;
  const liveness = new Map<string, (identity: Identity) => Promise<Identity>>();
  const livenessSources = new Map<string, CompiledIssuerLiveness>();
  /** Every directory built from `config.directory`, told when the role definitions reload. */
  const directories: ((directory: CompiledDirectory) => void)[] = [];
  // Every store this process reads (its own, and sidecar issuers' databases) must answer for it to be ready.
  const storeHealths: StoreHealth[] = [];
  const changeFeeds: PostgresChangeListener[] = [];
  // Closed after the listeners, last opened first.
  const closers: (() => Promise<void> | void)[] = [];
  metrics.setKeySetAges(() => current?.authenticator.keySetAges() ?? []);

  const proxyServer = createProxyServer(config, {
    pipeline() {
      const generation = current!;
      generation.active++;
      return generation;
    },
    tunnel,
    metrics,
    log,
    now,
    newId: deps.newId ?? randomUUID,
    draining: () => draining,
    tokenApi:
      config.tokenService === undefined
        ? undefined
        : { claims: isTokenApiPath, handle: (req, res) => tokenApi!.handle(req, res) },
  });
  const ready = () => listening && !draining && current?.authenticator.ready() === true && storeHealths.every((health) => health.up());
  const adminServer = createAdminServer({ metrics, log, ready });

  /** Watches a store's health: readiness, the store gauge, and a periodic probe. */
  function watchHealth(): StoreHealth {
    const health = createStoreHealth({}, { metrics, log });
    storeHealths.push(health);
    closers.push(() => health.close());
    return health;
  }

  /**
   * Listens to a PostgreSQL store's change events (SPEC §5): each one evicts the answers it
   * changed; after a gap in the feed every answer is dropped. The first LISTEN must succeed, as
   * the store itself had to be reachable to start.
   */
  async function followChanges(connectionString: string, targets: { readonly caches: readonly Pick<LivenessChecker, 'apply' | 'clear'>[]; readonly keysChanged?: () => void }): Promise<void> {
    const feed = createPostgresChangeListener(
      { connectionString },
      {
        log,
        clock,
        handlers: {
          onChange(event) {
            for (const cache of targets.caches) cache.apply(event);
            if (event.change.kind === 'signingKeys') targets.keysChanged?.();
            metrics.propagationLag.observe({ change: event.change.kind }, Math.max(0, clock.now() - event.committedAt) / 1000);
          },
          onReset() {
            for (const cache of targets.caches) cache.clear();
            targets.keysChanged?.();
          },
        },
      },
    );
    closers.push(() => feed.close());
    await feed.start();
    changeFeeds.push(feed);
    metrics.registerChangeFeed(() => changeFeeds.every((each) => each.connected()));
  }

  /** SPEC §2 standalone: the opened token service, own key source, vendor tokens, routes. */
  async function startTokenService(ts: CompiledTokenService): Promise<void> {
    const health = watchHealth();
    opened = await openTokenService(config, { log, clock, metrics, storeHealth: health, tokenServices: deps.tokenServices, store: deps.store });
    health.start(opened.store);
    const { keys, signer, tokenService, directory, reconfigureDirectory } = opened;
    const ownIssuer = config.issuers.find((issuer) => issuer.jwks.kind === 'own');
    if (ownIssuer === undefined) throw new Error('tokenService without its own issuer');
    const source = createOwnKeySource(ownIssuer, { keys, clock, metrics, log });
    ownSource = source;
    if (config.store.driver === 'postgres' && deps.store === undefined) {
      await followChanges(config.store.url, { caches: opened.liveness === undefined ? [] : [opened.liveness], keysChanged: () => void source.refresh() });
    }
    // The exchange's limits, on counters of their own: vendor sign-ins and client exchanges do not
    // spend each other's budget, and a vendor lock-out never touches the clients.
    const vendorTokens = createVendorTokens(ts, { signer, clock, keys: source, rateLimiter: createRateLimiter(ts.rateLimit, { clock }) });
    tokenApi = createTokenApi({ issuer: ts.issuer, refreshTokens: ts.refreshTokens, realm: config.auth.realm }, { tokenService, directory, vendorTokens, keys, log });
    if (reconfigureDirectory !== undefined) directories.push(reconfigureDirectory);
    liveness.set(ts.name, (identity) => tokenService.checkLive(identity, { sid: identity.sessionId }));
    exchangeBasic = async (credentials, peer) => (await tokenService.exchangeAtEdge(credentials, { peer })).accessToken;
  }

  /**
   * SPEC §5 sidecar: the liveness check of another m2m-gateway's tokens, in its PostgreSQL (with
   * its change events) or through its vendor-only routes (answers cached for the TTL).
   */
  async function startIssuerLiveness(issuer: CompiledIssuer, source: CompiledIssuerLiveness): Promise<(identity: Identity) => Promise<Identity>> {
    const cache = { ttlMs: config.liveness.cacheTtlMs, maxEntries: config.liveness.maxEntries, negativeMaxEntries: config.liveness.negativeMaxEntries };
    if (source.kind === 'issuerApi') {
      const api = createIssuerApiLiveness({ url: source.url, clientId: source.clientId, secret: source.secret, timeoutMs: source.timeoutMs }, { clock, log });
      closers.push(() => api.close());
      const checker = createLivenessChecker(cache, { source: (identity, sid) => api.lookUp(identity, sid), clock, metrics });
      return (identity) => checker.check(identity);
    }
    const health = watchHealth();
    const store = instrumentStore(createPostgresStore({ connectionString: source.url }), metrics, health);
    closers.push(() => store.close());
    // Reads only: the issuer replicas own the schema, and a sidecar of an older build must not migrate it.
    await store.ping();
    health.start(store);
    const directory = createDirectory(config.directory, { store, clock });
    directories.push(directory.reconfigure);
    // The issuer's credential-kind switches are its own: a sidecar on its database checks both kinds.
    const { source: lookUp } = createStoreLiveness({ apiTokens: true, accessTokens: true }, { store, directory, now: () => clock.now() });
    const checker = createLivenessChecker(cache, { source: lookUp, clock, metrics });
    directory.onChange((change) => {
      if (change.kind === 'roles') checker.clear();
    });
    await followChanges(source.url, { caches: [checker] });
    log.info({ issuer: issuer.name }, 'liveness of this issuer checked in its PostgreSQL');
    return (identity) => checker.check(identity);
  }

  /**
   * The generation of `next`, reusing what `previous` built from the same settings: the whole
   * authenticator (and its caches) when no issuer and no auth setting changed, else the key
   * sources of unchanged issuers (no cache dropped, no burst of JWKS fetches); the upstream pools
   * when the upstream settings are the same. On a reload, an issuer whose keys cannot be loaded
   * refuses the config (`ConfigError`) rather than leaving the gateway unready.
   */
  async function buildGeneration(next: CompiledConfig, previous: Generation | undefined): Promise<Generation> {
    let authenticator: GatewayAuthenticator;
    let keySources: readonly KeySource[];
    if (previous !== undefined && sameValue(authenticatorInputs(previous.config), authenticatorInputs(next))) {
      ({ authenticator, keySources } = previous);
    } else {
      const fresh: KeySource[] = [];
      keySources = next.issuers.map((issuer) => {
        const kept = issuer.jwks.kind === 'own' ? ownSource : previous?.keySources.find((source) => sameValue(source.issuer, issuer));
        if (kept !== undefined) return kept;
        const source = createKeySource(issuer, { clock, metrics, log });
        fresh.push(source);
        return source;
      });
      try {
        await Promise.all((previous === undefined ? keySources : fresh).map((source) => source.start()));
        const unloaded = previous === undefined ? [] : fresh.filter((source) => !source.ready());
        if (unloaded.length > 0) {
          const external = next.issuers.filter((issuer) => issuer.jwks.kind !== 'own');
          throw new ConfigError(unloaded.map((source) => `issuers[${external.indexOf(source.issuer)}].jwks: no usable key set could be loaded (see the JWKS log line)`));
        }
        authenticator = createAuthenticator(next, { clock, metrics, log, keySources });
      } catch (err) {
        for (const source of fresh) source.close();
        throw err;
      }
    }
    const forwarder =
      previous !== undefined && sameValue(previous.config.upstream, next.upstream) && previous.config.server.maxBodyBytes === next.server.maxBodyBytes
        ? previous.forwarder
        : createForwarder(next.upstream, { maxBodyBytes: next.server.maxBodyBytes }, { now });
    const checks = new Map([...liveness].filter(([name]) => name === next.tokenService?.name || next.issuers.some((issuer) => issuer.name === name && issuer.liveness !== undefined)));
    const decide = createDecider(next, { authenticator, liveness: checks, ...(exchangeBasic === undefined ? {} : { exchangeBasic }) });
    const generation: Generation = {
      config: next,
      decide,
      forwarder,
      authenticator,
      keySources,
      active: 0,
      release() {
        generation.active--;
        // Once draining, close() closes every generation itself.
        if (generation.active === 0 && generation !== current && !draining) retire(generation);
      },
    };
    return generation;
  }

  /** Makes `generation` current; the one it replaces is retired now or when its last request ends. */
  function swap(generation: Generation): void {
    const previous = current;
    current = generation;
    generations.add(generation);
    if (previous !== undefined && previous.active === 0) retire(previous);
  }

  /** Closes what `old` alone used: its authenticator and key sources, its upstream pools. */
  function retire(old: Generation): void {
    generations.delete(old);
    const inUse = [...generations];
    if (!inUse.some((generation) => generation.authenticator === old.authenticator)) {
      old.authenticator.detach();
      for (const source of old.keySources) if (!inUse.some((generation) => generation.keySources.includes(source))) source.close();
    }
    const sharing = inUse.filter((generation) => generation.forwarder === old.forwarder);
    const closing = sharing.length === 0 ? old.forwarder.close() : old.forwarder.retain(new Set(sharing.flatMap((generation) => generation.config.routes.map((route) => route.upstream))));
    closing.catch((err: unknown) => log.warn({ err }, 'closing upstream pools failed'));
  }

  /**
   * Applies a reloaded config: the restart-only settings keep their running values (a `warn`
   * line names each that changed), the rest becomes a new generation swapped in at once, and the
   * role definitions are replaced at the same moment. Throws `ConfigError` to refuse it.
   */
  async function applyConfig(loaded: CompiledConfig): Promise<void> {
    const running = current;
    if (running === undefined || draining) throw new Error('the gateway is not running');
    const next = keepRestartOnly(running.config, loaded);
    const own = next.tokenService?.name;
    const problems = next.issuers
      .filter((issuer) => issuer.jwks.kind !== 'own')
      .flatMap((issuer, i) => [
        ...(issuer.name === own ? [`issuers[${i}].name: "${own}" names the running token service's issuer`] : []),
        ...(issuer.liveness === undefined || sameValue(livenessSources.get(issuer.name), issuer.liveness)
          ? []
          : [`issuers[${i}].liveness: a liveness source is started with the gateway only; restart it to add or change one`]),
      ]);
    if (problems.length > 0) throw new ConfigError(problems);
    const generation = await buildGeneration(next, running);
    if (draining || current !== running) {
      retire(generation);
      throw new Error('the gateway stopped during the reload');
    }
    for (const path of restartOnlyChanges(running.config, loaded)) {
      log.warn({ path }, 'configuration setting changed but takes effect only after a restart; the running value is kept');
    }
    if (!sameValue(running.config.directory, next.directory)) for (const reconfigure of directories) reconfigure(next.directory);
    swap(generation);
  }

  async function start() {
    const ts = config.tokenService;
    if (ts !== undefined) await startTokenService(ts);
    for (const issuer of config.issuers) {
      if (issuer.liveness === undefined) continue;
      liveness.set(issuer.name, await startIssuerLiveness(issuer, issuer.liveness));
      livenessSources.set(issuer.name, issuer.liveness);
    }
    swap(await buildGeneration(config, undefined));
    const proxy = await listen(proxyServer, config.server.port, config.server.host);
    const admin = await listen(adminServer, config.admin.port, config.admin.host);
    listening = true;
    log.info({ proxyAddress: proxy.address, proxyPort: proxy.port, adminAddress: admin.address, adminPort: admin.port, ready: ready() }, 'listening');
    if (deps.configFile !== undefined) {
      reloader = createConfigReloader({ ...deps.configFile, watch: config.reload.watch }, { apply: applyConfig, log, metrics, clock });
      await reloader.start();
      if (reloadWhenStarted) void reloader.reload('SIGHUP');
    }
    return { proxy, admin };
  }

  async function reload(): Promise<boolean> {
    if (reloader !== undefined) return reloader.reload('SIGHUP');
    if (deps.configFile === undefined) log.warn('no configuration file to reload');
    // Asked while starting: the file may have changed since it was read, so read it once started.
    else reloadWhenStarted = true;
    return false;
  }

  async function close() {
    if (draining) return;
    draining = true;
    reloader?.close();
    const { shutdownTimeoutMs } = (current?.config ?? config).server;
    log.info({ timeoutMs: shutdownTimeoutMs }, 'draining');
    const drained = new Promise<void>((resolve) => proxyServer.close(() => resolve()));
    proxyServer.closeIdleConnections();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), shutdownTimeoutMs);
    });
    if ((await Promise.race([drained, deadline])) === 'timeout') {
      log.warn('drain deadline reached; closing remaining connections');
      proxyServer.closeAllConnections();
      await drained;
    }
    clearTimeout(timer);
    tunnel.close();
    const live = [...generations];
    generations.clear();
    await Promise.all([...new Set(live.map((generation) => generation.forwarder))].map((forwarder) => forwarder.close()));
    for (const generation of live) generation.authenticator.detach();
    for (const source of new Set(live.flatMap((generation) => generation.keySources))) source.close();
    for (const close of closers.reverse()) await close();
    // After the listeners: no request can reach the store any more.
    await opened?.close();
    await new Promise<void>((resolve) => {
      adminServer.close(() => resolve());
      adminServer.closeAllConnections();
    });
    log.info('stopped');
  }

  return Object.freeze({ start, ready, close, reload, metrics });
}

function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}
