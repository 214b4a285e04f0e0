import type { IncomingMessage } from 'node:http';
import { hasDuplicateMember } from '../auth/verify.js';
import { GatewayError } from '../errors.js';

/** Token API bodies are small JSON or form documents; anything larger is refused (security case 28). */
export const MAX_TOKEN_API_BODY_BYTES = 8 * 1024;

/**
 * Reads a request body up to `limit` bytes. A declared or actual size over the limit is
 * `ERR_REQUEST_TOO_LARGE` (413) as soon as it is known, without buffering the rest.
 */
export function readBody(req: IncomingMessage, limit: number = MAX_TOKEN_API_BODY_BYTES): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(new GatewayError('ERR_REQUEST_TOO_LARGE'));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err: GatewayError | undefined) => {
      if (done) return;
      done = true;
      req.off('data', onData);
      if (err !== undefined) reject(err);
      else resolve(Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        finish(new GatewayError('ERR_REQUEST_TOO_LARGE'));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => finish(undefined));
    req.once('error', () => finish(new GatewayError('ERR_REQUEST_INVALID', 'request body aborted')));
  });
}

/** The media type of a request, lower-cased, without parameters; '' when absent. */
export function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
}

function invalid(...problems: string[]): GatewayError {
  return new GatewayError('ERR_VALIDATION', problems.join('; '), { problems });
}

/** What a field may hold; `?` fields may be absent, `null` fields may also be null. */
export type FieldKind = 'string' | 'nullableString' | 'object' | 'positiveInteger' | 'stringArray';

export type FieldSpec = Readonly<Record<string, FieldKind>>;

const MAX_STRING = 1024;
const MAX_ARRAY = 100;

/**
 * Parses a JSON body into an object holding only the fields of `spec`, each of its kind. Every
 * problem is reported at once, each naming the field and never echoing the value (errors.ts).
 * Duplicate members are refused: two parsers could read different values (security case 7's rule).
 */
export function parseJsonObject(req: IncomingMessage, body: Buffer, spec: FieldSpec, required: readonly string[] = []): Record<string, unknown> {
  // An empty body is an empty object: Frontegg's create routes take every field as optional.
  if (body.length === 0 && required.length === 0) return {};
  if (mediaType(req) !== 'application/json') throw invalid('content-type must be application/json');
  const text = body.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalid('body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('body must be a JSON object');
  if (hasDuplicateMember(text)) throw invalid('body has a duplicate member');
  const input = value as Record<string, unknown>;
  const problems: string[] = [];
  for (const name of Object.keys(input)) {
    // The name is echoed only when it is a plain identifier: a response never carries arbitrary input.
    if (!Object.hasOwn(spec, name)) problems.push(`${/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name) ? name : '(a field with an unusual name)'}: unknown field`);
  }
  for (const [name, kind] of Object.entries(spec)) {
    if (!Object.hasOwn(input, name)) {
      if (required.includes(name)) problems.push(`${name}: is required`);
      continue;
    }
    const problem = checkField(input[name], kind);
    if (problem !== undefined) problems.push(`${name}: ${problem}`);
  }
  if (problems.length > 0) throw invalid(...problems);
  return input;
}

function checkString(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  return value.length > MAX_STRING ? `must be at most ${MAX_STRING} characters` : undefined;
}

function checkField(value: unknown, kind: FieldKind): string | undefined {
  switch (kind) {
    case 'nullableString':
      return value === null ? undefined : checkString(value);
    case 'string':
      return checkString(value);
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value) ? undefined : 'must be an object';
    case 'positiveInteger':
      return Number.isSafeInteger(value) && (value as number) > 0 ? undefined : 'must be a whole number > 0';
    case 'stringArray':
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v.length === 0 || v.length > MAX_STRING)) return 'must be an array of strings';
      return value.length > MAX_ARRAY ? `must have at most ${MAX_ARRAY} entries` : undefined;
  }
}

/**
 * Parses an `application/x-www-form-urlencoded` body (RFC 6749 §3.2). A repeated parameter is an
 * error (§3.1: "Request and response parameters MUST NOT be included more than once"); a
 * parameter without a value is treated as omitted (§3.1).
 */
export function parseForm(req: IncomingMessage, body: Buffer): Map<string, string> {
  if (mediaType(req) !== 'application/x-www-form-urlencoded') {
    throw new GatewayError('ERR_TOKEN_INVALID_REQUEST', 'body is not form-encoded', { problems: ['body must be application/x-www-form-urlencoded'] });
  }
  const params = new URLSearchParams(body.toString('utf8'));
  const out = new Map<string, string>();
  const seen = new Set<string>();
  for (const [name, value] of params) {
    if (seen.has(name)) throw new GatewayError('ERR_TOKEN_INVALID_REQUEST', 'repeated parameter', { problems: [`${safeName(name)}: repeated parameter`] });
    seen.add(name);
    if (value !== '') out.set(name, value);
  }
  return out;
}

/** A parameter name for an error message: ours only if it is short and plain, never arbitrary input. */
function safeName(name: string): string {
  return /^[a-z_]{1,32}$/.test(name) ? name : 'parameter';
}
