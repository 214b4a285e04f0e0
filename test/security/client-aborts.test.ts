/**
 * Case 45: clients that abort mid-request or mid-response, an upstream that resets the connection,
 * and an upstream that answers with malformed bytes. The upstream request is aborted with the
 * client, the client gets 502 without internal details (or a cut connection once the response had
 * begun), no `error` event goes unhandled (it would crash this test process), and sockets return
 * to baseline on both sides (http-proxy #898, #1455, #1559).
 */
import { createServer, request, type IncomingMessage } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { openClientConnections } from '../helpers/gateway.js';
import { rawExchange } from '../helpers/raw-http.js';
import { openRawConnection } from '../helpers/raw-connection.js';
import { startProcessScenario, watchResources } from '../helpers/process-resources.js';
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

/** Aborts of each kind against a gateway process, whose descriptors and heap are measured: 10 000 in all. */
const PROCESS_ABORTS = 5000;
/** Concurrent sockets per wave of the process test. */
const WAVE = 500;

t.test(`${2 * PROCESS_ABORTS} aborts, half mid-request and half mid-response, against a gateway process: alive, fds and heap back to baseline`, async (t) => {
  const s = await startProcessScenario(t, { config: { upstream: { connections: WAVE + 6 } } });
  const port = Number(new URL(s.gateway.url).port);
  await s.stillServes(t, 'before');
  const upstreamBaseline = s.upstream.openConnections();

  const started = performance.now();
  const midRequest = await watchResources(s.gateway);
  const completedBefore = s.upstream.received.length;
  for (let done = 0; done < PROCESS_ABORTS; done += WAVE) {
    const startedBefore = s.upstream.started();
    const sockets = Array.from({ length: WAVE }, () => {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.write(`POST /public/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(1000)}`);
      return socket;
    });
    await waitFor('every request of the wave to reach the upstream', () => s.upstream.started() >= startedBefore + WAVE, { timeoutMs: 30_000 });
    for (const socket of sockets) socket.destroy();
  }
  t.equal(s.upstream.received.length, completedBefore, 'no aborted request completed at the upstream');
  await waitFor('the upstream sockets of the aborted requests to close', () => s.upstream.openConnections() <= upstreamBaseline, { timeoutMs: 30_000 });
  t.comment(`mid-request aborts sent in ${Math.round(performance.now() - started)} ms`);
  await midRequest.settled(t, `${PROCESS_ABORTS} mid-request aborts`);
  await s.stillServes(t, 'after mid-request aborts');

  // Mid-response: the upstream streams a large body slowly; each client reads the first bytes and leaves.
  let abandoned = 0;
  s.upstream.handle((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const timer = setInterval(() => res.write(Buffer.alloc(16 * 1024, 0x7a)), 20);
    res.on('close', () => {
      clearInterval(timer);
      if (!res.writableFinished) abandoned += 1;
    });
  });
  const midResponse = await watchResources(s.gateway);
  const firstBytes = () =>
    new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => resolve(''));
      socket.once('data', (chunk: Buffer) => {
        socket.destroy();
        resolve(chunk.toString('latin1', 0, 12));
      });
      socket.write('GET /public/stream HTTP/1.1\r\nHost: x\r\n\r\n');
    });
  let begun = 0;
  for (let done = 0; done < PROCESS_ABORTS; done += WAVE) {
    const heads = await Promise.all(Array.from({ length: WAVE }, firstBytes));
    begun += heads.filter((head) => head === 'HTTP/1.1 200').length;
  }
  t.comment(`mid-response aborts sent in ${Math.round(performance.now() - started)} ms from the start`);
  t.equal(begun, PROCESS_ABORTS, 'every response had begun when its client left');
  await waitFor('the upstream to see every abandoned response closed', () => abandoned === PROCESS_ABORTS, { timeoutMs: 30_000 });
  t.pass(`the upstream saw all ${PROCESS_ABORTS} abandoned responses closed`);
  s.upstream.handle(undefined);
  await waitFor('the upstream sockets to close', () => s.upstream.openConnections() <= upstreamBaseline, { timeoutMs: 30_000 });
  await midResponse.settled(t, `${PROCESS_ABORTS} mid-response aborts`);
  await s.stillServes(t, 'after mid-response aborts');
});

/** Requests per upstream fault in the process test, `WAVE` at a time. */
const PER_FAULT = 500;

t.test(`${PER_FAULT} requests per upstream fault against a gateway process: 502 without detail, alive, fds and heap back to baseline`, async (t) => {
  // A port nothing listens on: bound once, then released.
  const closed = await new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
  const s = await startProcessScenario(t, {
    config: { upstream: { connections: WAVE } },
    routes: () => [{ name: 'refused', pathPrefix: '/refused', upstream: `http://127.0.0.1:${closed}`, auth: 'none' }],
  });
  const port = Number(new URL(s.gateway.url).port);
  await s.stillServes(t, 'before');
  const upstreamBaseline = s.upstream.openConnections();
  const watch = await watchResources(s.gateway);
  const faults: { name: string; path: string; answer?: (req: IncomingMessage) => void }[] = [
    { name: 'reset before answering', path: '/public/reset', answer: (req) => req.socket.resetAndDestroy() },
    { name: 'malformed answer', path: '/public/malformed', answer: (req) => req.socket.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello') },
    { name: 'not HTTP at all', path: '/public/garbage', answer: (req) => req.socket.end('not http at all\r\n\r\n') },
    { name: 'connection refused', path: '/refused/x' },
  ];
  for (const fault of faults) {
    s.upstream.handle(fault.answer);
    const bodies = new Map<string, number>();
    for (let done = 0; done < PER_FAULT; done += WAVE) {
      const answers = await Promise.all(
        Array.from({ length: Math.min(WAVE, PER_FAULT - done) }, () => rawExchange(port, `GET ${fault.path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, { idleMs: 30_000 })),
      );
      for (const { text } of answers) {
        const [res] = parseResponses(text);
        const key = `${res?.status} ${res?.body}`;
        bodies.set(key, (bodies.get(key) ?? 0) + 1);
      }
    }
    t.strictSame(Object.fromEntries(bodies), { '502 {"errors":["Upstream unavailable"],"code":"ERR_UPSTREAM_UNAVAILABLE"}': PER_FAULT }, `${fault.name}: ${PER_FAULT} × 502, the constant body`);
  }
  s.upstream.handle(undefined);
  await waitFor('the upstream sockets to close', () => s.upstream.openConnections() <= upstreamBaseline, { timeoutMs: 30_000 });
  await watch.settled(t, 'upstream faults');
  await s.stillServes(t, 'after upstream faults');
});
