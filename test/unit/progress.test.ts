import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { Chalk } from 'chalk';
import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/model/events.js';
import { formatProgress, meter, progressEvents } from '../../src/engine/progress.js';
import { plainReporter } from '../../src/report/plain.js';

const MiB = 1024 * 1024;

/** A clock the test moves: progress is a function of bytes and time, no real time involved. */
function clock() {
  let t = 1_000_000;
  return { now: () => t, tick: (ms: number) => (t += ms) };
}

describe('transfer progress', () => {
  it('emits one event per percent crossed, throttled, and always the last; rate and ETA from the average', () => {
    const events: RunEvent[] = [];
    const c = clock();
    const p = progressEvents((e) => events.push(e), 'upload', 'master-1', 'upload snapshot.db', 100 * MiB, c.now, 200);
    for (let mb = 1; mb <= 100; mb++) {
      c.tick(100); // 10 MiB/s
      p(mb * MiB);
    }
    p(100 * MiB, true);
    const ev = events.filter((e): e is Extract<RunEvent, { type: 'transfer.progress' }> => e.type === 'transfer.progress');
    // a percent every 100 ms, at most one event per 200 ms (every second percent), each tenth crossed, and the final one
    expect(ev.map((e) => e.bytes / MiB)).toEqual([1, 3, 5, 7, 9, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34, 36, 38, 40, 42, 44, 46, 48, 50, 52, 54, 56, 58, 60, 62, 64, 66, 68, 70, 72, 74, 76, 78, 80, 82, 84, 86, 88, 90, 92, 94, 96, 98, 100, 100]);
    const at42 = ev.find((e) => e.bytes === 42 * MiB);
    expect(at42).toMatchObject({ total: 100 * MiB, rateBps: 10 * MiB, etaS: 6, done: false });
    expect(ev.at(-1)).toMatchObject({ bytes: 100 * MiB, done: true, etaS: 0 });
    expect(formatProgress(at42 as never)).toBe('42% 42.0 MiB of 100.0 MiB, 10.0 MiB/s, ETA 6 s');
  });

  it('a transfer faster than the throttle still reports every tenth (the plain reporter prints a line per tenth)', () => {
    const events: RunEvent[] = [];
    const c = clock();
    const p = progressEvents((e) => events.push(e), 's', 'h', 'upload', 100, c.now, 200);
    for (let b = 1; b <= 100; b++) p(b); // no time passes
    p(100, true);
    expect(events.map((e) => (e as { bytes: number }).bytes)).toEqual([1, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 100]);
  });

  it('without a total: an event per 64 MiB and no ETA', () => {
    const events: RunEvent[] = [];
    const c = clock();
    const p = progressEvents((e) => events.push(e), 's', 'h', 'download', undefined, c.now, 0);
    for (let mb = 1; mb <= 200; mb++) {
      c.tick(10);
      p(mb * MiB);
    }
    const ev = events as Extract<RunEvent, { type: 'transfer.progress' }>[];
    expect(ev.map((e) => e.bytes / MiB)).toEqual([1, 64, 128, 192]);
    expect(formatProgress(ev[1] as never)).toBe('64.0 MiB, 100.0 MiB/s, ETA unknown');
  });

  it('not on a TTY: a line every 10%, then done', () => {
    const lines: string[] = [];
    const report = plainReporter((s) => lines.push(s), new Chalk({ level: 0 }), false);
    const c = clock();
    const p = progressEvents(report, 'upload', 'master-2', 'upload x', 1000, c.now, 0);
    for (let b = 0; b <= 1000; b += 10) {
      c.tick(1000);
      p(b);
    }
    p(1000, true);
    expect(lines.map((l) => l.trim().split(':')[1]?.trim().split(' ')[0])).toEqual(['10%', '20%', '30%', '40%', '50%', '60%', '70%', '80%', '90%', '100%']);
    expect(lines.at(-1)).toMatch(/master-2 upload x: 100% 1000 B of 1000 B, 10 B\/s, done/);
  });

  it('meter counts the bytes that flow through it and reports done at the end', async () => {
    const seen: [number, boolean][] = [];
    const chunks = [Buffer.alloc(3), Buffer.alloc(5), Buffer.alloc(7)];
    const sink = new Writable({ write: (_c, _e, cb) => cb() });
    await pipeline(Readable.from(chunks), meter((b, d = false) => seen.push([b, d])), sink);
    expect(seen).toEqual([[3, false], [8, false], [15, false], [15, true]]);
  });
});
