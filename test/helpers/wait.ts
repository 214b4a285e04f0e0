/**
 * Polls `condition` until it holds, or rejects once `timeoutMs` has passed. Tests wait for a
 * state (sockets released, a request seen upstream), never for a fixed time: the poll interval
 * only bounds how soon the state is noticed, and the timeout only turns a hang into a failure.
 */
export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, options: { timeoutMs?: number; intervalMs?: number } = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 10;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
