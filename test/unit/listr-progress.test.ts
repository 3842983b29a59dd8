import { describe, expect, it, vi } from 'vitest';
import type { RunEvent } from '../../src/model/events.js';
import { listrReporter } from '../../src/report/listr.js';

describe('listr reporter (TTY view)', () => {
  it("a transfer's progress is the host's live output line: bytes, rate, ETA", async () => {
    const written: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    try {
      const r = listrReporter(() => undefined);
      const MiB = 1024 * 1024;
      const events: RunEvent[] = [
        { type: 'step.start', step: 'upload snapshot', index: 4, hosts: ['master-1'], down: [] },
        { type: 'transfer.progress', step: 'upload snapshot', host: 'master-1', what: 'upload snapshot.db', bytes: 40 * MiB, total: 100 * MiB, rateBps: 10 * MiB, etaS: 6, done: false },
      ];
      for (const e of events) r.onEvent(e);
      // the result may settle the host's task before listr has even started it: the output set before is still drawn
      r.onEvent({ type: 'host.result', step: 'upload snapshot', index: 4, attempt: 1, final: true, result: { status: 'ok', host: 'master-1' } as never });
      r.onEvent({ type: 'step.end', step: 'upload snapshot', index: 4, status: 'ok' });
      await r.done();
    } finally {
      spy.mockRestore();
    }
    expect(written.join('')).toContain('upload snapshot.db: 40% 40.0 MiB of 100.0 MiB, 10.0 MiB/s, ETA 6 s');
  });
});
