/**
 * Every failure the gateway reports has one stable `ERR_*` code. The code is the error's
 * identity: tests assert on it, clients may branch on it, and it is the `reason` label of the
 * auth-decision metric, so the set is small and fixed. Messages are constant per code, so a
 * response body never echoes attacker input, a token or an internal detail.
 */
export const ERRORS = {
  // Credential extraction (SPEC §5 "Extract"; RFC 6750 §2-§3).
  ERR_AUTH_MISSING: { status: 401, message: 'Authentication required' },
  ERR_AUTH_AMBIGUOUS: { status: 400, message: 'Exactly one credential header is allowed' },
  ERR_AUTH_MALFORMED: { status: 401, message: 'Invalid token' },
  ERR_AUTH_TOO_LARGE: { status: 401, message: 'Invalid token' },
  // Verification (SPEC §5 "Authenticate"; RFC 8725).
  ERR_AUTH_ALGORITHM: { status: 401, message: 'Invalid token' },
  ERR_AUTH_KID_UNKNOWN: { status: 401, message: 'Invalid token' },
  ERR_AUTH_SIGNATURE: { status: 401, message: 'Invalid token' },
  ERR_AUTH_EXPIRED: { status: 401, message: 'Invalid token' },
  ERR_AUTH_NOT_YET_VALID: { status: 401, message: 'Invalid token' },
  ERR_AUTH_CLAIMS: { status: 401, message: 'Invalid token' },
  ERR_AUTH_TOKEN_TYPE: { status: 401, message: 'Invalid token' },
  ERR_AUTH_REVOKED: { status: 401, message: 'Invalid token' },
  ERR_AUTH_KEYS_UNAVAILABLE: { status: 503, message: 'Signing keys are unavailable' },
  // Authorization (RFC 6750 §3.1 insufficient_scope).
  ERR_AUTH_FORBIDDEN: { status: 403, message: 'Insufficient scope' },
  // Request shape.
  ERR_ROUTE_NOT_FOUND: { status: 404, message: 'No route matches the request' },
  ERR_REQUEST_INVALID: { status: 400, message: 'Invalid request' },
  ERR_REQUEST_TOO_LARGE: { status: 413, message: 'Request body too large' },
  ERR_REQUEST_HEADERS_TOO_LARGE: { status: 431, message: 'Too many request headers' },
  ERR_ORIGIN_FORBIDDEN: { status: 403, message: 'Origin not allowed' },
  // Upstream (SPEC §5 "Forward").
  ERR_UPSTREAM_UNAVAILABLE: { status: 502, message: 'Upstream unavailable' },
  ERR_UPSTREAM_TIMEOUT: { status: 504, message: 'Upstream timed out' },
  // Token service (SPEC §4; RFC 6749 §5.2 names in comments).
  ERR_TOKEN_INVALID_CLIENT: { status: 401, message: 'Invalid client credentials' }, // invalid_client
  ERR_TOKEN_INVALID_GRANT: { status: 400, message: 'Invalid grant' }, // invalid_grant
  ERR_TOKEN_INVALID_REQUEST: { status: 400, message: 'Invalid request' }, // invalid_request
  ERR_TOKEN_UNSUPPORTED_GRANT: { status: 400, message: 'Unsupported grant type' }, // unsupported_grant_type
  ERR_TOKEN_INVALID_SCOPE: { status: 400, message: 'Invalid scope' }, // invalid_scope
  ERR_TOKEN_RATE_LIMITED: { status: 429, message: 'Too many requests' },
  // Frontegg's exact wording, which its SDKs match on.
  ERR_TOKEN_KIND_DISABLED: { status: 403, message: 'Api tokens are disabled' },
  ERR_VENDOR_UNAUTHORIZED: { status: 401, message: 'Unauthorized' },
  ERR_NOT_FOUND: { status: 404, message: 'Not found' },
  ERR_VALIDATION: { status: 400, message: 'Invalid request body' },
  ERR_DIRECTORY_UNKNOWN_ROLE: { status: 400, message: 'Unknown role' },
  // Token store (src/store): details name keys, never a hash or a secret.
  ERR_STORE_CONFLICT: { status: 409, message: 'Record already exists' },
  ERR_STORE_REFERENCE: { status: 500, message: 'Record refers to an unknown record' },
  ERR_STORE_INVALID: { status: 500, message: 'Invalid store argument' },
  ERR_STORE_NOT_MIGRATED: { status: 503, message: 'Store schema is not migrated' },
  // Written by a newer or diverging build: refusing beats guessing.
  ERR_STORE_SCHEMA: { status: 503, message: 'Store schema is not compatible with this build' },
  ERR_STORE_CLOSED: { status: 503, message: 'Store is closed' },
  // Busy beyond its timeout, unreadable or failing: fail closed (security case 51).
  ERR_STORE_UNAVAILABLE: { status: 503, message: 'Store unavailable' },
  // Process.
  ERR_INTERNAL: { status: 500, message: 'Internal error' },
  // Start-up only: never sent to a client.
  ERR_CONFIG_INVALID: { status: 500, message: 'Invalid configuration' },
  // Signing keys (SPEC §3 "Signing"): start-up and the token service, never a proxy decision.
  ERR_KEYS_ENCRYPTION_KEY_INVALID: { status: 500, message: 'Invalid key-encryption key' },
  ERR_KEYS_DECRYPT_FAILED: { status: 500, message: 'Signing key cannot be decrypted' },
  ERR_KEYS_RECORD_INVALID: { status: 500, message: 'Stored signing key is invalid' },
  ERR_KEYS_NOT_LOADED: { status: 503, message: 'Signing keys are unavailable' },
  ERR_KEYS_NO_RSA_KEY: { status: 404, message: 'No RSA signing key is published' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** The one error class of the gateway. `detail` is for logs only and never reaches a client. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly detail: string | undefined;
  /**
   * Client-facing problem lines replacing the constant message (ERR_VALIDATION: which field is
   * wrong and why). Built from our own words and field names only, never from input values.
   */
  readonly problems: readonly string[] | undefined;
  /** Seconds for `Retry-After` (ERR_TOKEN_RATE_LIMITED). */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    code: ErrorCode,
    detail?: string,
    options?: { cause?: unknown; problems?: readonly string[]; retryAfterSeconds?: number },
  ) {
    super(ERRORS[code].message, options);
    this.name = 'GatewayError';
    this.code = code;
    this.statusCode = ERRORS[code].status;
    this.detail = detail;
    this.problems = options?.problems;
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
}

export function isGatewayError(err: unknown): err is GatewayError {
  return err instanceof GatewayError;
}

/** Raised at start-up with every configuration problem at once, each with its path. */
export class ConfigError extends GatewayError {
  declare readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super('ERR_CONFIG_INVALID', problems.join('\n'), { problems });
    this.name = 'ConfigError';
  }
}

/** The JSON body sent to clients for an error: constant per code, never a stack trace. */
export function errorBody(err: GatewayError): string {
  return JSON.stringify({ errors: err.problems ?? [err.message], code: err.code });
}

/**
 * The `WWW-Authenticate` challenge for a 401 or 403 (RFC 6750 §3). A request with no credential
 * gets the bare challenge (§3.1: no error code when the client sent no authentication).
 */
export function challenge(err: GatewayError, realm: string): string | undefined {
  if (err.code === 'ERR_AUTH_MISSING') return `Bearer realm="${realm}"`;
  if (err.statusCode === 401) return `Bearer realm="${realm}", error="invalid_token"`;
  if (err.code === 'ERR_AUTH_FORBIDDEN') return `Bearer realm="${realm}", error="insufficient_scope"`;
  if (err.code === 'ERR_AUTH_AMBIGUOUS') return `Bearer realm="${realm}", error="invalid_request"`;
  return undefined;
}
