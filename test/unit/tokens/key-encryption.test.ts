import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { pino } from 'pino';
import { createKeyEncryption, decodeKeyEncryptionKey, KEY_ENCRYPTION_KEY_FILE, loadKeyEncryptionKey } from '../../../src/tokens/key-encryption.js';
import { createLogSink, leakedSecrets } from '../../helpers/log-sink.js';

async function tempDir(t: { teardown(fn: () => unknown): void }) {
  const dir = await mkdtemp(join(tmpdir(), 'm2m-kek-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function captured() {
  const logs = createLogSink();
  return { logs, log: pino({ level: 'debug' }, logs.stream) };
}

/** Every spelling of one key a secret manager might hand us. */
function spellings(key: Buffer): string[] {
  return [key.toString('hex'), key.toString('base64'), key.toString('base64url'), key.toString('base64').replace(/=+$/, '')];
}

t.test('seal and open round-trip any text, bound to its AAD', async (t) => {
  const enc = createKeyEncryption(randomBytes(32));
  const cases = [
    ['an empty string', ''],
    ['ASCII', 'hello'],
    ['non-ASCII text', 'clé privée ✓ 鍵'],
    ['a PEM-sized text', `-----BEGIN PRIVATE KEY-----\n${'A'.repeat(1600)}\n-----END PRIVATE KEY-----\n`],
  ] as const;
  for (const [name, plaintext] of cases) {
    const envelope = enc.seal(plaintext, 'kid-1');
    t.match(envelope, /^v1\.[A-Za-z0-9_-]+$/, `${name}: a versioned base64url envelope`);
    t.notOk(plaintext !== '' && envelope.includes(plaintext), `${name}: no plaintext in the envelope`);
    t.equal(enc.open(envelope, 'kid-1'), plaintext, `${name}: opens to the same text`);
  }
  t.not(enc.seal('same', 'kid'), enc.seal('same', 'kid'), 'a fresh IV per seal: equal plaintexts give different envelopes');
});

t.test('an envelope that is not exactly what was sealed, or under another key or AAD, does not open', async (t) => {
  const key = randomBytes(32);
  const enc = createKeyEncryption(key);
  const envelope = enc.seal('private key material', 'kid-1');
  const bytes = Buffer.from(envelope.slice(3), 'base64url');
  const flip = (index: number) => {
    const copy = Buffer.from(bytes);
    copy[index] = copy[index]! ^ 0x01;
    return `v1.${copy.toString('base64url')}`;
  };
  const cases: Array<[string, () => string]> = [
    ['another key-encryption key', () => createKeyEncryption(randomBytes(32)).open(envelope, 'kid-1')],
    ['another kid as AAD (the envelope moved to another record)', () => enc.open(envelope, 'kid-2')],
    ['a flipped IV bit', () => enc.open(flip(0), 'kid-1')],
    ['a flipped ciphertext bit', () => enc.open(flip(14), 'kid-1')],
    ['a flipped tag bit', () => enc.open(flip(bytes.length - 1), 'kid-1')],
    ['a truncated envelope', () => enc.open(`v1.${bytes.subarray(0, 20).toString('base64url')}`, 'kid-1')],
    ['an unknown version', () => enc.open(`v2.${envelope.slice(3)}`, 'kid-1')],
    ['no version', () => enc.open(envelope.slice(3), 'kid-1')],
    ['characters outside base64url', () => enc.open(`v1.${bytes.toString('base64')}+/`, 'kid-1')],
    ['an empty string', () => enc.open('', 'kid-1')],
  ];
  for (const [name, open] of cases) t.throws(open, { code: 'ERR_KEYS_DECRYPT_FAILED' }, name);
});

t.test('a key-encryption key that is not 32 random-looking bytes is refused', async (t) => {
  const cases: Array<[string, Buffer]> = [
    ['31 bytes', randomBytes(31)],
    ['33 bytes', randomBytes(33)],
    ['no bytes', Buffer.alloc(0)],
    ['32 zero bytes', Buffer.alloc(32)],
    ['32 equal bytes', Buffer.alloc(32, 0x41)],
  ];
  for (const [name, key] of cases) t.throws(() => createKeyEncryption(key), { code: 'ERR_KEYS_ENCRYPTION_KEY_INVALID' }, name);
});

t.test('a configured key decodes from hex, base64 or base64url, to exactly 32 bytes', async (t) => {
  const key = randomBytes(32);
  for (const text of [...spellings(key), `  ${key.toString('base64')}\n`]) {
    t.same(decodeKeyEncryptionKey(text, 'test'), key, `accepted: ${JSON.stringify(text.slice(0, 6))}…`);
  }
  const short = randomBytes(31);
  const long = randomBytes(33);
  const canonical = key.toString('base64url');
  // The last of 43 characters carries 4 bits of the key and 2 padding bits that must be zero.
  const last = canonical.at(-1)!;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const nonCanonical = canonical.slice(0, -1) + alphabet[alphabet.indexOf(last) ^ 0x01]!;
  const cases: Array<[string, string]> = [
    ['31 bytes in base64', short.toString('base64')],
    ['31 bytes in base64url', short.toString('base64url')],
    ['31 bytes in hex', short.toString('hex')],
    ['33 bytes in base64', long.toString('base64')],
    ['not base64 at all', 'this is not a key!'],
    ['a passphrase', 'correct horse battery staple'],
    ['base64 and base64url alphabets mixed', `${canonical.slice(0, 41)}+_`],
    ['stray bits in the last character', nonCanonical],
    ['wrong padding', `${key.toString('base64')}=`],
    ['empty', ''],
    ['blank', '   '],
    ['32 zero bytes', Buffer.alloc(32).toString('hex')],
  ];
  for (const [name, text] of cases) t.throws(() => decodeKeyEncryptionKey(text, 'test'), { code: 'ERR_KEYS_ENCRYPTION_KEY_INVALID' }, name);
});

t.test('a configured key is used as given and never touches the data directory', async (t) => {
  const dir = await tempDir(t);
  const key = randomBytes(32);
  const { logs, log } = captured();
  t.same(await loadKeyEncryptionKey({ value: key.toString('base64'), dataDir: dir }, { log }), key);
  t.same(await readdir(dir), [], 'no key file written');
  t.same(logs.lines(), [], 'nothing logged');
});

t.test('an invalid configured key stops start-up; no key is generated in its place', async (t) => {
  const dir = await tempDir(t);
  const { logs, log } = captured();
  const cases: Array<[string, string]> = [
    ['31 bytes', randomBytes(31).toString('base64')],
    ['not base64', 'not-a-key!'],
    ['set but empty', ''],
  ];
  for (const [name, value] of cases) {
    await t.rejects(loadKeyEncryptionKey({ value, dataDir: dir }, { log }), { code: 'ERR_KEYS_ENCRYPTION_KEY_INVALID' }, name);
  }
  const named = await loadKeyEncryptionKey({ value: 'nope', valueSource: 'keys.encryptionKey', dataDir: dir }, { log }).catch((err: unknown) => err);
  t.match(named, { code: 'ERR_KEYS_ENCRYPTION_KEY_INVALID', detail: /^keys\.encryptionKey: / }, 'the error names where the value came from');
  t.same(await readdir(dir), [], 'no key file written');
  t.same(logs.lines(), []);
});

t.test('with no configured key, one is generated into the data directory (0600 in 0700) with a warning', async (t) => {
  const dir = join(await tempDir(t), 'data');
  const { logs, log } = captured();
  const key = await loadKeyEncryptionKey({ dataDir: dir }, { log });
  t.equal(key.length, 32);
  const file = join(dir, KEY_ENCRYPTION_KEY_FILE);
  t.equal((await stat(file)).mode & 0o777, 0o600, 'key file mode 0600');
  t.equal((await stat(dir)).mode & 0o777, 0o700, 'created directory mode 0700');
  t.same(decodeKeyEncryptionKey(await readFile(file, 'utf8'), file), key, 'the file holds the key');
  t.same(await readdir(dir), [KEY_ENCRYPTION_KEY_FILE], 'no temporary file left behind');

  const warnings = logs.entries().filter((e) => e.level === 40); // pino's warn
  t.equal(warnings.length, 1, 'one warning');
  t.match(warnings[0]!.msg, /back(ed)? up with the store/);
  t.same(leakedSecrets(logs.lines(), spellings(key)), [], 'the key itself is never logged');

  const again = captured();
  t.same(await loadKeyEncryptionKey({ dataDir: dir }, { log: again.log }), key, 'the next start reads the same key');
  t.same(again.logs.lines(), [], 'and warns no more');
});

t.test('processes starting together on one data directory agree on one generated key', async (t) => {
  const dir = await tempDir(t);
  const { log } = captured();
  const keys = await Promise.all(Array.from({ length: 8 }, () => loadKeyEncryptionKey({ dataDir: dir }, { log })));
  for (const key of keys) t.same(key, keys[0]);
  t.same(await readdir(dir), [KEY_ENCRYPTION_KEY_FILE]);
});

t.test('a key file that is there but unusable is an error, never replaced', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, KEY_ENCRYPTION_KEY_FILE);
  const { log } = captured();
  for (const [name, content] of [
    ['31 bytes', randomBytes(31).toString('base64url')],
    ['garbage', 'garbage'],
    ['empty', ''],
  ] as const) {
    await writeFile(file, content, { mode: 0o600 });
    await t.rejects(loadKeyEncryptionKey({ dataDir: dir }, { log }), { code: 'ERR_KEYS_ENCRYPTION_KEY_INVALID' }, name);
    t.equal(await readFile(file, 'utf8'), content, `${name}: file untouched`);
  }
});

t.test('a mounted key file readable by others is used, with a warning', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, KEY_ENCRYPTION_KEY_FILE);
  const key = randomBytes(32);
  await writeFile(file, `${key.toString('hex')}\n`);
  await chmod(file, 0o644);
  const { logs, log } = captured();
  t.same(await loadKeyEncryptionKey({ dataDir: dir }, { log }), key);
  t.match(logs.entries(), [{ level: 40, mode: '644' }], 'one warning naming the mode');
  t.same(leakedSecrets(logs.lines(), spellings(key)), []);
});
