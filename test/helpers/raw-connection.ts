import { connect } from 'node:net';

/** A client socket written to step by step, for tests that pace what they send. */
export interface RawConnection {
  write(bytes: string | Buffer): void;
  /** True once the server closed the connection (or it failed). */
  closed(): boolean;
  /** What the server sent so far, while the connection is still open (poll it with `waitFor`). */
  received(): string;
  /**
   * Everything the server sent, once it closes the connection; `closed: false` if `giveUpMs`
   * passed first (the socket is then destroyed), so a gateway that never closes fails the test.
   */
  readonly outcome: Promise<{ text: string; closed: boolean }>;
  destroy(): void;
}

/**
 * Opens a connection whose bytes the test writes when it chooses: a body in two halves around an
 * observed event, a byte at a time. `rawExchange` is the one-shot form.
 */
export function openRawConnection(port: number, options: { giveUpMs?: number } = {}): RawConnection {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  let done = false;
  const outcome = new Promise<{ text: string; closed: boolean }>((resolve) => {
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(giveUp);
      socket.destroy();
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed });
    };
    const giveUp = setTimeout(() => finish(false), options.giveUpMs ?? 15_000);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
  });
  return {
    write: (bytes) => {
      if (!done) socket.write(bytes);
    },
    closed: () => done,
    received: () => Buffer.concat(chunks).toString('latin1'),
    outcome,
    destroy: () => socket.destroy(),
  };
}
