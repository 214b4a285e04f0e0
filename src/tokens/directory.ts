import type { Clock } from '../clock.js';
import type { CompiledDirectory } from '../config/types.js';
import { GatewayError } from '../errors.js';
import type { MembershipRecord, TenantRecord, TokenStore } from '../store/types.js';
import type { Directory } from './types.js';

/** A write to the directory, for caches that must forget answers it changed (the liveness cache). */
export type DirectoryChange =
  | { readonly kind: 'membership'; readonly tenantId: string; readonly userId: string }
  | { readonly kind: 'tenant'; readonly tenantId: string }
  /** The role definitions were reloaded: every answer may grant something else now. */
  | { readonly kind: 'roles' };

/** The `Directory` plus change notification: the token service evicts its liveness answers on every write. */
export interface ObservableDirectory extends Directory {
  /** Calls `listener` after every successful write; returns the unsubscribe function. */
  onChange(listener: (change: DirectoryChange) => void): () => void;
  /** The ids sorted and deduplicated, or ERR_DIRECTORY_UNKNOWN_ROLE naming every unconfigured one. */
  checkRoleIds(roleIds: readonly string[]): string[];
  /** Replaces the role definitions and default roles (a config reload); listeners hear `roles`. */
  reconfigure(config: CompiledDirectory): void;
}

/** The part of the store the directory needs. */
export type DirectoryStore = Pick<
  TokenStore,
  'putTenant' | 'getTenant' | 'listTenants' | 'deleteTenant' | 'putMembership' | 'getMembership' | 'listMemberships' | 'deleteMembership'
>;

/**
 * Ids become JWT claims and then upstream identity headers, which the verifier only accepts as
 * printable ASCII with no space at either end (security case 23); anything else is refused at the
 * door, not minted.
 */
const ID = /^(?! )[\x20-\x7e]{1,256}(?<! )$/;
/** What a problem line may quote back: only ids that look like our config's own words. */
const QUOTABLE = /^[A-Za-z0-9_.:-]{1,64}$/;

/** ERR_VALIDATION unless `value` is a usable id (1–256 printable ASCII, no space at either end). */
export function checkId(value: unknown, field: string): string {
  if (typeof value !== 'string' || !ID.test(value)) {
    throw new GatewayError('ERR_VALIDATION', `${field} is not a usable id`, { problems: [`${field} must be 1-256 printable ASCII characters, with no space at either end`] });
  }
  return value;
}

function sortedUnique(values: Iterable<string>): string[] {
  return [...new Set(values)].sort();
}

/**
 * The directory of SPEC §4.4: tenants and memberships in the store, roles from the config.
 * Role ids given by a caller must be configured (ERR_DIRECTORY_UNKNOWN_ROLE, naming the id when it
 * looks like one of ours); role ids already stored but since removed from the config grant nothing.
 */
export function createDirectory(initial: CompiledDirectory, deps: { store: DirectoryStore; clock: Clock }): ObservableDirectory {
  const { store, clock } = deps;
  let config = initial;
  const listeners = new Set<(change: DirectoryChange) => void>();

  function notify(change: DirectoryChange): void {
    for (const listener of listeners) listener(change);
  }

  function checkRoleIds(roleIds: readonly string[]): string[] {
    if (!Array.isArray(roleIds)) throw new GatewayError('ERR_VALIDATION', 'roleIds is not a list', { problems: ['roleIds must be a list of role ids'] });
    const problems: string[] = [];
    roleIds.forEach((id: unknown, index) => {
      if (typeof id === 'string' && config.roles.has(id)) return;
      problems.push(typeof id === 'string' && QUOTABLE.test(id) ? `roleIds[${index}]: unknown role "${id}"` : `roleIds[${index}]: unknown role`);
    });
    if (problems.length > 0) throw new GatewayError('ERR_DIRECTORY_UNKNOWN_ROLE', problems.join('; '), { problems });
    return sortedUnique(roleIds);
  }

  return Object.freeze({
    putTenant: (tenantId: string): Promise<TenantRecord> => store.putTenant(checkId(tenantId, 'tenantId'), clock.now()),
    getTenant: (tenantId: string) => store.getTenant(tenantId),
    listTenants: () => store.listTenants(),
    async deleteTenant(tenantId: string): Promise<boolean> {
      const deleted = await store.deleteTenant(tenantId, clock.now());
      if (deleted) notify({ kind: 'tenant', tenantId });
      return deleted;
    },
    async putMembership(tenantId: string, userId: string, roleIds?: readonly string[]): Promise<MembershipRecord> {
      checkId(tenantId, 'tenantId');
      checkId(userId, 'userId');
      const ids = checkRoleIds(roleIds ?? config.defaultRoleIds);
      const record = await store.putMembership(tenantId, userId, ids, clock.now());
      notify({ kind: 'membership', tenantId, userId });
      return record;
    },
    getMembership: (tenantId: string, userId: string) => store.getMembership(tenantId, userId),
    listMemberships: (tenantId: string) => store.listMemberships(tenantId),
    async deleteMembership(tenantId: string, userId: string): Promise<boolean> {
      const deleted = await store.deleteMembership(tenantId, userId);
      if (deleted) notify({ kind: 'membership', tenantId, userId });
      return deleted;
    },
    grants(roleIds: readonly string[] | null, permissionIds: readonly string[] | null): { roles: string[]; permissions: string[] } {
      const roles: string[] = [];
      const permissions: string[] = [...(permissionIds ?? [])];
      for (const id of roleIds ?? []) {
        const role = config.roles.get(id);
        if (role === undefined) continue;
        roles.push(role.key);
        permissions.push(...role.permissions);
      }
      return { roles: sortedUnique(roles), permissions: sortedUnique(permissions) };
    },
    checkRoleIds,
    reconfigure(next: CompiledDirectory): void {
      config = next;
      notify({ kind: 'roles' });
    },
    onChange(listener: (change: DirectoryChange) => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  });
}
