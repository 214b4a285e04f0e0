/**
 * Security case 16: a stripped signature, a flipped bit, a signature transplanted from another
 * valid token, or a header/payload re-encoded into other but decodable bytes → ERR_AUTH_SIGNATURE
 * (jwt_tool -X n). Run for each key type, at the authenticator and over HTTP through a real gateway.
 */
import t from 'tap';
import { createAuthHarness, tokensInLogs } from '../helpers/auth-harness.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { expectForwarded, expectRefused } from '../helpers/refusals.js';
import { startScenario } from '../helpers/scenario.js';
import { b64url, mintToken, tamperSignature, type MintOptions, type TestIssuer } from '../helpers/tokens.js';

/** A token whose payload segment has unused trailing bits (length not a multiple of 4), padding the claims until it does. */
async function mintPadded(issuer: TestIssuer, options: MintOptions): Promise<string> {
  let good = '';
  for (let pad = ''; good === '' || good.split('.')[1]!.length % 4 === 0; pad += 'x') {
    good = await mintToken(issuer, { ...options, claims: { ...options.claims, pad } });
  }
  return good;
}

/** `good` tampered in every way that keeps it decodable; `other` is another valid token of the same issuer. */
function tampered(good: string, other: string): Array<[string, string]> {
  const [header, payload, signature] = good.split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
  const headerJson = Buffer.from(header, 'base64url').toString();
  const sigBytes = Buffer.from(signature, 'base64url');
  return [
    ['stripped signature (header.payload.)', `${header}.${payload}.`],
    ['a flipped bit in the first signature byte', tamperSignature(good)],
    ['a flipped bit in the last signature byte', `${header}.${payload}.${Buffer.concat([sigBytes.subarray(0, -1), Buffer.from([sigBytes.at(-1)! ^ 0x80])]).toString('base64url')}`],
    ['the signature of another valid token', `${header}.${payload}.${other.split('.')[2]}`],
    ['a truncated signature', `${header}.${payload}.${sigBytes.subarray(0, sigBytes.length - 1).toString('base64url')}`],
    ['the claims escalated, the signature kept', `${header}.${b64url(JSON.stringify({ ...claims, sub: 'admin', roles: ['root'] }))}.${signature}`],
    ['the same claims re-serialized with spaces', `${header}.${b64url(JSON.stringify(claims, null, 1))}.${signature}`],
    ['the same claims in another member order', `${header}.${b64url(JSON.stringify(Object.fromEntries(Object.entries(claims).reverse())))}.${signature}`],
    ['the same header re-serialized', `${b64url(JSON.stringify(JSON.parse(headerJson), null, 1))}.${payload}.${signature}`],
    ['a payload segment with its unused trailing bits changed', `${header}.${reencodeTrailingBits(payload)}.${signature}`],
  ];
}

for (const alg of ['RS256', 'PS256', 'ES256', 'EdDSA'] as const) {
  t.test(`${alg}: tampered tokens`, async (t) => {
    const h = await createAuthHarness(t, { issuers: [{ alg, kid: `kid-${alg}` }] });
    const issuer = h.issuers[0]!;
    const now = h.clock.now();
    const good = await mintPadded(issuer, { nowMs: now, claims: { sub: 'client-1' } });
    const other = await mintToken(issuer, { nowMs: now, claims: { sub: 'client-2' } });
    t.equal(await h.outcome('bearer', good), 'OK', 'control');
    const payload = good.split('.')[1]!;
    t.same(Buffer.from(reencodeTrailingBits(payload), 'base64url'), Buffer.from(payload, 'base64url'), 'the re-encoded payload decodes to the same bytes');
    for (const [name, token] of tampered(good, other)) t.equal(await h.outcome('bearer', token), 'ERR_AUTH_SIGNATURE', name);
    t.same(tokensInLogs(h.logs, [good, other]), []);
  });

  t.test(`${alg} over HTTP: 401 invalid_token for every tampered token, in either header`, async (t) => {
    const s = await startScenario({ issuer: { alg, kid: `kid-${alg}` } });
    t.teardown(() => s.close());
    const tokens: string[] = [];
    for (const [header, type] of [['Authorization', 'userApiToken'], ['X-API-KEY', 'userAccessToken']] as const) {
      const good = await mintPadded(s.issuer, { type, claims: { sub: 'client-1' } });
      const other = await s.mint({ type, claims: { sub: 'client-2' } });
      tokens.push(good, other);
      const line = (token: string): [string, string] => [header, header === 'Authorization' ? `Bearer ${token}` : token];
      await expectForwarded(t, s, `control (${header})`, { headers: [line(good)] }, { 'x-auth-subject': 'client-1' });
      for (const [name, token] of tampered(good, other)) await expectRefused(t, s, `${name} (${header})`, { headers: [line(token)] }, 'ERR_AUTH_SIGNATURE');
    }
    t.strictSame(leakedSecrets(s.gateway.logs.lines(), tokens), [], 'no genuine token in the logs');
  });
}

/**
 * The same bytes under a different base64url string: the segment's last character carries unused
 * bits (its length is 2 or 3 mod 4); changing them decodes identically but changes the signing input.
 */
function reencodeTrailingBits(segment: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const unused = segment.length % 4 === 2 ? 4 : 2;
  const last = alphabet.indexOf(segment.at(-1)!);
  return segment.slice(0, -1) + alphabet[last ^ ((1 << unused) - 1)]!;
}
