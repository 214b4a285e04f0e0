import type { TokenType } from '../config/schema.js';

/**
 * Which header a credential arrived in: `X-API-KEY` (access tokens), `Authorization: Bearer`, or
 * `Authorization: Basic` with a client's id and secret, exchanged at the edge on routes that allow it.
 */
export type CredentialKind = 'apiKey' | 'bearer' | 'basic';

export interface Credential {
  readonly kind: CredentialKind;
  readonly token: string;
}

/**
 * Who a verified token speaks for. Built once per token from verified claims only, frozen, and
 * cached; everything injected upstream comes from here.
 */
export interface Identity {
  readonly tokenType: TokenType;
  /** Name of the configured issuer whose key verified the token. */
  readonly issuer: string;
  readonly subject: string;
  /** Access tokens: their id (`sub`); client-credentials JWTs: `jti`. */
  readonly tokenId: string;
  /** The user a user token acts for; undefined for tenant tokens. */
  readonly userId: string | undefined;
  readonly tenantId: string;
  readonly roles: readonly string[];
  readonly permissions: readonly string[];
  /** `exp` in milliseconds, or undefined for an access token that never expires. */
  readonly expiresAtMs: number | undefined;
  /** The `sid` claim: the refresh family of a client-credentials JWT of the token service (revocation, RFC 9700 §4.14.2). */
  readonly sessionId?: string;
}

/** The header kind each token type must arrive in (SPEC §3; Frontegg SDK behaviour). */
export const CREDENTIAL_KIND_OF: Readonly<Record<TokenType, CredentialKind>> = Object.freeze({
  userApiToken: 'bearer',
  tenantApiToken: 'bearer',
  userAccessToken: 'apiKey',
  tenantAccessToken: 'apiKey',
});
