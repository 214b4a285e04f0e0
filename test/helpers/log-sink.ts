import { Writable } from 'node:stream';

export interface LogSink {
  readonly stream: Writable;
  /** Every line written so far, parsed. */
  entries(): Record<string, unknown>[];
  /** Every line written so far, raw. */
  lines(): string[];
}

/** Captures pino output so tests can assert on log lines — and on secrets never being in them. */
export function createLogSink(): LogSink {
  const lines: string[] = [];
  let partial = '';
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      partial += chunk.toString();
      let nl = partial.indexOf('\n');
      while (nl >= 0) {
        lines.push(partial.slice(0, nl));
        partial = partial.slice(nl + 1);
        nl = partial.indexOf('\n');
      }
      done();
    },
  });
  return {
    stream,
    lines: () => [...lines],
    entries: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
