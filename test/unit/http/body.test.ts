import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import t from 'tap';
import { parseForm, parseJsonObject, readBody } from '../../../src/http/body.js';

/** Token API body parsing: JSON objects with typed fields, RFC 6749 §3.2 forms, the 8 KiB cap. */

function req(contentType: string | undefined, chunks: string[] = [], headers: Record<string, string> = {}): IncomingMessage {
  const stream = Readable.from(chunks.map((c) => Buffer.from(c))) as unknown as IncomingMessage;
  (stream as { headers: Record<string, string> }).headers = { ...(contentType === undefined ? {} : { 'content-type': contentType }), ...headers };
  return stream;
}

const SPEC = { name: 'string', note: 'nullableString', meta: 'object', minutes: 'positiveInteger', ids: 'stringArray' } as const;

t.test('readBody refuses more than the limit, declared or streamed', async (t) => {
  t.equal((await readBody(req('x', ['ab', 'cd']), 8)).toString(), 'abcd');
  await t.rejects(readBody(req('x', ['a'.repeat(9)]), 8), { code: 'ERR_REQUEST_TOO_LARGE' });
  await t.rejects(readBody(req('x', [], { 'content-length': '9000' })), { code: 'ERR_REQUEST_TOO_LARGE' });
});

t.test('parseJsonObject: every problem at once, each naming its field, never the value', async (t) => {
  const json = (text: string, type = 'application/json; charset=utf-8') => parseJsonObject(req(type), Buffer.from(text), SPEC, ['name']);
  t.strictSame(json('{"name":"a","note":null,"meta":{},"minutes":5,"ids":["x"]}'), { name: 'a', note: null, meta: {}, minutes: 5, ids: ['x'] });
  const cases: [string, string, string[]][] = [
    ['wrong types', '{"name":1,"note":2,"meta":[],"minutes":0,"ids":[1]}', ['name: must be a string', 'note: must be a string', 'meta: must be an object', 'minutes: must be a whole number > 0', 'ids: must be an array of strings']],
    ['unknown and missing', '{"secretValue123":"x"}', ['secretValue123: unknown field', 'name: is required']],
    ['an unknown field with a hostile name', '{"name":"a","<script>":1}', ['(a field with an unusual name): unknown field']],
    ['not an object', '[1]', ['body must be a JSON object']],
    ['null', 'null', ['body must be a JSON object']],
    ['not JSON', '{"name":', ['body is not valid JSON']],
    ['a duplicate member', '{"name":"a","name":"b"}', ['body has a duplicate member']],
    ['a fractional number', '{"name":"a","minutes":1.5}', ['minutes: must be a whole number > 0']],
  ];
  for (const [name, text, problems] of cases) {
    t.throws(() => json(text), { code: 'ERR_VALIDATION', problems }, name);
  }
  t.throws(() => json('{"name":"a"}', 'text/plain'), { code: 'ERR_VALIDATION', problems: ['content-type must be application/json'] });
  t.strictSame(parseJsonObject(req(undefined), Buffer.alloc(0), SPEC), {}, 'an empty body is an empty object when nothing is required');
});

t.test('parseForm: form-encoded only, no repeats, empty values omitted (RFC 6749 §3.1)', async (t) => {
  const form = (text: string, type = 'application/x-www-form-urlencoded') => parseForm(req(type), Buffer.from(text));
  t.strictSame([...form('grant_type=client_credentials&scope=&client_id=a%3Ab')], [
    ['grant_type', 'client_credentials'],
    ['client_id', 'a:b'],
  ]);
  t.throws(() => form('a=1&a=2'), { code: 'ERR_TOKEN_INVALID_REQUEST' });
  t.throws(() => form('{"a":1}', 'application/json'), { code: 'ERR_TOKEN_INVALID_REQUEST' });
  t.throws(() => form('a=1', 'multipart/form-data; boundary=x'), { code: 'ERR_TOKEN_INVALID_REQUEST' });
});
