import type { IncomingHttpHeaders } from 'node:http';
import type { CompiledRoute } from '../config/types.js';
import type { GatewayError } from '../errors.js';
import type { CredentialKind, Identity } from '../auth/identity.js';

/** What the decision needs to know of a request: plain data, so it can be tested without sockets. */
export interface RequestFacts {
  readonly method: string;
  /** `req.url` as received (origin-form expected). */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  readonly remoteAddress: string;
  /** True when the client connection is TLS. */
  readonly encrypted: boolean;
  /** The request id (already validated or generated); forwarded as `x-request-id`. */
  readonly requestId: string;
  /** True for an HTTP Upgrade (WebSocket) request. */
  readonly upgrade: boolean;
}

/** Headers to send upstream: lower-case names, no hop-by-hop, identity headers set by us only. */
export type OutgoingHeaders = Record<string, string | string[]>;

interface DecisionBase {
  /** The matched route, undefined when none matched. */
  readonly route: CompiledRoute | undefined;
  /** Which credential header was used, if any. */
  readonly credentialKind: CredentialKind | undefined;
  /** First 8 hex of SHA-256 of the presented token, for logs; never the token. */
  readonly tokenFingerprint: string | undefined;
}

export interface Allow extends DecisionBase {
  readonly allow: true;
  readonly route: CompiledRoute;
  /** Normalised path plus query, exactly what the upstream will receive. */
  readonly path: string;
  readonly headers: OutgoingHeaders;
  readonly identity: Identity | undefined;
}

export interface Deny extends DecisionBase {
  readonly allow: false;
  readonly error: GatewayError;
}

export type Decision = Allow | Deny;

export type Decide = (facts: RequestFacts) => Promise<Decision>;
