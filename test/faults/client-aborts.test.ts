/**
 * Case 45 against the built gateway process, whose open descriptors and heap are measured: 10 000
 * client aborts (half mid-request, half mid-response), then upstream resets, refused connections
 * and malformed answers. Each ends with the process alive and serving, every upstream request of
 * an aborted client aborted, and descriptors and heap back near their baseline after a forced
 * collection (http-proxy #898, #1455, #1559). The in-process detail is in
 * test/security/client-aborts.test.ts.
 */
import { createServer, type IncomingMessage } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import t from 'tap';
import { startProcessScenario, watchResources } from '../helpers/process-resources.js';
import { rawExchange } from '../helpers/raw-http.js';
import { parseResponses } from '../helpers/raw-response.js';
import { waitFor } from '../helpers/wait.js';

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
const PER_FAULT = 200;

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
