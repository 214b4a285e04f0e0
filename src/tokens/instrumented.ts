import { isGatewayError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { TokenService } from './types.js';

/** What `m2m_gateway_tokens_issued_total` counts: a fixed set. */
export type IssuedKind = 'jwt' | 'refreshToken' | 'userApiToken' | 'tenantApiToken' | 'userAccessToken' | 'tenantAccessToken';

/** An outcome label: `ok`, a catalog code (a fixed set), or `error` for anything unexpected. */
function resultOf(err: unknown): string {
  return isGatewayError(err) ? err.code : 'error';
}

/**
 * The same service, counted: credentials created by kind, and every exchange and refresh by
 * result into `m2m_gateway_token_exchanges_total`, with the JWTs and refresh tokens they issued.
 */
export function instrumentTokenService(service: TokenService, metrics: Pick<Metrics, 'tokensIssued' | 'exchanges'>): TokenService {
  const issued = (kind: IssuedKind) => metrics.tokensIssued.inc({ kind });

  async function counted<T>(kind: IssuedKind, task: Promise<T>): Promise<T> {
    const value = await task;
    issued(kind);
    return value;
  }

  async function grant(name: 'client_credentials' | 'refresh_token', task: Promise<Awaited<ReturnType<TokenService['exchange']>>>) {
    try {
      const tokens = await task;
      metrics.exchanges.inc({ grant: name, result: 'ok' });
      issued('jwt');
      if (tokens.refreshToken !== undefined) issued('refreshToken');
      return tokens;
    } catch (err) {
      metrics.exchanges.inc({ grant: name, result: resultOf(err) });
      throw err;
    }
  }

  return Object.freeze({
    ...service,
    createUserApiToken: (scope, input) => counted('userApiToken', service.createUserApiToken(scope, input)),
    createTenantApiToken: (scope, input) => counted('tenantApiToken', service.createTenantApiToken(scope, input)),
    createUserAccessToken: (scope, input) => counted('userAccessToken', service.createUserAccessToken(scope, input)),
    createTenantAccessToken: (scope, input) => counted('tenantAccessToken', service.createTenantAccessToken(scope, input)),
    exchange: (credentials, caller) => grant('client_credentials', service.exchange(credentials, caller)),
    refresh: (input, caller) => grant('refresh_token', service.refresh(input, caller)),
  } satisfies TokenService);
}
