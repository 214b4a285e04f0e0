/**
 * Security case 23: claims that become upstream headers must be printable ASCII (0x20-0x7E) with
 * no space at either end (a header parser trims it: " admin" would reach the upstream as "admin"),
 * at most 1024 characters, with roles and permissions arrays of at most 256 strings. Anything else
 * is ERR_AUTH_CLAIMS: no header splitting, no crash. `__proto__` / `constructor` members are own
 * data of the parsed payload, never a prototype, and never a source of claims. Authenticator level
 * first, then over HTTP: refused before the upstream, or injected as the exact value.
 */
import t from 'tap';
import { CREDENTIAL_KIND_OF } from '../../src/auth/identity.js';
import type { TokenType } from '../../src/config/schema.js';
import { createAuthHarness, tokensInLogs } from '../helpers/auth-harness.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { expectForwarded, expectRefused } from '../helpers/refusals.js';
import { startScenario } from '../helpers/scenario.js';
import { mintToken, standardClaims, type TestIssuer } from '../helpers/tokens.js';

/** Values no identity string claim may hold. */
const HOSTILE: Array<[string, unknown]> = [
  ['CR LF (header splitting)', 'x\r\nX-Auth-Roles: admin'],
  ['a bare LF', 'x\ny'],
  ['NUL', 'x\u0000y'],
  ['DEL', 'x\u007fy'],
  ['a tab', 'x\ty'],
  ['non-ASCII', 'josé'],
  ['an emoji', 'user-😀'],
  ['a zero-width space', 'ad\u200bmin'],
  ['a leading space (an upstream would read "admin")', ' admin'],
  ['a trailing space', 'admin '],
  ['only a space', ' '],
  ['1025 characters', 'a'.repeat(1025)],
  ['a number', 42],
  ['an object', { id: 'x' }],
  ['an array', ['x']],
];

/** Identity string claims, each in a token type that carries it. */
const FIELDS: Array<[string, TokenType]> = [
  ['sub', 'userApiToken'],
  ['tenantId', 'tenantApiToken'],
  ['jti', 'userApiToken'],
  ['userId', 'userAccessToken'],
  ['userId', 'userApiToken'],
];

/** Values no roles or permissions claim may hold. */
const LISTS: Array<[string, unknown]> = [
  ['a string instead of an array', 'admin'],
  ['an object instead of an array', { admin: true }],
  ['null', null],
  ['an entry with CR LF', ['reader', 'x\r\nadmin']],
  ['an entry with a comma-free non-ASCII char', ['rôle']],
  ['a non-string entry', ['reader', 1]],
  ['a nested array', [['admin']]],
  ['an empty entry', ['']],
  ['an entry with a leading space', ['viewer', ' admin']],
  ['an entry with a trailing space', ['admin ']],
  ['257 entries', Array.from({ length: 257 }, (_, i) => `r${i}`)],
  ['an entry over 1024 characters', ['r'.repeat(1025)]],
];

/** Hand-written claims text with `__proto__` / `constructor` members, validly signed. */
function prototypeTokens(issuer: TestIssuer, nowMs: number): { viaProto: string; viaConstructor: string; protoType: string } {
  const header = JSON.stringify({ alg: issuer.alg, kid: issuer.kid, typ: 'JWT' });
  const { roles: _roles, permissions: _permissions, userId: _userId, ...base } = standardClaims(issuer, 'userApiToken', nowMs);
  const text = (extra: string) => `${JSON.stringify(base).slice(0, -1)},${extra}}`;
  return {
    viaProto: issuer.signRaw(header, text('"__proto__":{"admin":true,"roles":["root"],"userId":"root"}')),
    viaConstructor: issuer.signRaw(header, text('"constructor":{"prototype":{"polluted":true}}')),
    protoType: issuer.signRaw(header, `{"__proto__":{"type":"userApiToken"},${JSON.stringify({ ...base, type: undefined }).slice(1)}`),
  };
}

t.test('hostile values in identity claims', async (t) => {
  const h = await createAuthHarness(t, { auth: { maxTokenBytes: 65_536 } });
  const issuer = h.issuers[0]!;
  const mint = (type: TokenType, claims: Record<string, unknown>) => mintToken(issuer, { type, nowMs: h.clock.now(), claims });
  const tokens: string[] = [];
  for (const [field, type] of FIELDS) {
    for (const [name, value] of HOSTILE) {
      const token = await mint(type, { [field]: value });
      tokens.push(token);
      t.equal(await h.outcome(CREDENTIAL_KIND_OF[type], token), 'ERR_AUTH_CLAIMS', `${type} ${field}: ${name}`);
    }
  }
  t.equal(await h.outcome('bearer', await mint('userApiToken', { sub: 'a'.repeat(1024) })), 'OK', '1024 characters is the limit');
  t.equal(await h.outcome('bearer', await mint('userApiToken', { sub: '!"#$% &\'()*+,-./~' })), 'OK', 'printable punctuation and inner spaces are fine');

  for (const field of ['roles', 'permissions']) {
    for (const [name, value] of LISTS) {
      t.equal(await h.outcome('bearer', await mint('userApiToken', { [field]: value })), 'ERR_AUTH_CLAIMS', `${field}: ${name}`);
    }
  }
  t.equal(await h.outcome('bearer', await mint('userApiToken', { roles: Array.from({ length: 256 }, (_, i) => `r${i}`) })), 'OK', '256 roles is the limit');
  t.same(tokensInLogs(h.logs, tokens), []);
});

t.test('__proto__ and constructor members pollute nothing and supply no claim', async (t) => {
  const h = await createAuthHarness(t);
  const issuer = h.issuers[0]!;
  const { viaProto: protoToken, viaConstructor: constructorToken, protoType } = prototypeTokens(issuer, h.clock.now());

  const viaProto = await h.authenticate('bearer', protoToken);
  t.same(viaProto.roles, [], 'roles do not come from __proto__');
  t.equal(viaProto.userId, 'user-1', 'userId falls back to createdByUserId, not __proto__');
  t.equal((viaProto as unknown as Record<string, unknown>)['admin'], undefined);
  t.equal(Object.getPrototypeOf(viaProto), Object.prototype);

  const viaConstructor = await h.authenticate('bearer', constructorToken);
  t.same(viaConstructor.permissions, []);
  t.equal(({} as Record<string, unknown>)['polluted'], undefined, 'Object.prototype untouched');
  t.equal(({} as Record<string, unknown>)['admin'], undefined);

  t.equal(await h.outcome('bearer', protoType), 'ERR_AUTH_TOKEN_TYPE', 'type from __proto__ is no type');
});

t.test('over HTTP: hostile values are refused before the upstream; good ones are injected exactly', async (t) => {
  const s = await startScenario({ config: { auth: { maxTokenBytes: 65_536 }, server: { maxHeaderBytes: 65_536 } } });
  t.teardown(() => s.close());
  const line = (type: TokenType, token: string): [string, string] => (CREDENTIAL_KIND_OF[type] === 'bearer' ? ['Authorization', `Bearer ${token}`] : ['X-API-KEY', token]);
  const tokens: string[] = [];
  for (const [field, type] of FIELDS) {
    for (const [name, value] of HOSTILE) {
      const token = await s.mint({ type, claims: { [field]: value } });
      tokens.push(token);
      await expectRefused(t, s, `${type} ${field}: ${name}`, { headers: [line(type, token)] }, 'ERR_AUTH_CLAIMS');
    }
  }
  for (const field of ['roles', 'permissions']) {
    for (const [name, value] of LISTS) {
      const token = await s.mint({ claims: { [field]: value } });
      tokens.push(token);
      await expectRefused(t, s, `${field}: ${name}`, { headers: [line('userApiToken', token)] }, 'ERR_AUTH_CLAIMS');
    }
  }
  const long = 'a'.repeat(1024);
  await expectForwarded(t, s, '1024 characters is the limit', { headers: [line('userApiToken', await s.mint({ claims: { sub: long } }))] }, { 'x-auth-subject': long });
  const punctuation = '!"#$% &\'()*+,-./~';
  await expectForwarded(t, s, 'printable punctuation is injected as is', { headers: [line('userApiToken', await s.mint({ claims: { sub: punctuation } }))] }, { 'x-auth-subject': punctuation });
  const roles = Array.from({ length: 256 }, (_, i) => `r${i}`);
  await expectForwarded(t, s, '256 roles is the limit', { headers: [line('userApiToken', await s.mint({ claims: { roles } }))] }, { 'x-auth-roles': roles.join(',') });

  const { viaProto, viaConstructor, protoType } = prototypeTokens(s.issuer, Date.now());
  const fromProto = await expectForwarded(t, s, '__proto__ members supply no claim', { headers: [line('userApiToken', viaProto)] }, { 'x-auth-user-id': 'user-1', 'x-auth-roles': '' });
  t.notOk(JSON.stringify(fromProto?.rawHeaders ?? []).includes('root'), 'nothing from __proto__ reached the upstream');
  await expectForwarded(t, s, 'constructor members supply no claim', { headers: [line('userApiToken', viaConstructor)] }, { 'x-auth-permissions': '' });
  await expectRefused(t, s, 'type only under __proto__', { headers: [line('userApiToken', protoType)] }, 'ERR_AUTH_TOKEN_TYPE');
  t.equal(({} as Record<string, unknown>)['polluted'], undefined, 'Object.prototype untouched');
  t.equal(({} as Record<string, unknown>)['admin'], undefined);
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [...tokens, viaProto, viaConstructor, protoType]), [], 'no token in the logs');
});
