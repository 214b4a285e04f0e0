/**
 * Security case 15: ECDSA signatures that are not a valid raw P1363 (r || s) pair for the token
 * are refused with ERR_AUTH_SIGNATURE: r = s = 0 ("psychic signatures", CVE-2022-21449), r or s
 * equal to the curve order n, values above n, DER instead of P1363, wrong lengths (jwt_tool -X p).
 * The classes follow Wycheproof's invalid P1363 vectors, built here against fresh keys.
 * Authenticator level first, then over HTTP through a real gateway.
 */
import { sign as nodeSign } from 'node:crypto';
import t from 'tap';
import { createAuthHarness, tokensInLogs } from '../helpers/auth-harness.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { expectForwarded, expectRefused } from '../helpers/refusals.js';
import { startScenario } from '../helpers/scenario.js';
import { mintToken, type TestIssuer } from '../helpers/tokens.js';

/** Curve orders n and field primes p (SEC 2; FIPS 186-4 D.1.2). */
const CURVES = {
  ES256: {
    size: 32,
    n: 'ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551',
    p: 'ffffffff00000001000000000000000000000000ffffffffffffffffffffffff',
  },
  ES384: {
    size: 48,
    n: 'ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973',
    p: 'fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff',
  },
  ES512: {
    size: 66,
    n: '01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409',
    p: '01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
  },
} as const;

type EcAlg = keyof typeof CURVES;

/** `good` (a genuine token of `issuer`) with each invalid signature in place of its own. */
function invalidSignatures(alg: EcAlg, issuer: TestIssuer, good: string): Array<[string, string]> {
  const { size, n, p } = CURVES[alg];
  const [header, payload, signature] = good.split('.') as [string, string, string];
  const input = `${header}.${payload}`;
  const raw = Buffer.from(signature, 'base64url');
  const r = raw.subarray(0, size);
  const s = raw.subarray(size);
  const int = (hex: string) => Buffer.from(hex.padStart(2 * size, '0'), 'hex');
  const zero = Buffer.alloc(size);
  const one = int('01');
  const nPlus = (k: bigint) => int((BigInt(`0x${n}`) + k).toString(16));
  const der = nodeSign(`sha${alg.slice(2)}`, Buffer.from(input), { key: issuer.privateKey, dsaEncoding: 'der' });

  const cases: Array<[string, Buffer]> = [
    ['r = s = 0 (all-zero signature)', Buffer.concat([zero, zero])],
    ['r = 0, s genuine', Buffer.concat([zero, s])],
    ['r genuine, s = 0', Buffer.concat([r, zero])],
    ['r = s = 1', Buffer.concat([one, one])],
    ['r = n, s genuine', Buffer.concat([int(n), s])],
    ['r genuine, s = n', Buffer.concat([r, int(n)])],
    ['r = s = n', Buffer.concat([int(n), int(n)])],
    ['r = n + 1', Buffer.concat([nPlus(1n), s])],
    ['r = p (field prime)', Buffer.concat([int(p), s])],
    ['s = p', Buffer.concat([r, int(p)])],
    ['all bits set', Buffer.alloc(2 * size, 0xff)],
    ['r and s swapped', Buffer.concat([s, r])],
    ['the DER encoding of the genuine signature', der],
    ['one byte short', raw.subarray(0, 2 * size - 1)],
    ['one byte long (leading zero)', Buffer.concat([Buffer.from([0]), raw])],
    ['one byte long (trailing zero)', Buffer.concat([raw, Buffer.from([0])])],
    ['r only', r],
    ['a single byte', Buffer.from([1])],
    ['twice the length', Buffer.concat([raw, raw])],
  ];
  // r + n is r modulo n again; it must not verify (only when it still fits the field width).
  const alias = BigInt(`0x${r.toString('hex')}`) + BigInt(`0x${n}`);
  if (alias.toString(16).length <= 2 * size) cases.push(['r + n (the same r modulo n)', Buffer.concat([int(alias.toString(16)), s])]);
  if (alg === 'ES256') {
    cases.push(['63 bytes', Buffer.alloc(63, 1)], ['65 bytes', Buffer.alloc(65, 1)]);
  }
  return cases.map(([name, bytes]) => [name, `${input}.${bytes.toString('base64url')}`]);
}

for (const alg of ['ES256', 'ES384', 'ES512'] as const) {
  t.test(`${alg}: invalid signatures`, async (t) => {
    const h = await createAuthHarness(t, { issuers: [{ alg, kid: `kid-${alg}` }] });
    const issuer = h.issuers[0]!;
    const good = await mintToken(issuer, { nowMs: h.clock.now() });
    t.equal(await h.outcome('bearer', good), 'OK', 'control: the genuine token');
    t.equal(Buffer.from(good.split('.')[2]!, 'base64url').length, 2 * CURVES[alg].size, 'P1363 length');
    const cases = invalidSignatures(alg, issuer, good);
    for (const [name, token] of cases) t.equal(await h.outcome('bearer', token), 'ERR_AUTH_SIGNATURE', name);
    t.same(tokensInLogs(h.logs, [good, ...cases.map((c) => c[1])]), []);
  });

  t.test(`${alg} over HTTP: 401 invalid_token for every invalid signature, in either header`, async (t) => {
    const s = await startScenario({ issuer: { alg, kid: `kid-${alg}` } });
    t.teardown(() => s.close());
    const bearer = await s.mint({ type: 'userApiToken' });
    const apiKey = await s.mint({ type: 'userAccessToken' });
    await expectForwarded(t, s, 'control: the genuine Bearer token', { headers: [['Authorization', `Bearer ${bearer}`]] });
    await expectForwarded(t, s, 'control: the genuine access token', { headers: [['X-API-KEY', apiKey]] });
    for (const [name, token] of invalidSignatures(alg, s.issuer, bearer)) {
      await expectRefused(t, s, `${name} (Bearer)`, { headers: [['Authorization', `Bearer ${token}`]] }, 'ERR_AUTH_SIGNATURE');
    }
    for (const [name, token] of invalidSignatures(alg, s.issuer, apiKey)) {
      await expectRefused(t, s, `${name} (X-API-KEY)`, { headers: [['X-API-KEY', token]] }, 'ERR_AUTH_SIGNATURE');
    }
    t.strictSame(leakedSecrets(s.gateway.logs.lines(), [bearer, apiKey]), [], 'no genuine token in the logs');
  });
}
