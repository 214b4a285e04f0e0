/** Token endpoint body and client-credential parsing (src/http/body.ts, src/auth/basic.ts, src/http/token-api.ts) on arbitrary bytes. */
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import t from 'tap';
import { decodeBasicCredentials } from '../../src/auth/basic.js';
import { isGatewayError } from '../../src/errors.js';
import { parseForm, parseJsonObject, type FieldSpec } from '../../src/http/body.js';
import { assertAsyncProperty, assertProperty, stringOf } from '../helpers/fuzz.js';
import { send } from '../helpers/scenario.js';
import { startTokenScenario } from '../helpers/token-scenario.js';

function req(contentType: string | undefined): IncomingMessage {
  const stream = Readable.from([]) as unknown as IncomingMessage;
  (stream as { headers: Record<string, string> }).headers = contentType === undefined ? {} : { 'content-type': contentType };
  return stream;
}

const contentType = fc.option(fc.constantFrom('application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x', ''), { nil: undefined });
const bytes = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
  stringOf(['{', '}', '[', ']', '"', ':', ',', 'null', '1', '-0', '1e999', '"clientId"', '"secret"', '"__proto__"', '"constructor"', '\\u0000', '&', '=', '%', '%zz', '+', 'grant_type', 'client_id'], 16).map((s) => Buffer.from(s)),
  fc.jsonValue({ maxDepth: 2 }).map((v) => Buffer.from(JSON.stringify(v) ?? '')),
);
const SPEC: FieldSpec = { clientId: 'string', secret: 'string', description: 'nullableString', metadata: 'object', expiresInMinutes: 'positiveInteger', roleIds: 'stringArray' };

/** What a problem line may say: our words and, for a plain identifier, a field name; never input. */
const PROBLEM = /^(?:[A-Za-z_][A-Za-z0-9_]{0,63}|\(a field with an unusual name\)|[a-z_]{1,32}|parameter): |^(?:content-type must be|body (?:is not|must be|has)|parameters must be)/;

t.test('the JSON body parser returns an object or a 400 whose problems name fields, never values', async () => {
  assertProperty(
    fc.property(contentType, bytes, fc.subarray(['clientId', 'secret']), (type, body, required) => {
      try {
        const out = parseJsonObject(req(type), body, SPEC, required);
        return typeof out === 'object' && out !== null && Object.keys(out).every((k) => Object.hasOwn(SPEC, k)) && required.every((k) => Object.hasOwn(out, k));
      } catch (err) {
        return isGatewayError(err) && err.code === 'ERR_VALIDATION' && err.statusCode === 400 && (err.problems ?? []).length > 0 && err.problems!.every((p) => PROBLEM.test(p));
      }
    }),
  );
});

t.test('the form parser returns parameters or a 400, never throws anything else', async () => {
  assertProperty(
    fc.property(contentType, bytes, (type, body) => {
      try {
        const out = parseForm(req(type), body);
        return [...out.values()].every((v) => v !== '');
      } catch (err) {
        return isGatewayError(err) && err.code === 'ERR_TOKEN_INVALID_REQUEST' && err.statusCode === 400 && (err.problems ?? []).every((p) => PROBLEM.test(p));
      }
    }),
  );
});

const text = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 24 });
/** application/x-www-form-urlencoded, as `client_secret_basic` requires (RFC 6749 §2.3.1). */
const formEncode = (s: string) => new URLSearchParams([['', s]]).toString().slice(1);
const basic = (id: string, secret: string) => Buffer.from(`${id}:${secret}`, 'utf8').toString('base64');

t.test('Basic decoding inverts encoding: form-encoded ids and secrets of any text', async () => {
  assertProperty(
    fc.property(text, text, (clientId, secret) => {
      const decoded = decodeBasicCredentials(basic(formEncode(clientId), formEncode(secret)));
      return decoded?.clientId === clientId && decoded.secret === secret;
    }),
  );
});

t.test('Basic decoding inverts encoding: plain ids without ":" and secrets with no escape', async () => {
  const plain = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 24 }).filter((s) => !/[%+]/.test(s));
  assertProperty(
    fc.property(plain.filter((s) => !s.includes(':')), plain, (clientId, secret) => {
      const decoded = decodeBasicCredentials(basic(clientId, secret));
      return decoded?.clientId === clientId && decoded.secret === secret;
    }),
  );
});

t.test('Basic decoding of any string returns undefined or a non-empty id and secret, never throws', async () => {
  assertProperty(
    fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 48 }), fc.uint8Array({ maxLength: 36 }).map((b) => Buffer.from(b).toString('base64'))), (token68) => {
      const decoded = decodeBasicCredentials(token68);
      return decoded === undefined || (decoded.clientId !== '' && decoded.secret !== '');
    }),
  );
});

t.test('over HTTP: the token routes answer any body and Authorization with a 4xx problem, never a 5xx', async (t) => {
  const s = await startTokenScenario({ fake: true });
  t.teardown(() => s.close());
  const visible = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 40 });
  const authorization = fc.option(
    fc.oneof(visible, visible.map((v) => `Basic ${Buffer.from(v).toString('base64')}`), visible.map((v) => `Basic ${v}`), visible.map((v) => `Bearer ${v}`)),
    { nil: undefined },
  );
  const path = fc.constantFrom('/oauth/token', '/oauth/revoke', '/oauth/introspect', '/identity/resources/auth/v1/api-token', '/identity/resources/auth/v2/api-token/token/refresh', '/auth/vendor');
  await assertAsyncProperty(
    fc.asyncProperty(path, contentType, bytes, authorization, async (p, type, body, auth) => {
      const headers: [string, string][] = [];
      if (type !== undefined) headers.push(['content-type', type]);
      if (auth !== undefined) headers.push(['authorization', auth]);
      const res = await send(`${s.gateway.url}${p}`, { method: 'POST', headers, body });
      const parsed = res.json();
      return res.status >= 400 && res.status < 500 && (typeof parsed['error'] === 'string' || Array.isArray(parsed['errors']));
    }),
    0.25,
  );
});
