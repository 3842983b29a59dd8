import { PassThrough } from 'node:stream';
import type { EmitFn } from '../model/events.js';

/** What a long transfer reports: called with the bytes so far; `done` once at the end. */
export type ProgressFn = (bytes: number, done?: boolean) => void;

/** Makes the progress reporter of one transfer (what: e.g. "upload snapshot.db"; total: bytes, when known). */
export type ProgressFactory = (what: string, total: number | undefined) => ProgressFn;

export const UNKNOWN_TOTAL_STEP = 64 * 1024 * 1024;

/**
 * Throttled `transfer.progress` events for one transfer: one per percent crossed (or per 64 MiB when
 * the total is unknown), at most one per `minGapMs` except that each tenth crossed is always reported,
 * plus the first and the last. Rate is the average
 * since the start; ETA from it. `now` is injectable so the table test needs no clock.
 */
export function progressEvents(emit: EmitFn, step: string, host: string, what: string, total: number | undefined, now: () => number = Date.now, minGapMs = 200): ProgressFn {
  const started = now();
  let lastAt = Number.NEGATIVE_INFINITY;
  let lastMark = -1;
  let finished = false;
  // a tenth crossed is always reported, however fast the transfer: the plain reporter prints a line per tenth
  const tenth = (mark: number) => Math.floor(mark / 10);
  return (bytes, done = false) => {
    if (finished) return;
    const t = now();
    const mark = total ? Math.floor((Math.min(bytes, total) * 100) / total) : Math.floor(bytes / UNKNOWN_TOTAL_STEP);
    if (!done && (mark === lastMark || (t - lastAt < minGapMs && tenth(mark) === tenth(lastMark)))) return;
    lastMark = mark;
    lastAt = t;
    finished = done;
    const secs = (t - started) / 1000;
    const rateBps = secs > 0 ? Math.round(bytes / secs) : 0;
    const etaS = total && rateBps > 0 && !done ? Math.max(0, Math.round((total - bytes) / rateBps)) : done ? 0 : undefined;
    emit({ type: 'transfer.progress', step, host, what, bytes, total, rateBps, etaS, done });
  };
}

/** A pass-through that counts what flows and reports it; reports done when the stream ends. */
export function meter(report: ProgressFn | undefined): PassThrough {
  const p = new PassThrough();
  let bytes = 0;
  p.on('data', (c: Buffer) => {
    bytes += c.length;
    report?.(bytes);
  });
  p.on('end', () => report?.(bytes, true));
  return p;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${UNITS[u]}`;
}

function formatSecs(s: number): string {
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** "40% 12.0 MiB of 30.0 MiB, 5.0 MiB/s, ETA 4 s" (or without the total when it is not known). */
export function formatProgress(p: { bytes: number; total: number | undefined; rateBps: number; etaS: number | undefined; done: boolean }): string {
  const pct = p.total ? `${Math.floor((Math.min(p.bytes, p.total) * 100) / p.total)}% ` : '';
  const of = p.total ? ` of ${formatBytes(p.total)}` : '';
  const eta = p.done ? 'done' : p.etaS !== undefined ? `ETA ${formatSecs(p.etaS)}` : 'ETA unknown';
  return `${pct}${formatBytes(p.bytes)}${of}, ${formatBytes(p.rateBps)}/s, ${eta}`;
}

/** The same count as a codec stage (src/storage/codec.ts `Stage`): bytes as they pass, done at the end. */
export function progressStage(report: ProgressFn | undefined): (source: AsyncIterable<Uint8Array>) => AsyncIterable<Uint8Array> {
  return async function* (source) {
    let bytes = 0;
    for await (const chunk of source) {
      bytes += chunk.length;
      report?.(bytes);
      yield chunk;
    }
    report?.(bytes, true);
  };
}
