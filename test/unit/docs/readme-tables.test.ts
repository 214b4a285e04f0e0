/**
 * The README's tables of what clients and upstreams see, held to the source: every error code the
 * gateway can raise is in "Errors clients receive" under its real status, and every identity
 * header it injects is in "Headers the upstream receives".
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { DEFAULTS } from '../../../src/config/defaults.js';
import { ERRORS, type ErrorCode } from '../../../src/errors.js';

const README = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

function section(heading: string): string {
  const start = README.indexOf(`\n${heading}\n`);
  if (start < 0) return '';
  const rest = README.slice(start + heading.length + 2);
  const end = rest.search(/^#{1,3} /m);
  return end < 0 ? rest : rest.slice(0, end);
}

const isCode = (code: string): code is ErrorCode => Object.hasOwn(ERRORS, code);

/** Every `'ERR_…'` of ours that a file under src/ raises or names. */
function codesUsedInSrc(): Set<ErrorCode> {
  const src = new URL('../../../src/', import.meta.url).pathname;
  const used = new Set<ErrorCode>();
  for (const file of readdirSync(src, { recursive: true, encoding: 'utf8' })) {
    if (!file.endsWith('.ts') || file === 'errors.ts') continue;
    for (const [, code] of readFileSync(join(src, file), 'utf8').matchAll(/'(ERR_[A-Z_]+)'/g)) if (isCode(code!)) used.add(code);
  }
  return used;
}

t.test('every error code the gateway raises is in the README, under its status', async (t) => {
  const errors = section('### Errors clients receive');
  const documented = new Set([...errors.matchAll(/`(ERR_[A-Z_]+)`/g)].map((m) => m[1]!));
  const used = codesUsedInSrc();
  t.ok(used.size > 30, 'codes were found in src/');
  for (const code of used) t.ok(documented.has(code), `${code} is in "Errors clients receive"`);
  for (const code of documented) t.ok(isCode(code), `${code}, in the README, is a code of src/errors.ts`);
  for (const row of errors.matchAll(/^\| (\d{3}) \|(.*)$/gm)) {
    // Only the codes the row is about: those before any parenthesised remark of theirs.
    const codes = [...row[2]!.replace(/\([^)]*\)/g, '').matchAll(/`(ERR_[A-Z_]+)`/g)].map((m) => m[1]!);
    for (const code of codes) if (isCode(code)) t.equal(ERRORS[code].status, Number(row[1]), `${code} is listed under ${row[1]}`);
  }
});

t.test('every identity header the gateway injects is in the README', async (t) => {
  const headers = section('### Headers the upstream receives');
  for (const [key, name] of Object.entries(DEFAULTS.identityHeaders.names)) t.match(headers, `| \`${name}\` |`, `${key}: ${name}`);
});
