/**
 * Case 44: 2 000+ header lines or a single 64 KiB header value → 431/400 (`maxHeadersCount`,
 * `maxHeaderSize`); a body over `server.maxBodyBytes` → 413 `ERR_REQUEST_TOO_LARGE`, refused before
 * any upstream request when its Content-Length says so, and cut (the upstream request aborted) when
 * a chunked body grows past the limit. The connection is closed and the process keeps serving.
 */
import t, { type Test } from 'tap';
import { leakedSecrets } from '../helpers/log-sink.js';
import { rawExchange } from '../helpers/raw-http.js';
import { openRawConnection } from '../helpers/raw-connection.js';
import { parseResponses, statusOfFreshGet } from '../helpers/raw-response.js';
import { startProcessScenario, watchResources } from '../helpers/process-resources.js';
import { startScenario, type Scenario } from '../helpers/scenario.js';
import { waitFor } from '../helpers/wait.js';

const MAX_BODY = 4096;

async function scenario(t: Test): Promise<Scenario> {
  const s = await startScenario({ config: { server: { maxBodyBytes: MAX_BODY } } });
  t.teardown(() => s.close());
  return s;
}

function request(head: string[], body = ''): string {
  return `${head.join('\r\n')}\r\n\r\n${body}`;
}

t.test('header blocks over the byte cap get 431 from Node, the connection closed', async (t) => {
  const s = await scenario(t);
  const cases = [
    { name: '2 000 header lines', lines: Array.from({ length: 2000 }, (_, i) => `X-Filler-${i}: value-${i}`) },
    { name: 'a single 64 KiB header value', lines: [`X-Big: ${'a'.repeat(64 * 1024)}`] },
  ];
  for (const c of cases) {
    const { text, closed } = await rawExchange(s.gateway.port, request(['GET /public/x HTTP/1.1', 'Host: x', ...c.lines]));
    t.strictSame(parseResponses(text).map((r) => r.status), [431], `${c.name}: 431`);
    t.ok(closed, `${c.name}: connection closed`);
    t.equal(await statusOfFreshGet(s.gateway.port), 200, `${c.name}: the gateway still serves`);
  }
  t.equal(s.upstream.received.filter((r) => r.url !== '/public/after').length, 0, 'no oversized request reached the upstream');
});

t.test('2 000 header lines that fit the byte cap: 431 too, not silently cut to the first ones', async (t) => {
  const s = await scenario(t);
  const { text, closed } = await rawExchange(s.gateway.port, request(['GET /public/x HTTP/1.1', 'Host: x', ...Array.from({ length: 2000 }, () => 'a:b')]));
  const [res] = parseResponses(text);
  t.equal(res?.status, 431);
  t.equal(res?.code(), 'ERR_REQUEST_HEADERS_TOO_LARGE');
  t.equal(res?.header('www-authenticate'), undefined, 'no challenge');
  t.ok(closed, 'connection closed');
  t.equal(s.upstream.started(), 0, 'nothing reached the upstream');
  t.equal(await statusOfFreshGet(s.gateway.port), 200, 'many small headers: the gateway still serves');
});

t.test('a second credential line far down the header list is not dropped unseen', async (t) => {
  const s = await scenario(t);
  const good = await s.mint({ type: 'tenantAccessToken' });
  const other = await s.mint({ type: 'tenantAccessToken', claims: { tenantId: 'tenant-other' } });
  // Case 2: two X-API-KEY lines → 400. Were lines past a count cap dropped (Node's
  // maxHeadersCount does that silently), the second one would turn this into a one-credential
  // request; the whole list is refused instead.
  const lines = ['GET /api/x HTTP/1.1', 'Host: x', `X-API-KEY: ${good}`, ...Array.from({ length: 250 }, () => 'a:b'), `X-API-KEY: ${other}`, 'Connection: close'];
  const { text, closed } = await rawExchange(s.gateway.port, request(lines));
  const [res] = parseResponses(text);
  t.equal(res?.status, 431);
  t.equal(res?.code(), 'ERR_REQUEST_HEADERS_TOO_LARGE');
  t.ok(closed, 'connection closed');
  t.equal(s.upstream.started(), 0, 'nothing reached the upstream');
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [good, other]), [], 'no token in the logs');
});

t.test('a Content-Length over maxBodyBytes: 413 before any upstream request', async (t) => {
  const s = await scenario(t);
  const token = await s.mint({ type: 'tenantAccessToken' });
  const cases = [
    { name: 'public route', head: ['POST /public/upload HTTP/1.1', 'Host: x'] },
    { name: 'protected route', head: ['POST /api/upload HTTP/1.1', 'Host: x', `X-API-KEY: ${token}`] },
  ];
  for (const c of cases) {
    // Only the headers: the answer must not wait for a body it is going to refuse.
    const { text, closed } = await rawExchange(s.gateway.port, request([...c.head, `Content-Length: ${MAX_BODY + 1}`]));
    const [res] = parseResponses(text);
    t.equal(res?.status, 413, `${c.name}: 413`);
    t.equal(res?.code(), 'ERR_REQUEST_TOO_LARGE', `${c.name}: code`);
    t.equal(res?.header('www-authenticate'), undefined, `${c.name}: no challenge`);
    t.equal(res?.header('connection'), 'close', `${c.name}: the unread body is not drained`);
    t.ok(closed, `${c.name}: connection closed`);
  }
  t.equal(s.upstream.started(), 0, 'the upstream saw no request at all');
  t.equal(await statusOfFreshGet(s.gateway.port), 200, 'declared oversize: the gateway still serves');
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [token]), [], 'no token in the logs');
});

t.test('a chunked body that grows past maxBodyBytes: 413 and the upstream request aborted', async (t) => {
  const s = await scenario(t);
  const chunk = `400\r\n${'x'.repeat(1024)}\r\n`;
  const connection = openRawConnection(s.gateway.port);
  // Half the limit first, so the upstream request is under way when the body outgrows it.
  connection.write(`${['POST /public/upload HTTP/1.1', 'Host: x', 'Transfer-Encoding: chunked'].join('\r\n')}\r\n\r\n${chunk.repeat(MAX_BODY / 2048)}`);
  await waitFor('the upstream request to begin', () => s.upstream.started() === 1);
  connection.write(`${chunk.repeat(MAX_BODY / 2048 + 1)}0\r\n\r\n`);
  const { text, closed } = await connection.outcome;
  const [res] = parseResponses(text);
  t.equal(res?.status, 413, '413: nothing had been answered yet');
  t.equal(res?.code(), 'ERR_REQUEST_TOO_LARGE');
  t.ok(closed, 'connection closed');
  t.equal(s.upstream.received.length, 0, 'the upstream request never completed: it was aborted');
  await waitFor('the aborted upstream socket to close', () => s.upstream.openConnections() === 0);
  t.equal(await statusOfFreshGet(s.gateway.port), 200, 'chunked oversize: the gateway still serves');
});

t.test('a body of exactly maxBodyBytes passes whole, declared or chunked', async (t) => {
  const s = await scenario(t);
  const body = 'y'.repeat(MAX_BODY);
  const declared = await rawExchange(s.gateway.port, request(['POST /public/upload HTTP/1.1', 'Host: x', `Content-Length: ${MAX_BODY}`, 'Connection: close'], body));
  t.equal(parseResponses(declared.text)[0]?.status, 200, 'declared: 200');
  const chunked = await rawExchange(
    s.gateway.port,
    request(['POST /public/upload HTTP/1.1', 'Host: x', 'Transfer-Encoding: chunked', 'Connection: close'], `${MAX_BODY.toString(16)}\r\n${body}\r\n0\r\n\r\n`),
  );
  t.equal(parseResponses(chunked.text)[0]?.status, 200, 'chunked: 200');
  t.strictSame(s.upstream.received.map((r) => r.body.length), [MAX_BODY, MAX_BODY], 'both bodies arrived whole');
});

/** Oversized requests of each kind against a gateway process. */
const OVERSIZED = 100;
const OVERSIZED_WAVE = 50;

t.test(`${OVERSIZED} oversized requests of each kind against a gateway process: refused, alive, fds and heap back to baseline`, async (t) => {
  const s = await startProcessScenario(t, { config: { server: { maxBodyBytes: MAX_BODY } } });
  const port = Number(new URL(s.gateway.url).port);
  await s.stillServes(t, 'before');
  const watch = await watchResources(s.gateway);
  const chunk = `400\r\n${'x'.repeat(1024)}\r\n`;
  const cases = [
    { name: '2 000 header lines', bytes: request(['GET /public/x HTTP/1.1', 'Host: x', ...Array.from({ length: 2000 }, (_, i) => `X-Filler-${i}: value-${i}`)]), status: 431 },
    { name: 'a 64 KiB header value', bytes: request(['GET /public/x HTTP/1.1', 'Host: x', `X-Big: ${'a'.repeat(64 * 1024)}`]), status: 431 },
    { name: 'a declared body over the limit', bytes: request(['POST /public/upload HTTP/1.1', 'Host: x', `Content-Length: ${MAX_BODY * 1000}`], 'x'.repeat(MAX_BODY)), status: 413 },
    { name: 'a chunked body over the limit', bytes: request(['POST /public/upload HTTP/1.1', 'Host: x', 'Transfer-Encoding: chunked'], `${chunk.repeat(MAX_BODY / 1024 + 1)}0\r\n\r\n`), status: 413 },
  ];
  for (const c of cases) {
    const outcomes = new Map<string, number>();
    for (let done = 0; done < OVERSIZED; done += OVERSIZED_WAVE) {
      const answers = await Promise.all(Array.from({ length: OVERSIZED_WAVE }, () => rawExchange(port, c.bytes, { idleMs: 30_000 })));
      for (const { text, closed } of answers) {
        const key = `${closed ? 'closed' : 'open'} ${parseResponses(text).map((r) => r.status).join(',')}`;
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      }
    }
    t.strictSame(Object.fromEntries(outcomes), { [`closed ${c.status}`]: OVERSIZED }, `${c.name}: ${OVERSIZED} × ${c.status}, connection closed`);
  }
  t.equal(s.upstream.received.filter((r) => r.url !== '/api/after').length, 0, 'no oversized request completed at the upstream');
  await waitFor('the upstream sockets to close', () => s.upstream.openConnections() <= 1, { timeoutMs: 30_000 });
  await watch.settled(t, 'oversized requests');
  await s.stillServes(t, 'after oversized requests');
});
