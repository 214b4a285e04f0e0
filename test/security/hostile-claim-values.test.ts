/**
 * Security case 23: claims that become upstream headers must be printable ASCII (0x20-0x7E),
 * at most 1024 characters, with roles and permissions arrays of at most 256 strings. Anything else
 * is ERR_AUTH_CLAIMS: no header splitting, no crash. `__proto__` / `constructor` members are own
 * data of the parsed payload, never a prototype, and never a source of claims.
 */
import t from 'tap';
import { CREDENTIAL_KIND_OF } from '../../src/auth/identity.js';
import type { TokenType } from '../../src/config/schema.js';
import { createAuthHarness, tokensInLogs } from '../helpers/auth-harness.js';
import { mintToken, standardClaims } from '../helpers/tokens.js';

t.test('hostile values in identity claims', async (t) => {
  const h = await createAuthHarness(t, { auth: { maxTokenBytes: 65_536 } });
  const issuer = h.issuers[0]!;
  const mint = (type: TokenType, claims: Record<string, unknown>) => mintToken(issuer, { type, nowMs: h.clock.now(), claims });
  const hostile: Array<[string, unknown]> = [
    ['CR LF (header splitting)', 'x\r\nX-Auth-Roles: admin'],
    ['a bare LF', 'x\ny'],
    ['NUL', 'x\u0000y'],
    ['DEL', 'x\u007fy'],
    ['a tab', 'x\ty'],
    ['non-ASCII', 'josé'],
    ['an emoji', 'user-😀'],
    ['a zero-width space', 'ad\u200bmin'],
    ['1025 characters', 'a'.repeat(1025)],
    ['a number', 42],
    ['an object', { id: 'x' }],
    ['an array', ['x']],
  ];
  const fields: Array<[string, TokenType]> = [
    ['sub', 'userApiToken'],
    ['tenantId', 'tenantApiToken'],
    ['jti', 'userApiToken'],
    ['userId', 'userAccessToken'],
    ['userId', 'userApiToken'],
  ];
  const tokens: string[] = [];
  for (const [field, type] of fields) {
    for (const [name, value] of hostile) {
      const token = await mint(type, { [field]: value });
      tokens.push(token);
      t.equal(await h.outcome(CREDENTIAL_KIND_OF[type], token), 'ERR_AUTH_CLAIMS', `${type} ${field}: ${name}`);
    }
  }
  t.equal(await h.outcome('bearer', await mint('userApiToken', { sub: 'a'.repeat(1024) })), 'OK', '1024 characters is the limit');
  t.equal(await h.outcome('bearer', await mint('userApiToken', { sub: ' !"#$%&\'()*+,-./~' })), 'OK', 'printable punctuation is fine');

  const lists: Array<[string, unknown]> = [
    ['a string instead of an array', 'admin'],
    ['an object instead of an array', { admin: true }],
    ['null', null],
    ['an entry with CR LF', ['reader', 'x\r\nadmin']],
    ['an entry with a comma-free non-ASCII char', ['rôle']],
    ['a non-string entry', ['reader', 1]],
    ['a nested array', [['admin']]],
    ['an empty entry', ['']],
    ['257 entries', Array.from({ length: 257 }, (_, i) => `r${i}`)],
    ['an entry over 1024 characters', ['r'.repeat(1025)]],
  ];
  for (const field of ['roles', 'permissions']) {
    for (const [name, value] of lists) {
      t.equal(await h.outcome('bearer', await mint('userApiToken', { [field]: value })), 'ERR_AUTH_CLAIMS', `${field}: ${name}`);
    }
  }
  t.equal(await h.outcome('bearer', await mint('userApiToken', { roles: Array.from({ length: 256 }, (_, i) => `r${i}`) })), 'OK', '256 roles is the limit');
  t.same(tokensInLogs(h.logs, tokens), []);
});

t.test('__proto__ and constructor members pollute nothing and supply no claim', async (t) => {
  const h = await createAuthHarness(t);
  const issuer = h.issuers[0]!;
  const header = JSON.stringify({ alg: issuer.alg, kid: issuer.kid, typ: 'JWT' });
  const { roles: _roles, permissions: _permissions, userId: _userId, ...base } = standardClaims(issuer, 'userApiToken', h.clock.now());
  const text = (extra: string) => `${JSON.stringify(base).slice(0, -1)},${extra}}`;

  const viaProto = await h.authenticate('bearer', issuer.signRaw(header, text('"__proto__":{"admin":true,"roles":["root"],"userId":"root"}')));
  t.same(viaProto.roles, [], 'roles do not come from __proto__');
  t.equal(viaProto.userId, 'user-1', 'userId falls back to createdByUserId, not __proto__');
  t.equal((viaProto as unknown as Record<string, unknown>)['admin'], undefined);
  t.equal(Object.getPrototypeOf(viaProto), Object.prototype);

  const viaConstructor = await h.authenticate('bearer', issuer.signRaw(header, text('"constructor":{"prototype":{"polluted":true}}')));
  t.same(viaConstructor.permissions, []);
  t.equal(({} as Record<string, unknown>)['polluted'], undefined, 'Object.prototype untouched');
  t.equal(({} as Record<string, unknown>)['admin'], undefined);

  const protoType = issuer.signRaw(header, `{"__proto__":{"type":"userApiToken"},${JSON.stringify({ ...base, type: undefined }).slice(1)}`);
  t.equal(await h.outcome('bearer', protoType), 'ERR_AUTH_TOKEN_TYPE', 'type from __proto__ is no type');
});
