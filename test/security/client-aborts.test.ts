/**
 * Case 45: clients that abort mid-request or mid-response, an upstream that resets the connection,
 * and an upstream that answers with malformed bytes. The upstream request is aborted with the
 * client, the client gets 502 without internal details (or a cut connection once the response had
 * begun), no `error` event goes unhandled (it would crash this test process), and sockets return
 * to baseline on both sides (http-proxy #898, #1455, #1559). test/faults/client-aborts.test.ts runs
 * the case's 10 000 aborts against the built process and measures its descriptors and heap.
 */
import { request } from 'node:http';
import t, { type Test } from 'tap';
import { openClientConnections } from '../helpers/gateway.js';
import { rawExchange } from '../helpers/raw-http.js';
import { openRawConnection } from '../helpers/raw-connection.js';
import { parseResponses, statusOfFreshGet } from '../helpers/raw-response.js';
import { startScenario, type Scenario } from '../helpers/scenario.js';
import { waitFor } from '../helpers/wait.js';

const ABORTS = 500;
const BATCH = 50;
/** Upstream pool size: larger than a batch, so every request of a batch is dispatched at once. */
const POOL = 64;

async function scenario(t: Test): Promise<Scenario> {
  const s = await startScenario({ config: { upstream: { connections: POOL } } });
  t.teardown(() => s.close());
  return s;
}

/** Waits until the gateway holds no client socket and the upstream no more than `baseline` sockets. */
async function socketsReleased(t: Test, s: Scenario, baseline: number, label: string): Promise<void> {
  await waitFor(`${label}: client sockets released`, async () => (await openClientConnections(s.gateway)) === 0);
  await waitFor(`${label}: upstream sockets back to the pool's (${baseline})`, () => s.upstream.openConnections() <= baseline);
  t.pass(`${label}: sockets back to baseline on both sides`);
}

/** Warms the pool with one request and returns how many upstream sockets it holds afterwards. */
async function poolBaseline(t: Test, s: Scenario): Promise<number> {
  t.equal(await statusOfFreshGet(s.gateway.port), 200, 'the gateway serves before the test');
  return s.upstream.openConnections();
}

t.test(`${ABORTS} clients abort mid-request: each upstream request is aborted`, async (t) => {
  const s = await scenario(t);
  const baseline = await poolBaseline(t, s);
  const completedBefore = s.upstream.received.length;
  for (let done = 0; done < ABORTS; done += BATCH) {
    const startedBefore = s.upstream.started();
    const clients = Array.from({ length: BATCH }, () => {
      const connection = openRawConnection(s.gateway.port);
      connection.write(`POST /public/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(1000)}`);
      return connection;
    });
    // Abort once the gateway is streaming each body to the upstream: a true mid-request abort.
    await waitFor('every request of the batch to reach the upstream', () => s.upstream.started() >= startedBefore + BATCH);
    for (const connection of clients) connection.destroy();
  }
  t.equal(s.upstream.received.length, completedBefore, 'no aborted request completed at the upstream');
  await socketsReleased(t, s, baseline, 'mid-request aborts');
  t.equal(await statusOfFreshGet(s.gateway.port), 200, 'after mid-request aborts: the gateway still serves');
});

t.test(`${ABORTS} clients abort mid-response: each upstream response is abandoned`, async (t) => {
  const s = await scenario(t);
  const baseline = await poolBaseline(t, s);
  // A large, slow body: 16 KiB every few milliseconds, far more than any client here will read.
  s.upstream.handle((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    let sent = 0;
    const timer = setInterval(() => {
      res.write(Buffer.alloc(16 * 1024, 0x7a));
      sent += 1;
      if (sent === 1000) res.end();
    }, 5);
    res.on('close', () => clearInterval(timer));
  });
  const firstChunk = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: s.gateway.port, path: '/public/stream', agent: false }, (res) => {
        res.on('error', () => undefined);
        res.once('data', () => {
          req.destroy();
          resolve(res.statusCode ?? 0);
        });
      });
      req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
      req.end();
    });
  for (let done = 0; done < ABORTS; done += BATCH) {
    const statuses = await Promise.all(Array.from({ length: BATCH }, firstChunk));
    t.ok(statuses.every((status) => status === 200), `batch ${done / BATCH + 1}: every response had begun`);
  }
  s.upstream.handle(undefined);
  await socketsReleased(t, s, baseline, 'mid-response aborts');
  t.equal(await statusOfFreshGet(s.gateway.port), 200, 'after mid-response aborts: the gateway still serves');
});

t.test('an upstream that resets the connection: 502 before the response, a cut connection after it', async (t) => {
  const s = await scenario(t);
  const baseline = await poolBaseline(t, s);
  s.upstream.handle((req) => req.socket.resetAndDestroy());
  const before = await rawExchange(s.gateway.port, 'GET /public/reset HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const [res] = parseResponses(before.text);
  t.equal(res?.status, 502, 'reset before any answer: 502');
  t.strictSame(res && JSON.parse(res.body), { errors: ['Upstream unavailable'], code: 'ERR_UPSTREAM_UNAVAILABLE' }, 'the constant body, no internal detail');

  s.upstream.handle((req, response) => {
    response.writeHead(200, { 'content-type': 'text/plain' });
    response.write('partial', () => setImmediate(() => req.socket.resetAndDestroy()));
  });
  const after = await rawExchange(s.gateway.port, 'GET /public/reset HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { idleMs: 10_000 });
  t.match(after.text, /^HTTP\/1\.1 200 /, 'reset mid-response: the status line had gone out');
  t.ok(after.closed, 'the connection is cut');
  t.notMatch(after.text, /\r\n0\r\n\r\n$/, 'without the final chunk, so the client knows the body is incomplete');
  s.upstream.handle(undefined);
  await socketsReleased(t, s, baseline, 'upstream resets');
  t.equal(await statusOfFreshGet(s.gateway.port), 200, 'after upstream resets: the gateway still serves');
});

t.test('a malformed upstream response: 502 with no internal detail', async (t) => {
  const s = await scenario(t);
  const baseline = await poolBaseline(t, s);
  const answers = [
    'HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello',
    'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 0\r\n\r\n',
    'HTTP/1.1 2000 OK\r\n\r\n',
    'not http at all\r\n\r\n',
  ];
  for (const answer of answers) {
    s.upstream.handle((req) => req.socket.end(answer));
    const { text } = await rawExchange(s.gateway.port, 'GET /public/malformed HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const [res] = parseResponses(text);
    t.equal(res?.status, 502, `${JSON.stringify(answer)}: 502`);
    t.strictSame(res && JSON.parse(res.body), { errors: ['Upstream unavailable'], code: 'ERR_UPSTREAM_UNAVAILABLE' }, `${JSON.stringify(answer)}: no internal detail`);
  }
  s.upstream.handle(undefined);
  await socketsReleased(t, s, baseline, 'malformed responses');
  t.equal(await statusOfFreshGet(s.gateway.port), 200, 'after malformed responses: the gateway still serves');
});

