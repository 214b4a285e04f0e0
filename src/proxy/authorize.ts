import type { Identity } from '../auth/identity.js';
import type { CompiledAuthRequirement } from '../config/types.js';
import { GatewayError } from '../errors.js';

const WILDCARD = 0x2a; // '*'

/**
 * Checks a verified identity against a route's requirement (SPEC §5 "Authorize"). Returns the
 * `ERR_AUTH_FORBIDDEN` error (403 `insufficient_scope`, RFC 6750 §3.1) for the first unmet
 * condition, or undefined when all are met. Absent conditions are met.
 *
 * `tokenTypes` is the route's allow-list; whether a token arrived in the header its type demands
 * is the authenticator's check (401), not this one. Permissions match with prefix wildcards both
 * ways: a granted `fe.secure.*` covers a required `fe.secure.read.users` (Frontegg's convention),
 * and a required `fe.secure.*` is met by any granted permission under `fe.secure.`.
 */
export function authorize(req: CompiledAuthRequirement, identity: Identity): GatewayError | undefined {
  if (!req.tokenTypes.has(identity.tokenType)) return forbidden('token type not allowed on route');
  if (req.issuers !== undefined && !req.issuers.has(identity.issuer)) return forbidden('issuer not allowed on route');
  if (req.tenants !== undefined && !req.tenants.has(identity.tenantId)) return forbidden('tenant not allowed on route');
  // Plain loops rather than `some`/`every` with closures: this runs on every authenticated request.
  if (req.anyRole !== undefined && !hasAny(req.anyRole, identity.roles, isMember)) return forbidden('none of the roles');
  if (req.allRoles !== undefined && !hasAll(req.allRoles, identity.roles, isMember)) return forbidden('missing a role');
  if (req.anyPermission !== undefined && !hasAny(req.anyPermission, identity.permissions, isGranted)) {
    return forbidden('none of the permissions');
  }
  if (req.allPermissions !== undefined && !hasAll(req.allPermissions, identity.permissions, isGranted)) {
    return forbidden('missing a permission');
  }
  return undefined;
}

type Covers = (required: string, granted: readonly string[]) => boolean;

function hasAny(required: readonly string[], granted: readonly string[], covers: Covers): boolean {
  for (let i = 0; i < required.length; i++) if (covers(required[i]!, granted)) return true;
  return false;
}

function hasAll(required: readonly string[], granted: readonly string[], covers: Covers): boolean {
  for (let i = 0; i < required.length; i++) if (!covers(required[i]!, granted)) return false;
  return true;
}

function isMember(required: string, granted: readonly string[]): boolean {
  return granted.includes(required);
}

/** True when one of `granted` covers `required` (exactly, or by a wildcard on either side). */
function isGranted(required: string, granted: readonly string[]): boolean {
  const requiredIsWildcard = endsWithWildcard(required);
  for (let i = 0; i < granted.length; i++) {
    const g = granted[i]!;
    if (g === required) return true;
    if (endsWithWildcard(g) && hasStem(required, g)) return true;
    if (requiredIsWildcard && hasStem(g, required)) return true;
  }
  return false;
}

function endsWithWildcard(permission: string): boolean {
  return permission.charCodeAt(permission.length - 1) === WILDCARD;
}

/** `value` starts with `wildcard` minus its trailing `*`; compared in place to avoid a slice per check. */
function hasStem(value: string, wildcard: string): boolean {
  const stem = wildcard.length - 1;
  if (value.length < stem) return false;
  for (let i = 0; i < stem; i++) {
    if (value.charCodeAt(i) !== wildcard.charCodeAt(i)) return false;
  }
  return true;
}

function forbidden(detail: string): GatewayError {
  return new GatewayError('ERR_AUTH_FORBIDDEN', detail);
}
