import { readFileSync } from 'node:fs';
import t from 'tap';
import { configJsonSchema } from '../../../src/config/json-schema.js';

t.test('config/schema.json is the schema generated from src/config/schema.ts', async (t) => {
  const published = readFileSync(new URL('../../../config/schema.json', import.meta.url), 'utf8');
  t.ok(published === configJsonSchema(), 'config/schema.json is stale: run `npm run schema` and commit the result');
});

t.test('the published schema is valid JSON describing a closed object', async (t) => {
  const schema = JSON.parse(configJsonSchema()) as { type: string; additionalProperties: boolean; required: string[] };
  t.equal(schema.type, 'object');
  t.equal(schema.additionalProperties, false);
  t.same(schema.required, ['routes']);
});
