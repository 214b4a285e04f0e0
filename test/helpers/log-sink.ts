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

/**
 * Security case 47: the secrets that appear in any captured line. A JWT-shaped secret is also
 * looked for by its payload and signature segments, which are as telling as the whole token.
 */
export function leakedSecrets(lines: readonly string[], secrets: readonly string[]): string[] {
  const needles = new Set<string>();
  for (const secret of secrets) {
    needles.add(secret);
    const segments = secret.split('.');
    if (segments.length === 3) for (const segment of segments.slice(1)) if (segment.length >= 16) needles.add(segment);
  }
  return [...needles].filter((needle) => lines.some((line) => line.includes(needle)));
}
