/**
 * Security cases 9 and 10: an HS256/384/512 token MACed with the server's public key, in every
 * serialization an attacker might guess, or with an empty / "null" / "undefined" key, is refused
 * with ERR_AUTH_ALGORITHM before any crypto (CVE-2023-48223, CVE-2026-34950, GHSA-ww5h-9m49-7xx4,
 * GHSA-g3jj-5cmm-3hxx, GHSA-gmvf-9v4p-v8jc; RFC 8725 §3.1-3.2; jwt_tool -X k / -X b). As defence
 * in depth the prepared key's own fast-jwt verifier (pinned to the key's algorithm) refuses them too.
 * Then the same tokens over HTTP through a real gateway.
 *
 * Case 10's start-up part: no HMAC secret can be configured at all — an HS* algorithm, a `secret`
 * next to an issuer, an empty JWKS path or no issuer make the gateway refuse to start; those
 * refusals are tested once, in bad-config.test.ts. Key material is not configuration: a JWKS that
 * publishes a symmetric key (empty, short or long) is refused whole, and the gateway fails closed.
 */
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseJwks } from '../../src/auth/jwks.js';
import { startEchoUpstream } from '../../scripts/echo-upstream.js';
import { createAuthHarness, tokensInLogs } from '../helpers/auth-harness.js';
import { startGateway } from '../helpers/gateway.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { expectForwarded, expectRefused } from '../helpers/refusals.js';
import { send, startScenario } from '../helpers/scenario.js';
import { b64url, createTestIssuer, mintHmacToken, mintToken, standardClaims, writeJwksFile, type TestIssuer } from '../helpers/tokens.js';

const HS = ['HS256', 'HS384', 'HS512'] as const;

/** The issuer's public key as a self-signed X.509 certificate, made by openssl at test time. */
async function certificateOf(issuer: TestIssuer): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'm2m-cert-'));
  try {
    const keyFile = join(dir, 'key.pem');
    const certFile = join(dir, 'cert.pem');
    await writeFile(keyFile, issuer.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    execFileSync('openssl', ['req', '-new', '-x509', '-key', keyFile, '-subj', '/CN=issuer.test', '-days', '1', '-out', certFile], { stdio: 'ignore' });
    return await readFile(certFile, 'utf8');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Every text an attacker might take for "the server's key" and use as an HMAC secret. */
async function serializations(issuer: TestIssuer): Promise<Array<[string, string]>> {
  const spki = issuer.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const pkcs1 = issuer.publicKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const cert = await certificateOf(issuer);
  const base: Array<[string, string]> = [
    ['PEM SPKI (BEGIN PUBLIC KEY)', spki],
    ['PEM PKCS#1 (BEGIN RSA PUBLIC KEY)', pkcs1],
    ['an X.509 certificate', cert],
  ];
  const variants: Array<[string, (pem: string) => string]> = [
    ['as-is', (pem) => pem],
    ['trimmed', (pem) => pem.trim()],
    ['with leading spaces', (pem) => `   ${pem}`],
    ['with a leading newline', (pem) => `\n${pem}`],
    ['with a BOM', (pem) => `\ufeff${pem}`],
    ['with zero-width characters', (pem) => `\u200b\u200c\u200d${pem}`],
    ['after a # comment', (pem) => `# server key\n${pem}`],
    ['with CRLF line ends', (pem) => pem.replace(/\n/g, '\r\n')],
  ];
  const jwkText = JSON.stringify(issuer.jwk);
  return [
    ...base.flatMap(([name, pem]) => variants.map(([variant, f]): [string, string] => [`${name} ${variant}`, f(pem)])),
    ['JWK JSON text', jwkText],
    ['JWK JSON text, pretty-printed', JSON.stringify(issuer.jwk, null, 2)],
    ['JWKS JSON text', JSON.stringify(issuer.jwks)],
    ['a bare keys array', JSON.stringify(issuer.jwks.keys)],
    ['the modulus n', String(issuer.jwk.n)],
  ];
}

t.test('HS* tokens MACed with the public key in any serialization (case 9)', async (t) => {
  const h = await createAuthHarness(t);
  const issuer = h.issuers[0]!;
  const key = parseJwks(JSON.stringify(issuer.jwks), h.config.issuers[0]!);
  if (!key.ok) throw new Error(key.reason);
  const prepared = key.keys.get(issuer.kid)!;
  const tokens: string[] = [];
  for (const [name, secret] of await serializations(issuer)) {
    for (const alg of HS) {
      const token = await mintHmacToken(issuer, alg, new TextEncoder().encode(secret), { nowMs: h.clock.now() });
      tokens.push(token);
      t.equal(await h.outcome('bearer', token), 'ERR_AUTH_ALGORITHM', `${alg}, ${name}`);
      t.throws(() => prepared.verify(token), { code: 'FAST_JWT_INVALID_ALGORITHM' }, `${alg}, ${name}: the key's verifier refuses it too`);
    }
  }
  t.equal(h.verifications(), 0, 'no MAC or signature was ever computed');
  t.same(tokensInLogs(h.logs, tokens), []);
});

/** Case 10: HS* tokens MACed with an empty or placeholder key. */
async function emptyKeyTokens(issuer: TestIssuer, nowMs: number): Promise<Array<[string, string]>> {
  const claims = standardClaims(issuer, 'userApiToken', nowMs);
  // jose refuses a zero-length key, so those two are MACed by hand.
  const handMac = (alg: (typeof HS)[number], secret: Buffer) => {
    const input = `${b64url(JSON.stringify({ alg, kid: issuer.kid, typ: 'JWT' }))}.${b64url(JSON.stringify(claims))}`;
    return `${input}.${createHmac(`sha${alg.slice(2)}`, secret).update(input).digest('base64url')}`;
  };
  const tokens: Array<[string, string]> = [];
  for (const alg of HS) {
    tokens.push([`${alg}, key ''`, handMac(alg, Buffer.from(''))], [`${alg}, zero-length buffer`, handMac(alg, Buffer.alloc(0))]);
    for (const literal of ['null', 'undefined', '0', 'false']) {
      tokens.push([`${alg}, key "${literal}"`, await mintHmacToken(issuer, alg, new TextEncoder().encode(literal), { nowMs })]);
    }
  }
  return tokens;
}

t.test('HS* tokens MACed with an empty or placeholder key (case 10)', async (t) => {
  const h = await createAuthHarness(t);
  for (const [name, token] of await emptyKeyTokens(h.issuers[0]!, h.clock.now())) t.equal(await h.outcome('bearer', token), 'ERR_AUTH_ALGORITHM', name);
});

t.test('a JWKS that publishes a symmetric (oct) key is refused whole; its secret verifies nothing', async (t) => {
  const h = await createAuthHarness(t);
  const issuer = h.issuers[0]!;
  const secret = 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA';
  await writeJwksFile(h.jwksPaths[0]!, { keys: [issuer.jwk, { kty: 'oct', k: secret, kid: 'hs', alg: 'HS256' }] });
  t.equal(await h.sources[0]!.refresh(), false, 'the set with an oct key is refused');
  const token = await mintHmacToken(issuer, 'HS256', Buffer.from(secret, 'base64url'), { nowMs: h.clock.now(), header: { kid: 'hs' } });
  t.equal(await h.outcome('bearer', token), 'ERR_AUTH_ALGORITHM');
});

t.test('over HTTP: every HS* token is 401 invalid_token, in either header (cases 9, 10)', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const now = Date.now();
  await expectForwarded(t, s, 'control: the issuer’s RS256 token', { headers: [['Authorization', `Bearer ${await s.mint()}`]] });
  const cases: Array<[string, string]> = [];
  for (const [name, secret] of await serializations(s.issuer)) {
    for (const alg of HS) cases.push([`${alg}, ${name}`, await mintHmacToken(s.issuer, alg, new TextEncoder().encode(secret), { nowMs: now })]);
  }
  cases.push(...(await emptyKeyTokens(s.issuer, now)));
  for (const [name, token] of cases) {
    await expectRefused(t, s, `${name} (Bearer)`, { headers: [['Authorization', `Bearer ${token}`]] }, 'ERR_AUTH_ALGORITHM');
    await expectRefused(t, s, `${name} (X-API-KEY)`, { headers: [['X-API-KEY', token]] }, 'ERR_AUTH_ALGORITHM');
  }
});

t.test('over HTTP: a JWKS publishing a symmetric key of any length is refused whole, and the gateway fails closed (case 10)', async (t) => {
  const issuer = await createTestIssuer();
  const secrets: Array<[string, Buffer]> = [
    ['an empty k', Buffer.alloc(0)],
    ['a 6-byte k', Buffer.from('secret')],
    ['a 31-byte k', Buffer.alloc(31, 7)],
    ['a 64-byte k', Buffer.alloc(64, 9)],
  ];
  for (const [name, secret] of secrets) {
    const dir = await mkdtemp(join(tmpdir(), 'm2m-oct-'));
    const jwksPath = join(dir, 'jwks.json');
    await writeJwksFile(jwksPath, { keys: [issuer.jwk, { kty: 'oct', k: secret.toString('base64url'), kid: 'hs', alg: 'HS256' }] });
    const upstream = await startEchoUpstream();
    const gateway = await startGateway({
      issuers: [{ name: issuer.name, issuer: issuer.issuer, audience: issuer.audience, algorithms: [issuer.alg], jwks: { file: jwksPath } }],
      routes: [{ name: 'api', pathPrefix: '/api', upstream: upstream.url, auth: {} }],
    });
    const hmac = await mintHmacToken(issuer, 'HS256', secret.length === 0 ? new Uint8Array(1) : secret, { header: { kid: 'hs' } });
    const rsa = await mintToken(issuer);
    t.equal((await send(`${gateway.adminUrl}/readyz`)).status, 503, `${name}: not ready`);
    await expectRefused(t, { gateway, upstream }, `${name}, the HS256 token`, { headers: [['Authorization', `Bearer ${hmac}`]] }, 'ERR_AUTH_ALGORITHM');
    const res = await send(`${gateway.url}/api/x`, { headers: [['Authorization', `Bearer ${rsa}`]] });
    t.equal(res.status, 503, `${name}, even the RS256 token: 503`);
    t.equal(res.json().code, 'ERR_AUTH_KEYS_UNAVAILABLE', `${name}, even the RS256 token: no usable key set`);
    t.equal(res.headers['www-authenticate'], undefined, `${name}, even the RS256 token: an outage is no challenge`);
    t.equal(upstream.started(), 0, `${name}: the upstream saw nothing`);
    t.strictSame(leakedSecrets(gateway.logs.lines(), [hmac, rsa, ...(secret.length >= 16 ? [secret.toString('base64url')] : [])]), [], `${name}: nothing secret logged`);
    await gateway.close();
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
  }
});
