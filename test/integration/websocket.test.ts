import { connect, type Socket } from 'node:net';
import t from 'tap';
import { startScenario, type Scenario } from '../helpers/scenario.js';

/** Sends a raw upgrade request and resolves with the first response bytes and the open socket. */
function upgrade(port: number, path: string, headers: [string, string][]): Promise<{ head: string; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      const lines = [`GET ${path} HTTP/1.1`, `host: 127.0.0.1:${port}`, 'connection: Upgrade', 'upgrade: websocket', 'sec-websocket-version: 13', 'sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ=='];
      for (const [n, v] of headers) lines.push(`${n}: ${v}`);
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    });
    let data = '';
    socket.on('data', function onData(chunk: Buffer) {
      data += chunk.toString('latin1');
      if (data.includes('\r\n\r\n')) {
        socket.off('data', onData);
        resolve({ head: data, socket });
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve({ head: data, socket }));
  });
}

async function scenario(t: { teardown(fn: () => unknown): void }): Promise<Scenario> {
  const s = await startScenario({
    routes: (u) => [
      { name: 'ws', pathPrefix: '/ws', upstream: u, auth: {}, websocket: { allowedOrigins: ['https://app.example'] } },
      { name: 'ws-public', pathPrefix: '/live', upstream: u, auth: 'none', websocket: {} },
    ],
  });
  t.teardown(() => s.close());
  return s;
}

t.test('an authenticated upgrade is tunnelled with the identity headers, and bytes flow both ways', async (t) => {
  const s = await scenario(t);
  const token = await s.mint({ type: 'tenantAccessToken', claims: { tenantId: 'tenant-ws' } });
  const { head, socket } = await upgrade(s.gateway.port, '/ws/chat', [
    ['x-api-key', token],
    ['x-auth-tenant-id', 'spoofed'],
    ['origin', 'https://app.example'],
  ]);
  t.match(head, /^HTTP\/1\.1 101 /);
  t.equal(s.upstream.upgrades.length, 1);
  const seen = s.upstream.upgrades[0]!;
  t.equal(seen.url, '/ws/chat');
  t.equal(seen.headers['x-auth-tenant-id'], 'tenant-ws');
  t.equal(seen.headers['upgrade'], 'websocket');
  t.notOk('x-api-key' in seen.headers, 'the credential is not forwarded');
  const echoed = new Promise<string>((resolve) => socket.once('data', (c: Buffer) => resolve(c.toString())));
  socket.write('ping');
  t.equal(await echoed, 'ping');
  socket.destroy();
});

t.test('upgrades without a valid credential or from a foreign origin are refused before any upstream connection', async (t) => {
  const s = await scenario(t);
  const token = await s.mint({ type: 'tenantAccessToken' });
  const cases: { name: string; path: string; headers: [string, string][]; status: number }[] = [
    { name: 'no credential', path: '/ws/chat', headers: [], status: 401 },
    { name: 'an invalid token', path: '/ws/chat', headers: [['x-api-key', `${token.slice(0, -4)}AAAA`]], status: 401 },
    { name: 'a token only in the query string', path: `/ws/chat?access_token=${token}`, headers: [], status: 401 },
    { name: 'a cross-site origin', path: '/ws/chat', headers: [['x-api-key', token], ['origin', 'https://evil.example']], status: 403 },
    { name: 'a route that does not allow upgrades', path: '/api/x', headers: [['x-api-key', token]], status: 400 },
  ];
  for (const c of cases) {
    const { head, socket } = await upgrade(s.gateway.port, c.path, c.headers);
    t.match(head, new RegExp(`^HTTP/1\\.1 ${c.status} `), c.name);
    socket.destroy();
  }
  t.equal(s.upstream.upgrades.length, 0, 'the upstream saw no upgrade');
});

t.test('a client that resets before or after the 101 does not take the gateway down', async (t) => {
  const s = await scenario(t);
  for (let i = 0; i < 20; i += 1) {
    const early = connect(s.gateway.port, '127.0.0.1');
    early.on('error', () => undefined);
    early.write('GET /live/x HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\r\n');
    early.destroy();
    const { socket } = await upgrade(s.gateway.port, '/live/x', []);
    socket.resetAndDestroy();
  }
  const { head, socket } = await upgrade(s.gateway.port, '/live/x', []);
  t.match(head, /^HTTP\/1\.1 101 /, 'still tunnelling');
  socket.destroy();
});
