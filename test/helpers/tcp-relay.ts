import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import type { Test } from 'tap';

/** What the relay does with connections: forward them, swallow them, or refuse them. */
export type RelayMode = 'pass' | 'blackhole' | 'refuse';

export interface TcpRelay {
  /** `to` with its host and port replaced by the relay's. */
  readonly url: string;
  /**
   * Makes the current connections go silent, as a network partition leaves them: no reset, no
   * FIN, nothing delivered either way. New connections still work. Returns how many went silent.
   */
  silenceAll(): number;
  /**
   * `blackhole`: every connection, current or new, goes silent (a database that hangs).
   * `refuse`: every connection is reset and new ones are reset at once (a database that is down).
   * `pass`: new connections are forwarded again; silent ones are reset, as a healed partition's
   * timed-out connections would be.
   */
  setMode(mode: RelayMode): void;
}

/** A TCP relay on 127.0.0.1, port 0, to the host and port of `to` (default port 5432); closed at teardown. */
export async function startTcpRelay(t: Test, to: URL): Promise<TcpRelay> {
  const pairs = new Set<{ silent: boolean; client: Socket; server?: Socket }>();
  let mode: RelayMode = 'pass';
  const close = (pair: { client: Socket; server?: Socket }) => {
    pairs.delete(pair as { silent: boolean; client: Socket; server?: Socket });
    pair.client.destroy();
    pair.server?.destroy();
  };
  const relay = createServer((client) => {
    if (mode === 'refuse') {
      client.resetAndDestroy();
      return;
    }
    const pair: { silent: boolean; client: Socket; server?: Socket } = { silent: mode === 'blackhole', client };
    pairs.add(pair);
    client.on('close', () => close(pair)).on('error', () => close(pair));
    if (pair.silent) return;
    const server = connect(Number(to.port === '' ? 5432 : to.port), to.hostname);
    pair.server = server;
    client.on('data', (chunk) => pair.silent || server.write(chunk));
    server.on('data', (chunk) => pair.silent || client.write(chunk));
    server.on('close', () => close(pair)).on('error', () => close(pair));
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const pair of pairs) close(pair);
    relay.close();
  });
  const url = new URL(to);
  url.hostname = '127.0.0.1';
  url.port = String((relay.address() as AddressInfo).port);
  return {
    url: url.toString(),
    silenceAll() {
      for (const pair of pairs) pair.silent = true;
      return pairs.size;
    },
    setMode(next) {
      mode = next;
      for (const pair of [...pairs]) {
        if (next === 'blackhole') pair.silent = true;
        else if (next === 'refuse') {
          pair.client.resetAndDestroy();
          close(pair);
        } else if (pair.silent) close(pair);
      }
    },
  };
}
