import { randomBytes } from 'node:crypto';
import t from 'tap';
import { pino } from 'pino';
import { createAuthenticator } from '../../../src/auth/create-authenticator.js';
import type { CredentialKind } from '../../../src/auth/identity.js';
import type { KeySetChange } from '../../../src/auth/key-source.js';
import { createManualClock } from '../../../src/clock.js';
import type { CompiledIssuer } from '../../../src/config/types.js';
import { isGatewayError, type ErrorCode } from '../../../src/errors.js';
import { createMetrics } from '../../../src/metrics.js';
import { createMemoryStore } from '../../../src/store/memory.js';
import { createKeyEncryption } from '../../../src/tokens/key-encryption.js';
import { createKeyManager, KEY_RELOAD_INTERVAL_SECONDS, SIGNING_ALGORITHMS, type SigningAlgorithm, type SigningKeyStore } from '../../../src/tokens/keys.js';
import { createOwnKeySource, type OwnKeySourceOptions } from '../../../src/tokens/own-key-source.js';
import { createJwtSigner } from '../../../src/tokens/signer.js';
import { counterValue } from '../../helpers/auth-harness.js';
import { compiledConfig } from '../../helpers/compiled-config.js';
import { createLogSink } from '../../helpers/log-sink.js';

const ISSUER = 'https://gateway.test';
const AUDIENCE = 'm2m-api';
const LIFETIME_SECONDS = 3600;
const LIFETIME = LIFETIME_SECONDS * 1000;
/** How long a retired key stays published: the token lifetime plus the other processes' reload interval. */
const RETENTION = LIFETIME + KEY_RELOAD_INTERVAL_SECONDS * 1000;
const COOLDOWN = 5_000;

/** This gateway as its own issuer, as the compiled config would describe it. */
function ownIssuer(algorithms: readonly SigningAlgorithm[]): CompiledIssuer {
  return Object.freeze({ name: 'own', issuer: ISSUER, audiences: [AUDIENCE], algorithms, jwks: { kind: 'file' as const, file: '/unused' } });
}

interface Setup {
  readonly algorithm?: SigningAlgorithm;
  readonly publishAheadSeconds?: number;
  /** The algorithms the compiled issuer allows (default: the signing algorithm). */
  readonly allowed?: readonly SigningAlgorithm[];
  readonly init?: boolean;
  readonly options?: OwnKeySourceOptions;
}

/**
 * Key manager → signer, and key manager → own key source → authenticator, on one manual clock.
 * The store counts its reads and can be made to fail.
 */
async function issuerAndProxy(t: { teardown(fn: () => unknown): void }, setup: Setup = {}) {
  const algorithm = setup.algorithm ?? 'RS256';
  const clock = createManualClock();
  const metrics = createMetrics({ processMetrics: false });
  const logs = createLogSink();
  const log = pino({ level: 'debug' }, logs.stream);
  const base = createMemoryStore();
  let reads = 0;
  let failing = false;
  const store: SigningKeyStore = {
    ...base,
    listSigningKeys() {
      reads++;
      return failing ? Promise.reject(new Error('store down')) : base.listSigningKeys();
    },
  };
  const encryption = createKeyEncryption(randomBytes(32));
  const newManager = () =>
    createKeyManager(
      { algorithm, tokenLifetimeSeconds: LIFETIME_SECONDS, publishAheadSeconds: setup.publishAheadSeconds },
      { store, encryption, clock, log },
    );
  const keys = newManager();
  if (setup.init !== false) await keys.init();
  const signer = createJwtSigner({ keys, clock });
  const issuer = ownIssuer(setup.allowed ?? [algorithm]);
  const source = createOwnKeySource(issuer, { keys, clock, metrics, log }, { autoRefresh: false, cooldownMs: COOLDOWN, ...setup.options });
  const changes: KeySetChange[] = [];
  source.onChange((change) => changes.push(change));
  const authenticator = createAuthenticator({ auth: compiledConfig({ routes: [] }).auth, issuers: [issuer] }, { clock, metrics, log, keySources: [source] });
  t.teardown(() => authenticator.close());
  await authenticator.start();

  /** A user API token (bearer, expiring) or a user access token without expiry (X-API-KEY). */
  const mint = async (kind: CredentialKind, signWith = signer) => {
    const common = { iss: ISSUER, aud: AUDIENCE, tenantId: 'tenant-1', userId: 'user-1', roles: ['admin'], permissions: ['reports.read'] };
    return kind === 'bearer'
      ? await signWith.sign({ ...common, type: 'userApiToken', sub: 'client-1', createdByUserId: 'user-1', metadata: {} }, { expiresInSeconds: LIFETIME_SECONDS })
      : await signWith.sign({ ...common, type: 'userAccessToken', sub: 'access-1' }, { expiresInSeconds: null });
  };
  const outcome = async (kind: CredentialKind, token: string): Promise<ErrorCode | 'OK'> => {
    try {
      await authenticator.authenticate({ kind, token });
      return 'OK';
    } catch (err) {
      if (isGatewayError(err)) return err.code;
      throw err;
    }
  };
  return {
    clock,
    metrics,
    logs,
    keys,
    newManager,
    signer,
    source,
    changes,
    authenticator,
    mint,
    outcome,
    reads: () => reads,
    setFailing: (value: boolean) => {
      failing = value;
    },
  };
}

t.test('ready after keys.init(): every published key is a prepared verifier with its thumbprint as kid', async (t) => {
  for (const algorithm of SIGNING_ALGORITHMS) {
    const h = await issuerAndProxy(t, { algorithm });
    t.ok(h.source.ready(), `${algorithm}: ready`);
    t.ok(h.authenticator.ready(), `${algorithm}: the authenticator is ready`);
    t.equal(h.source.loadedAtMs(), h.clock.now());
    const { kid } = h.keys.current();
    t.match(h.source.get(kid), { kid, alg: algorithm, thumbprint: kid, issuer: { name: 'own' } }, `${algorithm}: prepared key`);
    t.equal(h.source.get('unknown'), undefined);
    t.equal(await h.outcome('bearer', (await h.mint('bearer')).token), 'OK', `${algorithm}: a token it signed passes the proxy`);
    const reads = h.reads();
    t.equal(await h.outcome('apiKey', (await h.mint('apiKey')).token), 'OK', `${algorithm}: an access token without exp passes`);
    t.equal(h.reads(), reads, `${algorithm}: verifying reads nothing (no HTTP, no store)`);
  }
});

t.test('started before keys.init(): not ready (503), then ready after init and refresh', async (t) => {
  const h = await issuerAndProxy(t, { init: false });
  t.notOk(h.source.ready());
  t.equal(await counterValue(h.metrics.jwksFetches, { issuer: 'own', result: 'error' }), 1);
  t.match(h.logs.entries(), [{ level: 40, reason: /^ERR_KEYS_NOT_LOADED/ }]);
  await h.keys.init();
  t.equal(await h.source.refresh(), true);
  t.ok(h.source.ready());
  t.equal(await h.outcome('bearer', (await h.mint('bearer')).token), 'OK');
});

t.test('rotation timeline through the proxy: the old key’s tokens pass until its removeAfter, then are refused', async (t) => {
  for (const publishAheadSeconds of [0, 600]) {
    const label = `publishAhead ${publishAheadSeconds}s`;
    const h = await issuerAndProxy(t, { publishAheadSeconds });
    const oldKid = h.keys.current().kid;
    const oldAccess = await h.mint('apiKey');
    t.same(h.keys.jwks().keys.length, 1, `${label}: before rotation one key is published`);
    const rotatedAt = h.clock.now() + 60_000;
    const activatesAt = rotatedAt + publishAheadSeconds * 1000;
    const removeAfter = activatesAt + RETENTION;

    // The last bearer token the old key signs, 1 ms before the new key takes over: it lives
    // longest of all the old key's tokens, and must stay verifiable for its whole life.
    let lastOld: Awaited<ReturnType<typeof h.mint>> | undefined;
    if (publishAheadSeconds === 0) {
      h.clock.set(activatesAt - 1);
      lastOld = await h.mint('bearer');
    }
    h.clock.set(rotatedAt);
    const { kid: newKid } = await h.keys.rotate();
    t.equal(await h.source.refresh(), true);
    t.same(h.changes.at(-1), { issuer: 'own', added: [newKid], removed: [] }, `${label}: the new kid is published to the proxy`);
    if (publishAheadSeconds > 0) {
      t.equal((await h.mint('bearer')).kid, oldKid, `${label}: right after rotate the old key still signs`);
      h.clock.set(activatesAt - 1);
      lastOld = await h.mint('bearer');
    }
    t.equal(lastOld!.kid, oldKid);
    h.clock.set(activatesAt);
    const first = await h.mint('bearer');
    t.equal(first.kid, newKid, `${label}: the new key signs from activatesAt`);
    t.equal(await h.outcome('bearer', first.token), 'OK', `${label}: its token passes`);

    const steps: Array<[string, number, ErrorCode | 'OK', ErrorCode | 'OK']> = [
      ['at activation', activatesAt, 'OK', 'OK'],
      ['the last old bearer token’s final ms', lastOld!.expiresAt! * 1000 - 1, 'OK', 'OK'],
      // Every bearer token of the old key has expired before its removeAfter (SPEC §3) …
      ['1 ms before removeAfter', removeAfter - 1, 'ERR_AUTH_EXPIRED', 'OK'],
      // … and then the key goes: anything it signed, even an access token without exp, names an unknown kid.
      ['at removeAfter', removeAfter, 'ERR_AUTH_KID_UNKNOWN', 'ERR_AUTH_KID_UNKNOWN'],
    ];
    for (const [name, at, bearer, access] of steps) {
      h.clock.set(at);
      await h.source.refresh();
      t.equal(await h.outcome('bearer', lastOld!.token), bearer, `${label}, ${name}: last old bearer token`);
      t.equal(await h.outcome('apiKey', oldAccess.token), access, `${label}, ${name}: old access token without exp`);
    }
    t.same(h.changes.at(-1), { issuer: 'own', added: [], removed: [oldKid] }, `${label}: the old kid is reported removed`);
    t.equal(h.source.get(oldKid), undefined);
    t.equal(await h.outcome('bearer', (await h.mint('bearer')).token), 'OK', `${label}: the new key carries on`);
  }
});

t.test('a cached identity of a removed key is purged at once', async (t) => {
  const h = await issuerAndProxy(t);
  const access = await h.mint('apiKey');
  t.equal(await h.outcome('apiKey', access.token), 'OK', 'verified and cached');
  await h.keys.rotate();
  h.clock.advance(RETENTION);
  await h.source.refresh();
  t.equal(await h.outcome('apiKey', access.token), 'ERR_AUTH_KID_UNKNOWN', 'the cache does not outlive the key');
});

t.test('a key rotated in this process is trusted at once, with no store read', async (t) => {
  const h = await issuerAndProxy(t, { algorithm: 'ES256' });
  await h.keys.rotate();
  const reads = h.reads();
  const token = await h.mint('bearer');
  t.equal(await h.outcome('bearer', token.token), 'OK', 'publishAhead 0 is safe in-process: no refresh needed');
  t.equal(h.reads(), reads, 'found in the manager’s memory');
  t.ok(h.source.get(token.kid));
});

t.test('a key rotated by another process is found by one store read on its first token', async (t) => {
  const h = await issuerAndProxy(t, { algorithm: 'EdDSA' });
  const other = h.newManager();
  await other.init();
  h.clock.advance(COOLDOWN);
  await other.rotate();
  const token = await h.mint('bearer', createJwtSigner({ keys: other, clock: h.clock }));
  const reads = h.reads();
  t.equal(await h.outcome('bearer', token.token), 'OK');
  t.equal(h.reads(), reads + 1, 'one reload');
});

t.test('a flood of unknown kids reads the store at most once per cooldown', async (t) => {
  const h = await issuerAndProxy(t, { algorithm: 'ES256' });
  const other = h.newManager();
  await other.init();
  await other.rotate();
  // Signed by a key this process has not loaded: every token names an unknown kid.
  const foreign = createJwtSigner({ keys: other, clock: h.clock });
  h.clock.advance(COOLDOWN);
  const before = h.reads();
  const outcomes = await Promise.all(Array.from({ length: 50 }, async (_, i) => h.outcome('bearer', (await foreign.sign({ iss: ISSUER, n: i }, { expiresInSeconds: 60 })).token)));
  t.equal(h.reads(), before + 1, 'concurrent unknown kids: one read in flight');
  t.ok(outcomes.every((o) => o !== 'ERR_AUTH_KID_UNKNOWN'), 'and that read found the key');

  const third = h.newManager();
  await third.init();
  await third.rotate();
  const stranger = createJwtSigner({ keys: third, clock: h.clock });
  const afterFirst = h.reads();
  for (let i = 0; i < 20; i++) {
    t.equal(await h.outcome('bearer', (await stranger.sign({ n: i }, { expiresInSeconds: 60 })).token), 'ERR_AUTH_KID_UNKNOWN');
  }
  t.equal(h.reads(), afterFirst, 'within the cooldown: no read at all');
  h.clock.advance(COOLDOWN);
  await h.source.refetch('never-published');
  t.equal(h.reads(), afterFirst + 1, 'after the cooldown: one more');
  await h.source.refetch('never-published-either');
  t.equal(h.reads(), afterFirst + 1);
});

t.test('a store outage keeps the keys, counts an error and warns once', async (t) => {
  const h = await issuerAndProxy(t);
  const token = await h.mint('bearer');
  h.setFailing(true);
  t.equal(await h.source.refresh(), false);
  t.equal(await h.source.refresh(), false);
  t.ok(h.source.ready(), 'still ready');
  t.equal(await h.outcome('bearer', token.token), 'OK', 'still verifying');
  t.equal(await counterValue(h.metrics.jwksFetches, { issuer: 'own', result: 'error' }), 2);
  t.equal(h.logs.entries().filter((e) => e.level === 40 && e.msg === 'own signing keys not loaded').length, 1, 'one warning for one problem');
  h.setFailing(false);
  t.equal(await h.source.refresh(), true);
  t.match(h.logs.entries().at(-1), { msg: 'own signing keys loaded again' });
});

t.test('a store outage still drops a key once its removeAfter has passed', async (t) => {
  const h = await issuerAndProxy(t);
  const access = await h.mint('apiKey');
  await h.keys.rotate();
  await h.source.refresh();
  h.setFailing(true);
  h.clock.advance(RETENTION);
  t.equal(await h.source.refresh(), false);
  t.equal(await h.outcome('apiKey', access.token), 'ERR_AUTH_KID_UNKNOWN');
});

t.test('keys the issuer is not configured to accept are refused like any bad JWKS', async (t) => {
  const h = await issuerAndProxy(t, { algorithm: 'ES256', allowed: ['RS256'] });
  t.notOk(h.source.ready(), 'not ready: the set was refused as a whole');
  t.equal(await counterValue(h.metrics.jwksFetches, { issuer: 'own', result: 'invalid' }), 1);
  t.notOk(h.authenticator.ready(), 'so the gateway is not ready');
  // The proxy refuses the token on its header alone, before any key lookup.
  t.equal(await h.outcome('bearer', (await h.mint('bearer')).token), 'ERR_AUTH_ALGORITHM');
});

t.test('close stops the reload timer and any later refresh', async (t) => {
  const h = await issuerAndProxy(t, { options: { autoRefresh: true, reloadIntervalMs: 60_000 } });
  h.source.close();
  const reads = h.reads();
  t.equal(await h.source.refresh(), false);
  await h.source.refetch('anything');
  t.equal(h.reads(), reads);
});
