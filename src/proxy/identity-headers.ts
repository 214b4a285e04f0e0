import type { Identity } from '../auth/identity.js';
import type { CompiledIdentityHeaders } from '../config/types.js';
import { ConfigError, GatewayError } from '../errors.js';

/** Builds the identity headers for the upstream; throws `ERR_AUTH_CLAIMS` rather than send a bad value. */
export type IdentityHeaderBuilder = (identity: Identity) => Readonly<Record<string, string>>;

/**
 * Builds the identity headers the upstream trusts (SPEC §5 "Inject"): user id (not for tenant
 * tokens), tenant id, roles, permissions (comma-joined, or a JSON array when `arrayFormat` is
 * `json`), token type, token id, subject.
 *
 * Every value must be printable ASCII (0x20-0x7E) with no space at either end. The authenticator
 * already refuses other claims; this is defence in depth, so a CR/LF, NUL, tab or non-ASCII byte
 * can never split a header or be re-encoded differently by the upstream, and a value the
 * upstream's parser would trim (" admin" read as "admin") is never sent (case 23; RFC 9110 §5.5). In `csv` form a role or
 * permission containing `,` (or empty) is refused too: the list would read back differently.
 *
 * An identity is immutable and cached by the authenticator, so the headers are built once per
 * identity object and remembered in a `WeakMap`: a cached token costs no string building.
 */
export function createIdentityHeaderBuilder(cfg: CompiledIdentityHeaders): IdentityHeaderBuilder {
  const { names } = cfg;
  // Header names are validated HTTP tokens, and `__proto__` is one; on a plain object it would be
  // a setter, not a header, so the misconfiguration is refused at start.
  const bad = Object.entries(names).filter(([, name]) => name === '__proto__');
  if (bad.length > 0) throw new ConfigError(bad.map(([key]) => `identityHeaders.names.${key}: "__proto__" cannot be a header name`));
  const json = cfg.arrayFormat === 'json';
  const built = new WeakMap<Identity, Readonly<Record<string, string>>>();

  function list(values: readonly string[]): string {
    for (const v of values) {
      checkValue(v);
      if (!json && (v === '' || v.includes(','))) throw claims('list item not representable as csv');
    }
    return json ? JSON.stringify(values) : values.join(',');
  }

  return function identityHeaders(identity) {
    const cached = built.get(identity);
    if (cached !== undefined) return cached;
    // Built in the same order every time, so every identity's headers share one V8 shape and the
    // decider's `for…in` merge stays on the fast path.
    const headers: Record<string, string> = {};
    const isTenantToken = identity.tokenType === 'tenantApiToken' || identity.tokenType === 'tenantAccessToken';
    if (identity.userId !== undefined && !isTenantToken) headers[names.userId] = checkValue(identity.userId);
    headers[names.tenantId] = checkValue(identity.tenantId);
    headers[names.roles] = list(identity.roles);
    headers[names.permissions] = list(identity.permissions);
    headers[names.tokenType] = checkValue(identity.tokenType);
    headers[names.tokenId] = checkValue(identity.tokenId);
    headers[names.subject] = checkValue(identity.subject);
    const frozen = Object.freeze(headers);
    built.set(identity, frozen);
    return frozen;
  };
}

function checkValue(value: string): string {
  if (typeof value !== 'string') throw claims('identity value is not a string');
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) throw claims('identity value outside printable ASCII');
  }
  // A header parser trims surrounding whitespace: " admin" would arrive as "admin".
  if (value.startsWith(' ') || value.endsWith(' ')) throw claims('identity value with a space at either end');
  return value;
}

function claims(detail: string): GatewayError {
  return new GatewayError('ERR_AUTH_CLAIMS', detail);
}
