import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import t from 'tap';
import { createSecretHasher, generateId, generateSecret, loadSecretKey, SECRET_KEY_FILE } from '../../../src/tokens/secrets.js';
import { createLogSink } from '../../helpers/log-sink.js';

t.test('hash is HMAC-SHA-256 base64url, stable per key and different across keys', async (t) => {
  const key = randomBytes(32);
  const a = createSecretHasher(key);
  t.match(a.hash('s'), /^[A-Za-z0-9_-]{43}$/);
  t.equal(a.hash('s'), createSecretHasher(key).hash('s'), 'same key, same hash');
  t.not(a.hash('s'), createSecretHasher(randomBytes(32)).hash('s'), 'another key, another hash');
  t.throws(() => createSecretHasher(randomBytes(31)), RangeError, 'a short key is refused');
});

t.test('verify answers true only for the right secret', async (t) => {
  const hasher = createSecretHasher(randomBytes(32));
  const secret = generateSecret();
  const stored = hasher.hash(secret);
  const cases: Array<[string, string, string | undefined, boolean]> = [
    ['the right secret', secret, stored, true],
    ['a wrong secret', generateSecret(), stored, false],
    ['an unknown client (dummy digest)', secret, undefined, false],
    ['a malformed stored hash', secret, 'short', false],
    ['an empty secret', '', stored, false],
  ];
  for (const [name, value, expected, result] of cases) t.equal(hasher.verify(value, expected), result, name);
});

t.test('secrets are 256-bit base64url, ids are UUIDs, all fresh', async (t) => {
  const secrets = new Set(Array.from({ length: 100 }, generateSecret));
  t.equal(secrets.size, 100);
  for (const s of secrets) t.equal(Buffer.from(s, 'base64url').length, 32);
  t.match(generateId(), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

t.test('loadSecretKey: a configured value, or a generated 0600 file reused on restart', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'm2m-secret-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const sink = createLogSink();
  const log = pino(sink.stream);
  const value = 'k'.repeat(31) + 'x';
  t.same(await loadSecretKey({ value, dataDir: dir }, { log }), Buffer.from(value), 'configured value as UTF-8 bytes');
  for (const bad of ['short', 'a'.repeat(40)]) {
    await t.rejects(loadSecretKey({ value: bad, dataDir: dir }, { log }), { code: 'ERR_CONFIG_INVALID' }, `refused: ${bad.length} chars`);
  }
  const generated = await loadSecretKey({ dataDir: dir }, { log });
  t.equal(generated.length, 32);
  t.equal((await stat(join(dir, SECRET_KEY_FILE))).mode & 0o777, 0o600, 'file is 0600');
  t.match(sink.lines().join('\n'), /generated the secret-hash key/, 'a warning is logged');
  t.notMatch(sink.lines().join('\n'), generated.toString('base64url'), 'the key is not logged');
  t.same(await loadSecretKey({ dataDir: dir }, { log }), generated, 'the same key on restart');
  t.match(await readFile(join(dir, SECRET_KEY_FILE), 'utf8'), generated.toString('base64url'));
});
