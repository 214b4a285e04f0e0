/**
 * Case 43: slowloris and slow bodies. Headers sent a byte at a time are cut once
 * `server.headersTimeoutMs` passes, a body trickle once `server.requestTimeoutMs` passes, the
 * connection cap holds, and an upstream that never answers gets 504 at `upstream.headersTimeoutMs`.
 * Every socket is released and the gateway keeps serving (Node CVE-2018-12122; OWASP API4:2023).
 *
 * The assertions are on outcomes (408/504, closed, released), never on elapsed time; each wait is
 * bounded so a regression fails instead of hanging.
 */
import t from 'tap';
import { startEchoUpstream } from '../../scripts/echo-upstream.js';
import { openClientConnections } from '../helpers/gateway.js';
import { leakedSecrets } from '../helpers/log-sink.js';
import { rawExchange } from '../helpers/raw-http.js';
import { openRawConnection } from '../helpers/raw-connection.js';
import { parseResponses, statusOfFreshGet } from '../helpers/raw-response.js';
import { metricSeries, seriesValue, startProcessScenario, watchResources } from '../helpers/process-resources.js';
import { startScenario } from '../helpers/scenario.js';
import { waitFor } from '../helpers/wait.js';

/** Far above every configured timeout below: reaching it means the gateway never closed. */
const GIVE_UP_MS = 15_000;

/**
 * Small bounds so each case ends quickly. The short upstream keep-alive matters too: after an
 * aborted request the pool may open a fresh idle connection, which is released only when idle.
 */
const TIMEOUTS = { server: { headersTimeoutMs: 1000, requestTimeoutMs: 2000 }, upstream: { headersTimeoutMs: 500, keepAliveTimeoutMs: 500 } };

/**
 * Writes `prefix` at once, then `trickle` one byte per `pauseMs`, until the server closes the
 * connection or `GIVE_UP_MS` passes. Resolves with what the server answered and whether it closed.
 */
async function slowClient(port: number, prefix: string, trickle: string, pauseMs: number): Promise<{ text: string; closed: boolean }> {
  const connection = openRawConnection(port, { giveUpMs: GIVE_UP_MS });
  connection.write(prefix);
  for (let i = 0; i < trickle.length && !connection.closed(); i += 1) {
    connection.write(trickle.charAt(i));
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
  return connection.outcome;
}

t.test('headers sent a byte at a time: 408 and closed once headersTimeoutMs passes', async (t) => {
  const s = await startScenario({ config: TIMEOUTS });
  t.teardown(() => s.close());
  const res = await slowClient(s.gateway.port, '', `GET /public/x HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(10_000)}`, 50);
  t.ok(res.closed, 'the gateway closed the connection');
  t.strictSame(parseResponses(res.text).map((r) => r.status), [408], 'after answering 408');
  t.equal(s.upstream.started(), 0, 'nothing reached the upstream');
  await waitFor('the slow client socket to be released', async () => (await openClientConnections(s.gateway)) === 0);
  t.equal(await statusOfFreshGet(s.gateway.port), 200, 'slow headers: the gateway still serves');
});

t.test('a body trickle: 408 and closed once requestTimeoutMs passes, and the upstream request is aborted', async (t) => {
  const s = await startScenario({ config: TIMEOUTS });
  t.teardown(() => s.close());
  const token = await s.mint({ type: 'tenantAccessToken' });
  for (const c of [
    { name: 'public route', head: 'POST /public/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n' },
    { name: 'protected route', head: `POST /api/upload HTTP/1.1\r\nHost: x\r\nX-API-KEY: ${token}\r\nTransfer-Encoding: chunked\r\n\r\n186A0\r\n` },
  ]) {
    const started = s.upstream.started();
    const res = await slowClient(s.gateway.port, c.head, 'x'.repeat(100_000), 50);
    t.ok(res.closed, `${c.name}: the gateway closed the connection`);
    t.strictSame(parseResponses(res.text).map((r) => r.status), [408], `${c.name}: after answering 408`);
    t.equal(s.upstream.started(), started + 1, `${c.name}: the upstream request had begun`);
    await waitFor(`${c.name}: the upstream sockets to be released`, () => s.upstream.openConnections() === 0);
    await waitFor(`${c.name}: the slow client socket to be released`, async () => (await openClientConnections(s.gateway)) === 0);
  }
  t.equal(s.upstream.received.length, 0, 'no partial body was delivered as a complete request');
  t.equal(await statusOfFreshGet(s.gateway.port), 200, 'slow body: the gateway still serves');
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [token]), [], 'no token in the logs');
});

t.test('a body still trickling after the upstream answered: cut at requestTimeoutMs, never spliced with a 408', async (t) => {
  const s = await startScenario({ config: TIMEOUTS });
  t.teardown(() => s.close());
  // The upstream answers as soon as the headers arrive and keeps its response open.
  s.upstream.handle(
    (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first-chunk');
    },
    { beforeBody: true },
  );
  const res = await slowClient(s.gateway.port, 'POST /public/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n', 'x'.repeat(100_000), 50);
  t.ok(res.closed, 'the gateway closed the connection');
  t.match(res.text, /^HTTP\/1\.1 200 /, 'the response had begun');
  // Once a status line is on the wire the only honest signal is a cut connection: a second status
  // line inside the body corrupts the framing for the client and any proxy in between.
  t.strictSame(res.text.match(/HTTP\/1\.1 \d{3} /g), ['HTTP/1.1 200 '], 'no second status line inside the response');
  s.upstream.handle(undefined);
  await waitFor('the upstream sockets to be released', () => s.upstream.openConnections() === 0);
  t.equal(await statusOfFreshGet(s.gateway.port), 200, 'slow body after the answer: the gateway still serves');
});

t.test('an upstream that never answers: 504 at upstream.headersTimeoutMs, and its socket is released', async (t) => {
  const hang = await startEchoUpstream();
  hang.handle(() => undefined);
  const s = await startScenario({
    config: TIMEOUTS,
    routes: () => [
      { name: 'hang', pathPrefix: '/hang', upstream: hang.url, auth: 'none' },
      { name: 'hang-api', pathPrefix: '/secure-hang', upstream: hang.url, auth: {} },
    ],
  });
  t.teardown(async () => {
    await s.close();
    await hang.close();
  });
  const token = await s.mint({ type: 'tenantAccessToken' });
  for (const c of [
    { path: '/hang/x', headers: [] as string[] },
    { path: '/secure-hang/x', headers: [`X-API-KEY: ${token}`] },
  ]) {
    const { text, closed } = await rawExchange(s.gateway.port, `GET ${c.path} HTTP/1.1\r\n${['Host: x', ...c.headers, 'Connection: close'].join('\r\n')}\r\n\r\n`, { idleMs: GIVE_UP_MS });
    const [res] = parseResponses(text);
    t.equal(res?.status, 504, `${c.path}: 504`);
    t.equal(res?.code(), 'ERR_UPSTREAM_TIMEOUT', `${c.path}: code`);
    t.equal(res?.header('www-authenticate'), undefined, `${c.path}: no challenge`);
    t.notMatch(res?.body ?? '', /UND_ERR|ETIMEDOUT|at /, `${c.path}: no internal detail`);
    t.ok(closed, `${c.path}: answered before the client gave up`);
  }
  t.equal(hang.started(), 2, 'both requests reached the hanging upstream');
  await waitFor('the timed-out upstream sockets to close', () => hang.openConnections() === 0);
  t.equal(await statusOfFreshGet(s.gateway.port), 200, 'hanging upstream: the gateway still serves');
  t.strictSame(leakedSecrets(s.gateway.logs.lines(), [token]), [], 'no token in the logs');
});

t.test('the connection cap holds: a connection over server.maxConnections is closed unanswered', async (t) => {
  const s = await startScenario({ config: { server: { maxConnections: 3 } } });
  t.teardown(() => s.close());
  const held = Array.from({ length: 3 }, () => openRawConnection(s.gateway.port, { giveUpMs: GIVE_UP_MS }));
  t.teardown(() => held.forEach((c) => c.destroy()));
  for (const c of held) c.write('GET /public/x HTTP/1.1\r\nHost: x\r\n');
  await waitFor('three held connections', async () => (await openClientConnections(s.gateway)) === 3);
  const over = await rawExchange(s.gateway.port, 'GET /public/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { idleMs: GIVE_UP_MS });
  t.ok(over.closed, 'the fourth connection is closed');
  t.equal(over.text, '', 'without an answer');
  t.equal(s.upstream.started(), 0, 'nothing reached the upstream');
  held.forEach((c) => c.destroy());
  await waitFor('the held connections to be released', async () => (await openClientConnections(s.gateway)) === 0);
  t.equal(await statusOfFreshGet(s.gateway.port), 200, 'connection cap: the gateway still serves');
});

/** Slow clients of each kind at once against a gateway process. */
const SLOW = 30;
/** The process's connection cap, for the last part. */
const CAP = 200;

t.test(`${SLOW} slowloris, ${SLOW} slow bodies and ${SLOW} hung upstream requests at once against a gateway process, then the cap: alive, fds and heap back`, async (t) => {
  const hang = await startEchoUpstream();
  t.teardown(() => hang.close());
  hang.handle(() => undefined);
  const s = await startProcessScenario(t, {
    config: { ...TIMEOUTS, server: { ...TIMEOUTS.server, maxConnections: CAP }, upstream: { ...TIMEOUTS.upstream, headersTimeoutMs: 1000, connections: CAP } },
    routes: () => [{ name: 'hang', pathPrefix: '/hang', upstream: hang.url, auth: 'none' }],
  });
  const port = Number(new URL(s.gateway.url).port);
  await s.stillServes(t, 'before');
  const watch = await watchResources(s.gateway);

  // Headers at one byte per second, bodies at one byte per 100 ms, and requests nobody answers.
  const slowloris = Array.from({ length: SLOW }, () => slowClient(port, '', 'GET /public/x HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa', 1000));
  const slowBodies = Array.from({ length: SLOW }, () => slowClient(port, 'POST /public/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n', 'x'.repeat(1000), 100));
  const hung = Array.from({ length: SLOW }, () => rawExchange(port, 'GET /hang/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { idleMs: GIVE_UP_MS }));
  const statusesOf = async (outcomes: Promise<{ text: string; closed: boolean }>[]) =>
    (await Promise.all(outcomes)).map((o) => `${o.closed ? 'closed' : 'open'} ${parseResponses(o.text).map((r) => r.status).join(',')}`);
  t.strictSame(new Set(await statusesOf(slowloris)), new Set(['closed 408']), `${SLOW} slowloris: 408 and closed at headersTimeoutMs`);
  t.strictSame(new Set(await statusesOf(slowBodies)), new Set(['closed 408']), `${SLOW} slow bodies: 408 and closed at requestTimeoutMs`);
  t.strictSame(new Set(await statusesOf(hung)), new Set(['closed 504']), `${SLOW} hung upstream requests: 504 at upstream.headersTimeoutMs`);
  await waitFor('the hung upstream sockets to close', () => hang.openConnections() === 0, { timeoutMs: GIVE_UP_MS });

  // The cap: CAP connections held open by responses that stream without end, then one more.
  s.upstream.handle((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    const timer = setInterval(() => res.write('.'), 200);
    res.on('close', () => clearInterval(timer));
  });
  // Every connection counts against the cap, the kept-alive one of the last check too: start from none.
  await waitFor('no client connection left open', async () => seriesValue(await metricSeries(s.gateway), 'm2m_gateway_open_connections{listener="proxy"}') === 0, { timeoutMs: GIVE_UP_MS });
  const before = s.upstream.started();
  const held = Array.from({ length: CAP }, () => openRawConnection(port, { giveUpMs: 60_000 }));
  t.teardown(() => held.forEach((c) => c.destroy()));
  for (const c of held) c.write('GET /public/stream HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitFor(`${CAP} streaming responses`, () => s.upstream.started() === before + CAP, { timeoutMs: 30_000 });
  const over = await rawExchange(port, 'GET /public/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { idleMs: GIVE_UP_MS });
  t.ok(over.closed, `connection ${CAP + 1} is closed`);
  t.equal(over.text, '', 'without an answer');
  held.forEach((c) => c.destroy());
  s.upstream.handle(undefined);
  await waitFor('the streaming upstream sockets to close', () => s.upstream.openConnections() <= 1, { timeoutMs: GIVE_UP_MS });
  await watch.settled(t, 'slow clients and the cap');
  await s.stillServes(t, 'after slow clients and the cap');
});
