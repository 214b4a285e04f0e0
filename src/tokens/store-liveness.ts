import type { Identity } from '../auth/identity.js';
import type { AccessTokenRecord, ApiTokenRecord, OwnerKind, TokenStore } from '../store/types.js';
import { credentialOf, livenessTags, OWNER_OF, type LivenessLookup, type LivenessSource } from './liveness.js';
import type { Directory } from './types.js';

export type Grants = { roles: string[]; permissions: string[] };

/** Neither revoked nor expired at `now`. */
export const isAlive = (r: { readonly revokedAt: number | null; readonly expiresAt: number | null }, now: number): boolean =>
  r.revokedAt === null && (r.expiresAt === null || r.expiresAt > now);

/**
 * The liveness rules over the token store (SPEC §3 "Deleted / revoked", §4.4): one implementation
 * for the token service (its proxy, its vendor-only lookups, its exchange) and for sidecars that
 * read the issuer's PostgreSQL, so every process gives the same verdict for the same records.
 */
export interface StoreLiveness {
  /** The source of the proxy's liveness checks: the answer with its current grants, and what it depends on. */
  readonly source: LivenessSource;
  /** What a client-credentials token grants now: the user's membership roles, or the token's own grants. */
  apiGrants(record: ApiTokenRecord): Promise<Grants | undefined>;
  /** What a live access token grants now, or undefined when it (or its user's membership) is gone. */
  accessGrants(record: AccessTokenRecord | undefined, owner: OwnerKind, now: number): Promise<Grants | undefined>;
  /**
   * A client-credentials JWT's credential exists with that owner and is alive, its refresh family
   * exists, is not revoked and belongs to it, and (user tokens) the user is still a member of the
   * tenant: what it grants now, or undefined.
   */
  liveApiToken(owner: OwnerKind, clientId: string, familyId: string, now: number): Promise<{ record: ApiTokenRecord; grants: Grants } | undefined>;
}

export function createStoreLiveness(
  switches: { readonly apiTokens: boolean; readonly accessTokens: boolean },
  deps: {
    readonly store: Pick<TokenStore, 'getApiToken' | 'getAccessToken' | 'getRefreshFamily' | 'getMembership'>;
    readonly directory: Pick<Directory, 'grants'>;
    readonly now: () => number;
  },
): StoreLiveness {
  const { store, directory } = deps;

  async function membershipGrants(tenantId: string, userId: string | null): Promise<Grants | undefined> {
    const membership = await store.getMembership(tenantId, userId ?? '');
    return membership === undefined ? undefined : directory.grants(membership.roleIds, null);
  }

  async function apiGrants(record: ApiTokenRecord): Promise<Grants | undefined> {
    if (record.owner === 'tenant') return directory.grants(record.roleIds, record.permissionIds);
    return membershipGrants(record.tenantId, record.userId);
  }

  async function accessGrants(record: AccessTokenRecord | undefined, owner: OwnerKind, now: number): Promise<Grants | undefined> {
    if (record === undefined || record.owner !== owner || !isAlive(record, now)) return undefined;
    if (owner === 'tenant') return directory.grants(record.roleIds, record.permissionIds);
    return membershipGrants(record.tenantId, record.userId);
  }

  async function liveApiToken(owner: OwnerKind, clientId: string, familyId: string, now: number): Promise<{ record: ApiTokenRecord; grants: Grants } | undefined> {
    const [record, family] = await Promise.all([store.getApiToken(clientId), store.getRefreshFamily(familyId)]);
    if (record === undefined || record.owner !== owner || !isAlive(record, now)) return undefined;
    if (family === undefined || family.revokedAt !== null || family.clientId !== record.clientId) return undefined;
    const grants = await apiGrants(record);
    return grants === undefined ? undefined : { record, grants };
  }

  async function source(identity: Identity, sid: string | undefined): Promise<LivenessLookup> {
    const now = deps.now();
    const type = identity.tokenType;
    const owner = OWNER_OF[type];
    const tags = livenessTags(identity, sid);
    const dead = { answer: { live: false } as const, tags };
    if (credentialOf(type) === 'access') {
      if (!switches.accessTokens) return dead;
      const record = await store.getAccessToken(identity.subject);
      const grants = await accessGrants(record, owner, now);
      if (record === undefined || grants === undefined) return dead;
      return { answer: { live: true, tenantId: record.tenantId, userId: record.userId ?? undefined, ...grants, expiresAt: record.expiresAt }, tags };
    }
    if (!switches.apiTokens) return dead;
    // Every client-credentials JWT the token service mints carries its family; one without is not to be trusted.
    if (sid === undefined) return dead;
    const live = await liveApiToken(owner, identity.subject, sid, now);
    if (live === undefined) return dead;
    const { record, grants } = live;
    return { answer: { live: true, tenantId: record.tenantId, userId: record.userId ?? undefined, ...grants, expiresAt: record.expiresAt }, tags };
  }

  return Object.freeze({ source, apiGrants, accessGrants, liveApiToken });
}
