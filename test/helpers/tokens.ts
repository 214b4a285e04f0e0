import { constants, KeyObject, randomUUID, sign as nodeSign, type SignKeyObjectInput } from 'node:crypto';
import { rename, writeFile } from 'node:fs/promises';
import { CompactSign, exportJWK, generateKeyPair, SignJWT, UnsecuredJWT, type JWK } from 'jose';
import type { Algorithm, TokenType } from '../../src/config/schema.js';
import type { CompiledIssuer, CompiledJwksFile, CompiledJwksUrl } from '../../src/config/types.js';

/**
 * Token fixtures for every layer's tests, minted with `jose` (a library independent of the
 * fast-jwt verifier under test). Hostile tokens that `jose` refuses to produce are built segment by
 * segment with `craftToken` / `TestIssuer.signRaw`.
 */

export const TEST_ISSUER = 'https://issuer.test';
export const TEST_AUDIENCE = 'm2m-gateway-test';

export interface TestIssuerOptions {
  /** Configured issuer name (logs, metrics, `Identity.issuer`). Default `main`. */
  readonly name?: string;
  readonly alg?: Algorithm;
  readonly kid?: string;
  readonly issuer?: string;
  readonly audience?: string;
  /** RSA only (default 2048). */
  readonly modulusLength?: number;
}

export interface SignOptions {
  /** Merged over the default protected header `{alg, kid, typ: 'JWT'}`; `undefined` removes a member. */
  readonly header?: Record<string, unknown>;
}

export interface MintOptions extends SignOptions {
  readonly type?: TokenType;
  /** The time the token is minted at (ms); default `Date.now()`. */
  readonly nowMs?: number;
  /** Lifetime; `null` mints no `exp` (an access token that never expires). Default 3600. */
  readonly ttlSeconds?: number | null;
  /** Merged over the standard claims; `undefined` removes a claim. */
  readonly claims?: Record<string, unknown>;
}

export interface TestIssuer {
  readonly name: string;
  readonly alg: Algorithm;
  readonly kid: string;
  readonly issuer: string;
  readonly audience: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** The public JWK as an issuer publishes it: `kid`, `alg`, `use: sig`. */
  readonly jwk: JWK;
  /** `{ keys: [jwk] }`. */
  readonly jwks: { keys: JWK[] };
  /** Signs a claims object with jose (`SignJWT`). */
  sign(claims: Record<string, unknown>, options?: SignOptions): Promise<string>;
  /** Signs arbitrary payload text (e.g. a JSON array) with jose (`CompactSign`). */
  signPayload(payload: string, options?: SignOptions): Promise<string>;
  /**
   * Signs hand-written header and payload (JSON text or raw bytes) with node:crypto: duplicate
   * members, `1e309`, invalid UTF-8 and other things no JOSE library will produce.
   */
  signRaw(header: string | Uint8Array, payload: string | Uint8Array): string;
  /** This issuer as the gateway's compiled config sees it. */
  compiled(jwks: CompiledJwksFile | CompiledJwksUrl, overrides?: Partial<CompiledIssuer>): CompiledIssuer;
}

/** base64url without padding (RFC 7515 §2). */
export function b64url(value: string | Uint8Array): string {
  return Buffer.from(value).toString('base64url');
}

/** A compact JWS from parts: objects are JSON-encoded, strings used as the JSON text as-is. */
export function craftToken(header: object | string, payload: object | string, signature = ''): string {
  const text = (part: object | string) => (typeof part === 'string' ? part : JSON.stringify(part));
  return `${b64url(text(header))}.${b64url(text(payload))}.${signature}`;
}

/** Drops the members whose value is `undefined`, so overrides can remove claims or header members. */
function merge(base: Record<string, unknown>, overrides: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [name, value] of Object.entries(overrides ?? {})) {
    if (value === undefined) delete out[name];
    else out[name] = value;
  }
  return out;
}

/**
 * A compact JWS over hand-written header and payload, signed with node:crypto as `alg` — with any
 * key, so a test can sign with a key under an algorithm it was not published for.
 */
export function signWith(privateKey: KeyObject, alg: Algorithm, header: string | Uint8Array, payload: string | Uint8Array): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  const key: SignKeyObjectInput = alg.startsWith('PS')
    ? { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
    : alg.startsWith('ES')
      ? { key: privateKey, dsaEncoding: 'ieee-p1363' }
      : { key: privateKey };
  const hash = alg === 'EdDSA' ? null : `sha${alg.slice(2)}`;
  return `${input}.${nodeSign(hash, Buffer.from(input), key).toString('base64url')}`;
}

/** A test issuer with a fresh key pair (jose `generateKeyPair`). */
export async function createTestIssuer(options: TestIssuerOptions = {}): Promise<TestIssuer> {
  const alg = options.alg ?? 'RS256';
  const kid = options.kid ?? 'test-key-1';
  const name = options.name ?? 'main';
  const issuer = options.issuer ?? TEST_ISSUER;
  const audience = options.audience ?? TEST_AUDIENCE;
  const pair = await generateKeyPair(alg, { extractable: true, modulusLength: options.modulusLength });
  const privateKey = KeyObject.from(pair.privateKey);
  const publicKey = KeyObject.from(pair.publicKey);
  const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid, alg, use: 'sig' };
  const header = (extra: Record<string, unknown> | undefined) => merge({ alg, kid, typ: 'JWT' }, extra);

  return Object.freeze({
    name,
    alg,
    kid,
    issuer,
    audience,
    privateKey,
    publicKey,
    jwk,
    jwks: { keys: [jwk] },
    sign: (claims: Record<string, unknown>, signOptions: SignOptions = {}) =>
      new SignJWT(claims).setProtectedHeader(header(signOptions.header) as { alg: string }).sign(pair.privateKey),
    signPayload: (payload: string, signOptions: SignOptions = {}) =>
      new CompactSign(new TextEncoder().encode(payload)).setProtectedHeader(header(signOptions.header) as { alg: string }).sign(pair.privateKey),
    signRaw: (headerText: string | Uint8Array, payloadText: string | Uint8Array) => signWith(privateKey, alg, headerText, payloadText),
    compiled: (jwks: CompiledJwksFile | CompiledJwksUrl, overrides: Partial<CompiledIssuer> = {}): CompiledIssuer =>
      Object.freeze({ name, issuer, audiences: [audience], algorithms: [alg], jwks, ...overrides }),
  });
}

/** The claims our token service puts in each kind of token (SPEC §3; frontegg-api.md §3). */
export function standardClaims(issuer: TestIssuer, type: TokenType, nowMs: number, ttlSeconds: number | null = 3600): Record<string, unknown> {
  const iat = Math.floor(nowMs / 1000);
  const common = {
    iss: issuer.issuer,
    aud: issuer.audience,
    type,
    tenantId: 'tenant-1',
    iat,
    ...(ttlSeconds === null ? {} : { exp: iat + ttlSeconds }),
    jti: randomUUID(),
    roles: ['admin'],
    permissions: ['reports.read'],
  };
  switch (type) {
    case 'userApiToken':
      return { ...common, sub: 'client-1', userId: 'user-1', createdByUserId: 'user-1', metadata: {} };
    case 'tenantApiToken':
      return { ...common, sub: 'client-2', createdByUserId: 'user-9', metadata: {} };
    case 'userAccessToken':
      return { ...common, sub: 'access-1', userId: 'user-1' };
    case 'tenantAccessToken':
      return { ...common, sub: 'access-2' };
  }
}

/** A token of `type` (default `userApiToken`) from `issuer`, with standard claims plus overrides. */
export function mintToken(issuer: TestIssuer, options: MintOptions = {}): Promise<string> {
  const claims = merge(standardClaims(issuer, options.type ?? 'userApiToken', options.nowMs ?? Date.now(), options.ttlSeconds), options.claims);
  return issuer.sign(claims, { header: options.header });
}

/** An `alg: none` token minted by jose's `UnsecuredJWT` (signature segment empty). */
export function mintUnsecuredToken(issuer: TestIssuer, options: MintOptions = {}): string {
  const claims = merge(standardClaims(issuer, options.type ?? 'userApiToken', options.nowMs ?? Date.now(), options.ttlSeconds), options.claims);
  return new UnsecuredJWT(claims).encode();
}

/** An HS* token MACed with `secret` by jose, with the issuer's kid (the key-confusion attack). */
export function mintHmacToken(issuer: TestIssuer, alg: 'HS256' | 'HS384' | 'HS512', secret: Uint8Array, options: MintOptions = {}): Promise<string> {
  const claims = merge(standardClaims(issuer, options.type ?? 'userApiToken', options.nowMs ?? Date.now(), options.ttlSeconds), options.claims);
  return new SignJWT(claims).setProtectedHeader(merge({ alg, kid: issuer.kid, typ: 'JWT' }, options.header) as { alg: string }).sign(secret);
}

/**
 * The named fixtures (Envoy `jwt_authn` style), all minted at `nowMs` by `issuer`. `NonExistKidToken`
 * is signed by the issuer's key but names a kid nobody published.
 */
export async function namedTokens(issuer: TestIssuer, nowMs: number) {
  const mint = (options: MintOptions) => mintToken(issuer, { nowMs, ...options });
  return {
    /** A user's client-credentials JWT (Authorization: Bearer). */
    GoodToken: await mint({ type: 'userApiToken' }),
    GoodTenantApiToken: await mint({ type: 'tenantApiToken' }),
    /** A user's access token (X-API-KEY), expiring. */
    GoodUserAccessToken: await mint({ type: 'userAccessToken' }),
    /** A tenant's access token (X-API-KEY) without `exp`. */
    GoodTenantAccessToken: await mint({ type: 'tenantAccessToken', ttlSeconds: null }),
    ExpiredToken: await mint({ nowMs: nowMs - 7200_000, ttlSeconds: 3600 }),
    NotYetValidToken: await mint({ claims: { nbf: Math.floor(nowMs / 1000) + 3600 } }),
    NonExistKidToken: await mint({ header: { kid: 'no-such-kid' } }),
    NoKidToken: await mint({ header: { kid: undefined } }),
    WrongIssuerToken: await mint({ claims: { iss: 'https://other-issuer.test' } }),
    WrongAudienceToken: await mint({ claims: { aud: 'someone-else' } }),
  };
}

/** Flips one bit of the signature's first byte, keeping the segment canonical base64url. */
export function tamperSignature(token: string): string {
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const bytes = Buffer.from(signature, 'base64url');
  bytes[0] = bytes[0]! ^ 0x01;
  return `${header}.${payload}.${bytes.toString('base64url')}`;
}

/**
 * Writes a JWKS file atomically (write then rename), the way Kubernetes and secret agents
 * replace mounted files, so a reader never sees half a file. A string is written as-is.
 */
export async function writeJwksFile(path: string, jwks: object | string): Promise<void> {
  const temp = `${path}.${randomUUID()}.tmp`;
  await writeFile(temp, typeof jwks === 'string' ? jwks : JSON.stringify(jwks));
  await rename(temp, path);
}
