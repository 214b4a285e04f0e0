import { ConfigSchema } from './schema.js';

/**
 * The configuration's JSON Schema as published in `config/schema.json` (for editors: the YAML
 * files point at it with a `yaml-language-server` comment). Generated from the TypeBox schema, the
 * one source of truth; `npm run schema` rewrites the file and a unit test fails when it is stale.
 */
export function configJsonSchema(): string {
  return `${JSON.stringify(ConfigSchema, null, 2)}\n`;
}
