/**
 * Polls `url` until it answers 200 (a gateway's `/readyz`), or rejects after `timeoutMs` or when
 * `signal` aborts (the process being waited for has exited). The interval only bounds how soon
 * readiness is noticed; nothing waits a fixed time.
 */
export async function waitReady(url: string, options: { timeoutMs?: number; intervalMs?: number; signal?: AbortSignal } = {}): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  const intervalMs = options.intervalMs ?? 50;
  for (;;) {
    options.signal?.throwIfAborted();
    try {
      const res = await fetch(url, { signal: options.signal });
      await res.body?.cancel();
      if (res.status === 200) return;
    } catch (err) {
      if (options.signal?.aborted === true) throw err;
      // not listening yet
    }
    if (Date.now() >= deadline) throw new Error(`${url} never became ready`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
