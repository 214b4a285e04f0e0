/**
 * The in-memory TokenStore: for tests and throwaway runs. Same contract as SQLite, proven by the
 * same suite. Each method body is synchronous between its reads and writes, so on one event loop
 * every call is atomic exactly as a transaction is.
 */
import { StoreError } from './errors.js';
import {
  assertMaxLive,
  assertRefreshTokenFamily,
  assertSuccessor,
  checkRotation,
  copyAccessToken,
  copyApiToken,
  copyMembership,
  copyRefreshFamily,
  copyRefreshToken,
  copySigningKey,
  copyTenant,
  freshCopy,
  isActiveAccessToken,
  isLiveRefreshToken,
  patchApiToken,
  patchSigningKey,
} from './records.js';
import type {
  AccessTokenRecord,
  ApiTokenRecord,
  MembershipRecord,
  OwnerKind,
  RefreshFamilyRecord,
  RefreshTokenRecord,
  SigningKeyRecord,
  TenantRecord,
  TokenStore,
} from './types.js';

/**
 * Newest first; equal `createdAt` newest insert first. Maps iterate in insertion order and a
 * replaced key keeps its place, which is what SQLite's `rowid DESC` gives (an upsert keeps the
 * rowid, a new row gets a higher one); Array#sort is stable.
 */
function newestFirst<T extends { readonly createdAt: number }>(items: Iterable<T>): T[] {
  return [...items].reverse().sort((a, b) => b.createdAt - a.createdAt);
}

type TokenFilter = { readonly owner: OwnerKind; readonly tenantId: string; readonly userId?: string };

const matches = (r: { owner: OwnerKind; tenantId: string; userId: string | null; revokedAt: number | null }, f: TokenFilter): boolean =>
  r.revokedAt === null && r.owner === f.owner && r.tenantId === f.tenantId && (f.userId === undefined || r.userId === f.userId);

/**
 * One client's refresh tokens that are neither used nor revoked, oldest first (`createdAt`, then
 * insertion, which is the cap's order while `createdAt` does not decrease), plus a min-heap on
 * `expiresAt` so tokens that expired by `now` leave in O(log n) each. With it the live cap is
 * exact and costs O(log n) per insert instead of a scan and sort of every token the client ever had.
 */
class LiveIndex {
  private readonly byAge = new Map<string, RefreshTokenRecord>();
  private readonly heap: RefreshTokenRecord[] = [];
  /** The latest `now` the index was brought up to; an earlier one needs the full scan. */
  constructor(public now: number) {}

  get size(): number {
    return this.byAge.size;
  }

  add(record: RefreshTokenRecord): void {
    this.byAge.set(record.hash, record);
    const heap = this.heap;
    heap.push(record);
    for (let i = heap.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.expiresAt <= heap[i]!.expiresAt) break;
      [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
      i = parent;
    }
  }

  drop(hash: string): void {
    this.byAge.delete(hash);
  }

  oldest(): RefreshTokenRecord | undefined {
    const first = this.byAge.values().next();
    return first.done === true ? undefined : first.value;
  }

  /** Drops every token expired at `now` (`expiresAt <= now`). Heap entries of dropped tokens are skipped. */
  expire(now: number): void {
    this.now = now;
    const heap = this.heap;
    while (heap.length > 0 && heap[0]!.expiresAt <= now) {
      const top = heap[0]!;
      const last = heap.pop()!;
      if (heap.length > 0) {
        heap[0] = last;
        for (let i = 0; ; ) {
          const l = 2 * i + 1;
          const r = l + 1;
          let m = i;
          if (l < heap.length && heap[l]!.expiresAt < heap[m]!.expiresAt) m = l;
          if (r < heap.length && heap[r]!.expiresAt < heap[m]!.expiresAt) m = r;
          if (m === i) break;
          [heap[m], heap[i]] = [heap[i]!, heap[m]!];
          i = m;
        }
      }
      this.byAge.delete(top.hash);
    }
  }
}

/** Creates an empty in-memory store. It needs no `migrate()`, but accepts it. */
export function createMemoryStore(): TokenStore {
  // Stored values are frozen copies made on the way in; every read returns a fresh copy, so no
  // caller ever holds a reference to stored state.
  const tenants = new Map<string, TenantRecord>();
  const memberships = new Map<string, Map<string, MembershipRecord>>();
  const apiTokens = new Map<string, ApiTokenRecord>();
  const accessTokens = new Map<string, AccessTokenRecord>();
  const families = new Map<string, RefreshFamilyRecord>();
  const refreshTokens = new Map<string, RefreshTokenRecord>();
  /** A family's token hashes: the first alone (most families never refresh), a Set from the second on. */
  const refreshByFamily = new Map<string, string | Set<string>>();
  const refreshByClient = new Map<string, Set<string>>();
  const liveByClient = new Map<string, LiveIndex>();
  const signingKeys = new Map<string, SigningKeyRecord>();
  let closed = false;

  const open = (): void => {
    if (closed) throw new StoreError('ERR_STORE_CLOSED');
  };

  const insertNew = <T>(map: Map<string, T>, key: string, value: T, what: string): void => {
    if (map.has(key)) throw new StoreError('ERR_STORE_CONFLICT', `${what} exists already`);
    map.set(key, value);
  };

  const addToClient = (clientId: string, hash: string): void => {
    const set = refreshByClient.get(clientId);
    if (set === undefined) refreshByClient.set(clientId, new Set([hash]));
    else set.add(hash);
  };

  const addToFamily = (familyId: string, hash: string): void => {
    const held = refreshByFamily.get(familyId);
    if (held === undefined) refreshByFamily.set(familyId, hash);
    else if (typeof held === 'string') refreshByFamily.set(familyId, new Set([held, hash]));
    else held.add(hash);
  };

  const tokensOfFamily = (familyId: string): Iterable<string> => {
    const held = refreshByFamily.get(familyId);
    return held === undefined ? [] : typeof held === 'string' ? [held] : held;
  };

  /** Revokes a family and every token in it; false if it was revoked already. */
  const revokeFamily = (family: RefreshFamilyRecord, now: number): boolean => {
    for (const hash of tokensOfFamily(family.id)) {
      const token = refreshTokens.get(hash);
      if (token !== undefined && token.revokedAt === null) setRefreshToken(copyRefreshToken({ ...token, revokedAt: now }));
    }
    if (family.revokedAt !== null) return false;
    families.set(family.id, copyRefreshFamily({ ...family, revokedAt: now }));
    return true;
  };

  const revokeFamiliesOfClient = (clientId: string, now: number): void => {
    for (const family of families.values()) if (family.clientId === clientId) revokeFamily(family, now);
  };

  /** Every write of a stored refresh token goes through here, so the live index follows it. */
  const setRefreshToken = (record: RefreshTokenRecord): void => {
    refreshTokens.set(record.hash, record);
    if (record.usedAt !== null || record.revokedAt !== null) liveByClient.get(record.clientId)?.drop(record.hash);
  };

  /**
   * The exact original rule, by a full scan of the client's tokens: the newest `maxLive` tokens
   * live at `now` stay, the rest are revoked. Used when the clock went backwards for this client
   * (the ordered index only serves a non-decreasing `createdAt`); it rebuilds the index.
   */
  const capByScan = (clientId: string, now: number, maxLive: number): void => {
    const live = newestFirst(
      [...(refreshByClient.get(clientId) ?? [])]
        .map((hash) => refreshTokens.get(hash))
        .filter((t): t is RefreshTokenRecord => t !== undefined && isLiveRefreshToken(t, now)),
    );
    for (const excess of live.slice(maxLive)) setRefreshToken(copyRefreshToken({ ...excess, revokedAt: now }));
    const kept = live.slice(0, maxLive).reverse();
    // Kept tokens may be newer than `now` (the clock went back): the index serves only from the newest on.
    const index = new LiveIndex(kept.reduce((at, token) => Math.max(at, token.createdAt), now));
    for (const token of kept) index.add(token);
    liveByClient.set(clientId, index);
  };

  const storeRefreshToken = (record: RefreshTokenRecord, maxLive: number): void => {
    assertMaxLive(maxLive);
    assertRefreshTokenFamily(record, families.get(record.familyId));
    insertNew(refreshTokens, record.hash, copyRefreshToken(record), 'refresh token');
    addToFamily(record.familyId, record.hash);
    addToClient(record.clientId, record.hash);
    const now = record.createdAt;
    const index = liveByClient.get(record.clientId);
    if (index === undefined || now < index.now) {
      capByScan(record.clientId, now, maxLive);
      return;
    }
    // Live at `now`: unused and unrevoked (the index drops the others as they change) and not
    // expired (dropped here, in expiry order). What is left is ordered oldest first.
    index.expire(now);
    if (isLiveRefreshToken(record, now)) index.add(refreshTokens.get(record.hash)!);
    for (let excess = index.oldest(); index.size > maxLive && excess !== undefined; excess = index.oldest()) {
      setRefreshToken(copyRefreshToken({ ...excess, revokedAt: now }));
    }
  };

  const store: TokenStore = {
    async migrate() {
      open();
    },
    async close() {
      closed = true;
    },
    async ping() {
      open();
    },

    async putTenant(id, now) {
      open();
      const existing = tenants.get(id);
      if (existing !== undefined) return copyTenant(existing);
      const record = copyTenant({ id, createdAt: now });
      tenants.set(id, record);
      return copyTenant(record);
    },
    async getTenant(id) {
      open();
      const r = tenants.get(id);
      return r && copyTenant(r);
    },
    async listTenants() {
      open();
      return newestFirst(tenants.values()).map(copyTenant);
    },
    async deleteTenant(id, now) {
      open();
      if (!tenants.has(id)) return false;
      for (const token of apiTokens.values()) {
        if (token.tenantId !== id) continue;
        // Families of tokens revoked earlier were revoked with them; revoking again is a no-op.
        revokeFamiliesOfClient(token.clientId, now);
        if (token.revokedAt === null) apiTokens.set(token.clientId, copyApiToken({ ...token, revokedAt: now }));
      }
      for (const token of accessTokens.values()) {
        if (token.tenantId === id && token.revokedAt === null) accessTokens.set(token.id, copyAccessToken({ ...token, revokedAt: now }));
      }
      memberships.delete(id);
      tenants.delete(id);
      return true;
    },
    async putMembership(tenantId, userId, roleIds, now) {
      open();
      if (!tenants.has(tenantId)) tenants.set(tenantId, copyTenant({ id: tenantId, createdAt: now }));
      const ofTenant = memberships.get(tenantId) ?? new Map<string, MembershipRecord>();
      const existing = ofTenant.get(userId);
      const record = copyMembership({ tenantId, userId, roleIds, createdAt: existing?.createdAt ?? now, updatedAt: now });
      ofTenant.set(userId, record);
      memberships.set(tenantId, ofTenant);
      return copyMembership(record);
    },
    async getMembership(tenantId, userId) {
      open();
      const r = memberships.get(tenantId)?.get(userId);
      return r && freshCopy(r);
    },
    async listMemberships(tenantId) {
      open();
      return newestFirst(memberships.get(tenantId)?.values() ?? []).map(copyMembership);
    },
    async deleteMembership(tenantId, userId) {
      open();
      return memberships.get(tenantId)?.delete(userId) ?? false;
    },

    async insertApiToken(record) {
      open();
      insertNew(apiTokens, record.clientId, copyApiToken(record), `api token ${record.clientId}`);
    },
    async getApiToken(clientId) {
      open();
      const r = apiTokens.get(clientId);
      return r && freshCopy(r);
    },
    async listApiTokens(filter) {
      open();
      return newestFirst([...apiTokens.values()].filter((r) => matches(r, filter))).map(copyApiToken);
    },
    async updateApiToken(clientId, patch) {
      open();
      const r = apiTokens.get(clientId);
      if (r === undefined || r.revokedAt !== null) return undefined;
      const updated = patchApiToken(r, patch);
      apiTokens.set(clientId, updated);
      return copyApiToken(updated);
    },
    async revokeApiToken(clientId, now) {
      open();
      const r = apiTokens.get(clientId);
      if (r === undefined || r.revokedAt !== null) return false;
      revokeFamiliesOfClient(clientId, now);
      apiTokens.set(clientId, copyApiToken({ ...r, revokedAt: now }));
      return true;
    },

    async insertAccessToken(record) {
      open();
      insertNew(accessTokens, record.id, copyAccessToken(record), `access token ${record.id}`);
    },
    async getAccessToken(id) {
      open();
      const r = accessTokens.get(id);
      return r && freshCopy(r);
    },
    async listAccessTokens(filter) {
      open();
      return newestFirst([...accessTokens.values()].filter((r) => matches(r, filter))).map(copyAccessToken);
    },
    async revokeAccessToken(id, now) {
      open();
      const r = accessTokens.get(id);
      if (r === undefined || r.revokedAt !== null) return false;
      accessTokens.set(id, copyAccessToken({ ...r, revokedAt: now }));
      return true;
    },
    async listActiveAccessTokenIds(owner, now) {
      open();
      return newestFirst([...accessTokens.values()].filter((r) => r.owner === owner && isActiveAccessToken(r, now))).map((r) => r.id);
    },
    async hasLiveAccessTokenSignedBy(kid, now) {
      open();
      for (const r of accessTokens.values()) if (r.kid === kid && isActiveAccessToken(r, now)) return true;
      return false;
    },
    async newestLiveAccessTokenWithoutKid(now) {
      open();
      let newest: number | null = null;
      for (const r of accessTokens.values()) {
        if (r.kid === null && isActiveAccessToken(r, now) && (newest === null || r.createdAt > newest)) newest = r.createdAt;
      }
      return newest;
    },

    async startRefreshFamily(family, firstToken, maxLive) {
      open();
      if (!apiTokens.has(family.clientId)) throw new StoreError('ERR_STORE_REFERENCE', `api token ${family.clientId} is unknown`);
      const record = copyRefreshFamily(family);
      // Everything that could refuse the token is checked before the family is written, so a
      // refusal leaves no family behind, as the SQLite transaction's rollback does.
      if (firstToken !== null) {
        assertMaxLive(maxLive);
        assertRefreshTokenFamily(firstToken, record);
        if (refreshTokens.has(firstToken.hash)) throw new StoreError('ERR_STORE_CONFLICT', 'refresh token exists already');
      }
      insertNew(families, record.id, record, `refresh family ${record.id}`);
      if (firstToken !== null) storeRefreshToken(firstToken, maxLive);
    },
    async getRefreshFamily(id) {
      open();
      const r = families.get(id);
      return r && freshCopy(r);
    },
    async insertRefreshToken(record, maxLive) {
      open();
      storeRefreshToken(record, maxLive);
    },
    async rotateRefreshToken(hash, next, maxLive, now) {
      open();
      const token = refreshTokens.get(hash);
      if (token === undefined) return { outcome: 'unknown' };
      const family = families.get(token.familyId);
      const check = checkRotation(token, family, now);
      if (check === 'reused') {
        if (family !== undefined) revokeFamily(family, now);
        return { outcome: 'reused', familyId: token.familyId, clientId: token.clientId };
      }
      if (check !== 'rotate') return { outcome: check };
      assertSuccessor(token, next);
      // Validate before the first write so a refused successor leaves the presented token unused,
      // as the SQLite transaction's rollback does.
      assertMaxLive(maxLive);
      if (refreshTokens.has(next.hash)) throw new StoreError('ERR_STORE_CONFLICT', 'refresh token exists already');
      const used = copyRefreshToken({ ...token, usedAt: now });
      setRefreshToken(used);
      storeRefreshToken(next, maxLive);
      return { outcome: 'rotated', previous: copyRefreshToken(used) };
    },
    async getRefreshToken(hash) {
      open();
      const r = refreshTokens.get(hash);
      return r && freshCopy(r);
    },
    async revokeRefreshFamily(id, now) {
      open();
      const family = families.get(id);
      return family !== undefined && revokeFamily(family, now);
    },

    async insertSigningKey(record) {
      open();
      insertNew(signingKeys, record.kid, copySigningKey(record), `signing key ${record.kid}`);
    },
    async listSigningKeys() {
      open();
      return newestFirst(signingKeys.values()).map(copySigningKey);
    },
    async updateSigningKey(kid, patch) {
      open();
      const r = signingKeys.get(kid);
      if (r === undefined) return undefined;
      const updated = patchSigningKey(r, patch);
      signingKeys.set(kid, updated);
      return copySigningKey(updated);
    },
    async deleteSigningKey(kid) {
      open();
      return signingKeys.delete(kid);
    },
  };
  return Object.freeze(store);
}
