/** Wait `ms`, or less if `signal` aborts; the abort listener is removed either way (polls sleep thousands of times). */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((res) => {
    if (signal.aborted) return res();
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      res();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
