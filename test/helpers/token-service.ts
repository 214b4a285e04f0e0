import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { pino } from 'pino';
import type { Identity } from '../../src/auth/identity.js';
import { createManualClock } from '../../src/clock.js';
import type { CompiledDirectory, CompiledTokenService } from '../../src/config/types.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { createPostgresStore } from '../../src/store/postgres.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import type { TokenStore } from '../../src/store/types.js';
import { createDirectory } from '../../src/tokens/directory.js';
import { createKeyEncryption } from '../../src/tokens/key-encryption.js';
import { createKeyManager } from '../../src/tokens/keys.js';
import { createRateLimiter } from '../../src/tokens/rate-limit.js';
import { createSecretHasher } from '../../src/tokens/secrets.js';
import { createTokenService } from '../../src/tokens/service.js';
import { createJwtSigner } from '../../src/tokens/signer.js';
import type { TestDatabase } from './postgres.js';
import { createLogSink } from './log-sink.js';

export const ISSUER = 'https://gateway.test';
export const AUDIENCE = 'env-client-id';
export const PEER = '192.0.2.10';

/** Roles of the fixture directory: `r-admin` → admin, `r-viewer` → viewer (the default). */
export const TEST_DIRECTORY: CompiledDirectory = {
  roles: new Map([
    ['r-admin', { id: 'r-admin', key: 'admin', permissions: ['fe.secure.*', 'reports.read'] }],
    ['r-viewer', { id: 'r-viewer', key: 'viewer', permissions: ['reports.read'] }],
    ['r-billing', { id: 'r-billing', key: 'billing', permissions: ['billing.write'] }],
  ]),
  defaultRoleIds: ['r-viewer'],
};

export function tokenServiceConfig(overrides: Partial<CompiledTokenService> = {}): CompiledTokenService {
  return {
    name: 'local',
    issuer: ISSUER,
    audience: AUDIENCE,
    algorithm: 'ES256',
    jwtTtlSeconds: 600,
    publishKeysAheadSeconds: 0,
    vendor: { clientId: 'vendor', secret: 'vendor-secret-vendor-secret-vendor-secret', tokenTtlSeconds: 600 },
    secretKey: undefined,
    keyEncryptionKey: undefined,
    accessTokens: { enabled: true },
    apiTokens: { enabled: true },
    refreshTokens: { enabled: true, ttlSeconds: 3600, maxPerCredential: 100 },
    rateLimit: { perClientPerMinute: 5, perPeerPerMinute: 1000 },
    ...overrides,
  };
}

/** The identity the proxy's verifier builds from one of the token service's JWTs (decoded, not verified). */
export function identityOf(jwt: string): Identity {
  const p = decodeJwt(jwt);
  const bearer = p.type === 'userApiToken' || p.type === 'tenantApiToken';
  return {
    tokenType: p.type as Identity['tokenType'],
    issuer: 'local',
    subject: p.sub!,
    tokenId: bearer ? p.jti! : p.sub!,
    userId: p.userId as string | undefined,
    tenantId: p.tenantId as string,
    roles: p.roles as string[],
    permissions: p.permissions as string[],
    expiresAtMs: p.exp === undefined ? undefined : p.exp * 1000,
    ...(typeof p.sid === 'string' ? { sessionId: p.sid } : {}),
  };
}

export type StoreKind = 'memory' | 'sqlite' | 'postgres';
export const STORE_KINDS: readonly StoreKind[] = ['memory', 'sqlite', 'postgres'];

/**
 * A token service on real parts: a migrated store (memory, SQLite in a temporary file, or
 * PostgreSQL in a fresh schema of `database`), a key manager with a random key-encryption key, the
 * fast-jwt signer, a manual clock, a log sink.
 */
export async function createTokenHarness(kind: StoreKind, overrides: Partial<CompiledTokenService> = {}, database?: TestDatabase) {
  const clock = createManualClock(Date.UTC(2026, 0, 1) + 250);
  const dir = kind === 'sqlite' ? await mkdtemp(join(tmpdir(), 'm2m-tokens-')) : undefined;
  const file = dir === undefined ? undefined : join(dir, 'store.db');
  const base: TokenStore = await openStore(kind, file, database);
  await base.migrate();
  // A mutable copy (the drivers return frozen objects), so a test can wrap one method to count or fail calls.
  const store: { -readonly [K in keyof TokenStore]: TokenStore[K] } = { ...base };
  const sink = createLogSink();
  const log = pino({ level: 'debug' }, sink.stream);
  const config = tokenServiceConfig(overrides);
  const keys = createKeyManager(
    { algorithm: config.algorithm, tokenLifetimeSeconds: config.jwtTtlSeconds },
    { store, encryption: createKeyEncryption(randomBytes(32)), clock, log },
  );
  await keys.init();
  const signer = createJwtSigner({ keys, clock });
  const directory = createDirectory(TEST_DIRECTORY, { store, clock });
  const hasher = createSecretHasher(randomBytes(32));
  const rateLimiter = createRateLimiter(config.rateLimit, { clock });
  const service = createTokenService(config, { store, signer, keys, directory, hasher, rateLimiter, clock, log });
  return {
    clock,
    store,
    file,
    keys,
    signer,
    directory,
    hasher,
    service,
    config,
    sink,
    async close() {
      await store.close();
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    },
  };
}

export type TokenHarness = Awaited<ReturnType<typeof createTokenHarness>>;

async function openStore(kind: StoreKind, file: string | undefined, database: TestDatabase | undefined): Promise<TokenStore> {
  if (kind === 'memory') return createMemoryStore();
  if (kind === 'sqlite') return createSqliteStore({ path: file! });
  if (database === undefined) throw new Error('a postgres harness needs the test file\'s database (withTestDatabase)');
  return createPostgresStore({ connectionString: database.url, schema: await database.newSchema() });
}
