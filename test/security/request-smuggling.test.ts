/**
 * Case 41: the smuggling payloads themselves are refused by Node's parser before any decision
 * (the HTTP-level tests below, over raw sockets). What the decision guarantees is that the client's framing
 * never reaches the upstream: `Transfer-Encoding`, `TE` and `Trailer` are dropped, so the
 * forwarder frames the body it streams itself and the two hops cannot disagree (RFC 9112 §6.3).
 */
import t from 'tap';
import { route } from '../helpers/compiled-config.js';
import { requestFacts, testDecider } from '../helpers/decide-fixtures.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { rawExchange } from '../helpers/raw-http.js';
import { parseResponses, statusOfFreshGet } from '../helpers/raw-response.js';
import { startScenario } from '../helpers/scenario.js';

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
// never parsed, and nothing at all is forwarded.

const SMUGGLED = 'GET /admin/smuggled HTTP/1.1\r\nHost: x\r\n\r\n';

const PAYLOADS: { name: string; bytes: string }[] = [
  { name: 'Content-Length plus Transfer-Encoding: chunked', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}` },
  { name: 'two different Content-Length values', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}` },
  { name: 'Content-Length: +5', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello${SMUGGLED}` },
  { name: 'Content-Length: 5, 5', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello${SMUGGLED}` },
  { name: 'Transfer-Encoding: chunked, identity', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${SMUGGLED}` },
  { name: 'Transfer-Encoding: xchunked', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n${SMUGGLED}` },
  { name: 'a space before the colon (Transfer-Encoding : chunked)', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n${SMUGGLED}` },
  { name: 'a leading-space header line ( Content-Length: n)', bytes: `POST /public/x HTTP/1.1\r\n Content-Length: ${SMUGGLED.length}\r\nHost: x\r\n\r\n${SMUGGLED}` },
  { name: 'LF-only line endings', bytes: `POST /public/x HTTP/1.1\nHost: x\nContent-Length: ${SMUGGLED.length}\n\n${SMUGGLED}` },
  { name: 'CR-only line endings', bytes: `POST /public/x HTTP/1.1\rHost: x\rContent-Length: ${SMUGGLED.length}\r\r${SMUGGLED}` },
  { name: 'an obs-fold continuation line', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n Content-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}` },
  { name: 'a chunk extension with a quoted CRLF', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext="a\r\n0\r\n\r\n${SMUGGLED}"\r\nhello\r\n0\r\n\r\n` },
  { name: 'an oversized chunk size', bytes: `POST /public/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF0\r\nhello\r\n0\r\n\r\n${SMUGGLED}` },
];

t.test('over HTTP: every smuggling payload gets 400, the connection closed, and nothing reaches the upstream', async (t) => {
  const s = await startScenario();
  t.teardown(() => s.close());
  for (const p of PAYLOADS) {
    const { text, closed } = await rawExchange(s.gateway.port, p.bytes);
    const responses = parseResponses(text);
    t.strictSame(responses.map((r) => r.status), [400], `${p.name}: one answer, 400`);
    t.equal(responses[0]?.header('connection'), 'close', `${p.name}: announced close`);
    t.ok(closed, `${p.name}: connection closed`);
  }
  t.strictSame(s.upstream.received, [], 'the upstream received no request');
  t.equal(s.upstream.started(), 0, 'not even the headers of one');
  t.notOk(
    s.gateway.logs.entries().some((e) => typeof e['path'] === 'string' && e['path'].includes('smuggled')),
    'the smuggled request was never parsed as a request',
  );
  t.equal(await statusOfFreshGet(s.gateway.port), 200, 'the gateway still serves');
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
