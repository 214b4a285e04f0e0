import { KEY_RELOAD_INTERVAL_SECONDS } from '../tokens/keys.js';

export const DEFAULT_CONFIG = 'config/gateway.yaml';

/** The config file every command reads: `--config`, else `M2M_CONFIG`, else the default. */
export function configPathOf(flag: string | undefined, env: Readonly<Record<string, string | undefined>>): string {
  return flag ?? env['M2M_CONFIG'] ?? DEFAULT_CONFIG;
}

export const USAGE = `Usage: m2m-gateway [command] [options]

Commands:
  serve [--config FILE]        run the gateway (default command); SIGHUP or a change of
                               FILE reloads it, SIGTERM drains and stops it
  check-config [FILE]          validate a config file and print every problem
  schema                       print the config JSON Schema

Credential commands: they open the store and signing keys of the configured token service
(what \`serve\` uses; SQLite only) and start no listener.
  tokens create --kind api|access --owner tenant|user --tenant ID [--user ID]
                [--description TEXT] [--expires-in-minutes N] [--role ID ...]
                [--permission ID ...] [--metadata JSON] [--created-by USER]
                               create a token and print its secret (api) or JWT (access);
                               it is shown this once and never again
  tokens list --kind api|access --owner tenant|user --tenant ID [--user ID]
                               live tokens, never their secrets
  tokens revoke --kind api|access --owner tenant|user --tenant ID [--user ID] TOKEN_ID
                               revoke a token (clientId or access-token id)
  tenants list
  tenants add TENANT
  tenants remove TENANT        also revokes every credential on the tenant
  members list --tenant ID
  members add --tenant ID --user ID [--role ID ...]
                               add or replace a membership (the default roles without --role)
  members remove --tenant ID --user ID
                               stops every token of that user on that tenant
  keys list                    signing keys: kid, alg, state, activatesAt, retiredAt, removeAfter
  keys rotate                  generate a signing key and retire the others

Options:
  -c, --config FILE            config file (default ${DEFAULT_CONFIG}; env M2M_CONFIG)
      --json                   credential commands: one JSON document on stdout
  -h, --help                   show this help

Token options: --user names the token's user (user tokens only; optional for list and revoke);
--role, --permission and --created-by are for tenant tokens (--role and --permission may repeat;
--permission is for api tokens, as is --metadata, a JSON object carried in the JWT).

Exit codes: 0 done; 1 the operation failed (the ERR_* code and what is wrong, on stderr);
2 usage error (unknown command or option, missing option).

Key rotation: the new key signs after tokenService.publishKeysAheadSeconds (default 0: at once).
A gateway serving the same store reads it within ${KEY_RELOAD_INTERVAL_SECONDS} s (at once for a token naming the new kid)
and signs with the old key until then; a retired key stays in the JWKS for the longest token
lifetime plus those ${KEY_RELOAD_INTERVAL_SECONDS} s, so every token it signed verifies until it expires.
`;
