/**
 * Case 41: the smuggling payloads themselves are refused by Node's parser before any decision
 * (the HTTP-level tests below, over raw sockets). What the decision guarantees is that the client's framing
 * never reaches the upstream: `Transfer-Encoding`, `TE` and `Trailer` are dropped, so the
 * forwarder frames the body it streams itself and the two hops cannot disagree (RFC 9112 §6.3).
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { rawHeaderValues, startEchoUpstream } from '../../scripts/echo-upstream.js';
import { createForwarder, type ForwardResult } from '../../src/proxy/forward.js';
import { compiledConfig, route } from '../helpers/compiled-config.js';
import { requestFacts, testDecider } from '../helpers/decide-fixtures.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { openRawConnection } from '../helpers/raw-connection.js';
import { rawExchange } from '../helpers/raw-http.js';
import { parseResponses, statusOfFreshGet } from '../helpers/raw-response.js';
import { startScenario } from '../helpers/scenario.js';
import { waitFor } from '../helpers/wait.js';

const routes = [route({ name: 'public', pathPrefix: '/', auth: null })];

t.test('the client framing headers are never forwarded', async (t) => {
  const cases: [string, string][][] = [
    [['Transfer-Encoding', 'chunked']],
    [['transfer-encoding', 'chunked'], ['Transfer-Encoding', 'identity']],
    [['Transfer_Encoding', 'chunked']],
    [['TE', 'trailers'], ['Trailer', 'Content-Length']],
  ];
  for (const lines of cases) {
    const { decide } = testDecider({ routes });
    const d = await decide(requestFacts({ method: 'POST', url: '/x', headers: [['Host', 'h'], ...lines] }));
    if (!d.allow) {
      t.fail(d.error.code);
      continue;
    }
    t.strictSame(Object.keys(d.headers).sort(), ['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-request-id'], JSON.stringify(lines));
  }
});

t.test('a single Content-Length is kept so the body is framed the same way', async (t) => {
  const { decide } = testDecider({ routes });
  const d = await decide(requestFacts({ method: 'POST', url: '/x', headers: [['Host', 'h'], ['Content-Length', '5']] }));
  t.equal(d.allow && d.headers['content-length'], '5');
});

// HTTP level: raw bytes on a socket. Node's strict parser (never `insecureHTTPParser`) must refuse
// every ambiguous framing with 400 and close the connection, so the request hidden behind it is
// never parsed, and nothing of it is forwarded.

t.test('Node runs with its strict HTTP parser, here and wherever the gateway is started', async (t) => {
  const flag = '--insecure-http-parser';
  t.notOk(process.execArgv.some((a) => a.startsWith(flag)), 'not in this process');
  t.notOk((process.env['NODE_OPTIONS'] ?? '').includes(flag), 'not in NODE_OPTIONS');
  // The server pins `insecureHTTPParser: false`, which wins over the process-wide flag; the
  // start commands must not add the flag either, nor a lenient maxHeaderSize.
  for (const file of ['Dockerfile', 'package.json']) {
    const text = await readFile(file, 'utf8');
    t.notOk(text.includes('insecure-http-parser') || text.includes('max-http-header-size'), `not in ${file}`);
  }
});

const SMUGGLED = 'GET /admin/smuggled HTTP/1.1\r\nHost: x\r\n\r\n';

/**
 * `inBody`: the header section is well-formed and the framing breaks only inside the chunked body.
 * Bodies are streamed, so the upstream may already have the headers of that request when the
 * break is parsed; the request is then aborted, never completed.
 */
const PAYLOADS: { name: string; bytes: string; inBody?: true }[] = [
  { name: 'Content-Length plus Transfer-Encoding: chunked', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}` },
  { name: 'Transfer-Encoding: chunked, then Content-Length', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n${SMUGGLED}` },
  { name: 'two different Content-Length values', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}` },
  { name: 'the same Content-Length twice', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello${SMUGGLED}` },
  { name: 'Content-Length: +5', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello${SMUGGLED}` },
  { name: 'Content-Length: 5, 5', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello${SMUGGLED}` },
  { name: 'Content-Length: 5 5', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5 5\r\n\r\nhello${SMUGGLED}` },
  { name: 'Content-Length: 0x5', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nContent-Length: 0x5\r\n\r\nhello${SMUGGLED}` },
  { name: 'Content-Length: -1', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\nhello${SMUGGLED}` },
  { name: 'a Content-Length past 2^64', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\nhello${SMUGGLED}` },
  { name: 'a NUL after Content-Length', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\x00\r\n\r\nhello${SMUGGLED}` },
  { name: 'Transfer-Encoding: chunked, identity', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${SMUGGLED}` },
  { name: 'Transfer-Encoding: chunked, then a second Transfer-Encoding line', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n${SMUGGLED}` },
  { name: 'Transfer-Encoding: chunked twice', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}` },
  { name: 'Transfer-Encoding: xchunked', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n${SMUGGLED}` },
  { name: 'Transfer-Encoding: "chunked"', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "chunked"\r\n\r\n0\r\n\r\n${SMUGGLED}` },
  { name: 'Transfer-Encoding: chunked;x=1', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked;x=1\r\n\r\n0\r\n\r\n${SMUGGLED}` },
  { name: 'a vertical tab before chunked', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n${SMUGGLED}` },
  { name: 'a space before the colon (Transfer-Encoding : chunked)', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n${SMUGGLED}` },
  { name: 'a space inside the name (Content Length: 5)', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nContent Length: 5\r\n\r\nhello${SMUGGLED}` },
  { name: 'a leading-space header line ( Content-Length: n)', bytes: `POST /public/x HTTP/1.1\r\n Content-Length: ${SMUGGLED.length}\r\nHost: x\r\n\r\n${SMUGGLED}` },
  { name: 'LF-only line endings', bytes: `POST /public/x HTTP/1.1\nHost: x\nContent-Length: ${SMUGGLED.length}\n\n${SMUGGLED}` },
  { name: 'a bare LF ending the request line', bytes: `POST /public/x HTTP/1.1\nHost: x\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}` },
  { name: 'a bare LF ending one header line', bytes: `POST /public/x HTTP/1.1\r\nHost: x\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}` },
  { name: 'a bare LF ending the header section', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nContent-Length: ${SMUGGLED.length}\r\n\n${SMUGGLED}` },
  { name: 'CR-only line endings', bytes: `POST /public/x HTTP/1.1\rHost: x\rContent-Length: ${SMUGGLED.length}\r\r${SMUGGLED}` },
  { name: 'a bare CR inside a header value', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nX-A: a\rContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}` },
  { name: 'an obs-fold continuation line', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n Content-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}` },
  { name: 'an obs-fold continuing Transfer-Encoding', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n chunked\r\n\r\n0\r\n\r\n${SMUGGLED}` },
  { name: 'a tab obs-fold', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n\tb\r\n\r\n${SMUGGLED}` },
  { name: 'a chunk extension with a quoted CRLF', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext="a\r\n0\r\n\r\n${SMUGGLED}"\r\nhello\r\n0\r\n\r\n`, inBody: true },
  { name: 'a chunk extension ended by a bare LF', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a\nhello\r\n0\r\n\r\n${SMUGGLED}`, inBody: true },
  { name: 'a chunk size ended by a bare LF', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n${SMUGGLED}`, inBody: true },
  { name: 'a chunk size with trailing space', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n${SMUGGLED}`, inBody: true },
  { name: 'a chunk size in 0x form', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n${SMUGGLED}`, inBody: true },
  { name: 'an oversized chunk size', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF0\r\nhello\r\n0\r\n\r\n${SMUGGLED}`, inBody: true },
  { name: 'chunk data longer than its size', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n${SMUGGLED}`, inBody: true },
  { name: 'a Content-Length in the chunked trailer', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`, inBody: true },
];

/** The request that opens every connection below: proof that the payload, not the connection, was refused. */
const FIRST = 'POST /public/first HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nping';

t.test('over HTTP: every smuggling payload gets 400 and a closed connection; the upstream records exactly the one request before it', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  for (const p of PAYLOADS) {
    const before = s.upstream.received.length;
    const startedBefore = s.upstream.started();
    const conn = openRawConnection(s.gateway.port);
    // The payload follows an answered request on a kept-alive connection, as a smuggler's would.
    conn.write(FIRST);
    await waitFor(`${p.name}: the first answer`, () => parseResponses(conn.received()).length === 1 || conn.closed());
    conn.write(p.bytes);
    const { text, closed } = await conn.outcome;
    const responses = parseResponses(text);
    t.strictSame(responses.map((r) => r.status), [200, 400], `${p.name}: 200 for the first request, 400 for the payload, nothing for what it hides`);
    t.equal(responses[1]?.header('connection'), 'close', `${p.name}: announced close`);
    t.ok(closed, `${p.name}: connection closed`);
    t.strictSame(
      s.upstream.received.slice(before).map((r) => ({ url: r.url, body: r.body })),
      [{ url: '/public/first', body: 'ping' }],
      `${p.name}: the upstream recorded exactly one request, the first`,
    );
    const started = s.upstream.started() - startedBefore;
    if (p.inBody) t.ok(started === 1 || started === 2, `${p.name}: at most the payload's own headers, aborted (started ${started})`);
    else t.equal(started, 1, `${p.name}: not even the headers of another`);
  }
  t.notOk(
    s.gateway.logs.entries().some((e) => typeof e['path'] === 'string' && e['path'].includes('smuggled')),
    'the smuggled request was never parsed as a request',
  );
  t.equal(await statusOfFreshGet(s.gateway.port), 200, 'the gateway still serves');
});

/**
 * Framings that are unusual but unambiguous (RFC 9112 §6-§7) are accepted as Node reads them: the
 * body is decoded once, forwarded under the gateway's own framing, and the request written after
 * it is a request of its own, authorised on its own (here 401, never forwarded).
 */
const ACCEPTED: { name: string; bytes: string; body: string }[] = [
  { name: 'Transfer-Encoding: CHUNKED', bytes: 'POST /public/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: CHUNKED\r\n\r\n5\r\nhello\r\n0\r\n\r\n', body: 'hello' },
  { name: 'a tab before chunked', bytes: 'POST /public/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\tchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', body: 'hello' },
  { name: 'chunked as the final of two codings', bytes: 'POST /public/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', body: 'hello' },
  { name: 'a chunk extension', bytes: 'POST /public/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n0\r\n\r\n', body: 'hello' },
  { name: 'a quoted chunk extension', bytes: 'POST /public/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;name="v a"\r\nhello\r\n0\r\n\r\n', body: 'hello' },
  { name: 'a chunked trailer field', bytes: 'POST /public/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n', body: 'hello' },
  { name: 'Content-Length with leading zeros', bytes: 'POST /public/x HTTP/1.1\r\nHost: x\r\nContent-Length: 05\r\n\r\nhello', body: 'hello' },
  { name: 'Content-Length with trailing whitespace', bytes: 'POST /public/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5 \r\n\r\nhello', body: 'hello' },
  { name: 'a GET whose body looks like a request', bytes: `GET /public/x HTTP/1.1\r\nHost: x\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`, body: SMUGGLED },
];

t.test('over HTTP: an unambiguous framing is forwarded once, re-framed, and what follows it is its own request', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  for (const a of ACCEPTED) {
    const before = s.upstream.received.length;
    const { text } = await rawExchange(s.gateway.port, `${a.bytes}GET /admin/smuggled HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    t.strictSame(parseResponses(text).map((r) => r.status), [200, 401], `${a.name}: 200, then 401 for the request after it`);
    const seen = s.upstream.received.slice(before);
    t.strictSame(seen.map((r) => ({ url: r.url, body: r.body })), [{ url: '/public/x', body: a.body }], `${a.name}: exactly one request, with the decoded body`);
    t.equal(rawHeaderValues(seen[0]!, 'x-trailer').length, 0, `${a.name}: no trailer field becomes a header`);
    const te = rawHeaderValues(seen[0]!, 'transfer-encoding');
    const cl = rawHeaderValues(seen[0]!, 'content-length');
    t.ok(
      (te.length === 0 && cl.length === 1 && cl[0] === String(Buffer.byteLength(a.body))) || (cl.length === 0 && te.length === 1 && te[0] === 'chunked'),
      `${a.name}: framed once by the gateway (got TE ${JSON.stringify(te)}, CL ${JSON.stringify(cl)})`,
    );
  }
});

t.test('over HTTP: each pipelined request is authorised on its own', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  const admin = await s.mint({ type: 'tenantAccessToken', claims: { roles: ['admin'] } });
  const cases: { name: string; first: string; firstStatus: number; firstPath: string }[] = [
    { name: 'a public request, then a protected one', first: 'GET /public/x HTTP/1.1\r\nHost: x\r\n\r\n', firstStatus: 200, firstPath: '/public/x' },
    // The first request's credential belongs to it alone, not to the connection.
    { name: 'an authenticated request, then one without a credential', first: `GET /api/x HTTP/1.1\r\nHost: x\r\nX-API-KEY: ${admin}\r\n\r\n`, firstStatus: 200, firstPath: '/api/x' },
  ];
  for (const c of cases) {
    const before = s.upstream.received.length;
    const { text } = await rawExchange(s.gateway.port, `${c.first}GET /admin/smuggled HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    const responses = parseResponses(text);
    t.strictSame(responses.map((r) => r.status), [c.firstStatus, 401], `${c.name}: ${c.firstStatus} then 401`);
    t.equal(responses[1]?.header('www-authenticate'), 'Bearer realm="m2m-gateway"', `${c.name}: bare challenge`);
    t.equal(responses[1]?.code(), 'ERR_AUTH_MISSING', `${c.name}: code`);
    t.strictSame(s.upstream.received.slice(before).map((r) => r.url), [c.firstPath], `${c.name}: only the first reached the upstream`);
  }
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [admin]), [], 'no token in the logs');
});

t.test('a request whose connection closed before it was forwarded never reaches the upstream', async (t) => {
  // The listener closes a connection whose bytes after the headers are malformed (above), and a
  // client may leave on its own, while the decision for the request is still running. Its answer
  // can no longer be delivered, so forwarding it would only hand the upstream an orphan request.
  const upstream = await startEchoUpstream();
  t.teardown(() => upstream.close());
  const forwarder = createForwarder(compiledConfig({ routes: [] }).upstream, { maxBodyBytes: 1024 }, { now: () => performance.now() });
  t.teardown(() => forwarder.close());
  const results: ForwardResult[] = [];
  let arrived = 0;
  const server = createServer((req, res) => {
    arrived++;
    req.socket.once('close', () => {
      void forwarder.forward(req, res, route({ name: 'public', pathPrefix: '/', upstream: upstream.url, auth: null }), req.url ?? '/', { 'x-request-id': 'r' }).then((r) => results.push(r));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;
  const requests = ['GET /public/gone HTTP/1.1\r\nHost: x\r\n\r\n', 'POST /public/gone HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel'];
  for (const [i, bytes] of requests.entries()) {
    const conn = openRawConnection(port);
    conn.write(bytes);
    await waitFor('the request to arrive', () => arrived === i + 1);
    conn.destroy();
    await conn.outcome;
  }
  await waitFor('both forward attempts to settle', () => results.length === 2);
  t.strictSame(results.map((r) => r.upstreamMs), [undefined, undefined], 'no upstream answer was waited for');
  t.equal(upstream.started(), 0, 'the upstream saw neither request');
  t.equal(upstream.connections(), 0, 'nor a connection');
});
