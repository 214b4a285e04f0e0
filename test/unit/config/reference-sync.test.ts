import { readFileSync } from 'node:fs';
import t from 'tap';
import { configKeys, configReference, defaultKeyPaths } from '../../../src/config/reference.js';

t.test('docs/configuration.md is the reference generated from the schema and the defaults', async (t) => {
  const published = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
  t.ok(published === configReference(), 'docs/configuration.md is stale: run `npm run docs:config` and commit the result');
});

t.test('every default the gateway fills in is shown at its key', async (t) => {
  const keys = new Map(configKeys().map((row) => [row.path, row]));
  for (const path of defaultKeyPaths()) {
    t.ok(keys.has(path), `${path} (in DEFAULTS) is a configuration key`);
    t.not(keys.get(path)?.default ?? '', '', `${path} shows its default`);
  }
});

t.test("a description's `(default …)` agrees with the default the gateway uses", async (t) => {
  for (const row of configKeys()) {
    const stated = /\(default:? ([^ ,;:)]+)/.exec(row.description)?.[1];
    // A default shown as a plain value; one derived from another key (`<dataDir>/…`) is stated in words.
    const used = /^`([^`<]+)`$/.exec(row.default)?.[1];
    if (stated === undefined || used === undefined) continue;
    t.equal(stated.replace(/\.$/, ''), used, `${row.path}: the description says ${stated}, the default is ${used}`);
  }
});
