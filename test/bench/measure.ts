// What the data-path and RTO benches measure of a process, and how they print it.
//
// A command runs under GNU time (peak RSS of the process tree, %M, and the bytes it caused to be written to
// block-backed filesystems, %O: Linux counts a page when it is dirtied, so a file written and deleted again
// still counts) and optionally under strace for the files it opened for writing (tmpfs included, which %O
// does not see). Together they show what a process left on this machine's disks.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';

export interface Measured {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** Peak RSS of the largest process of the tree, KiB (time %M). */
  maxRssKiB: number;
  /** Bytes the tree dirtied on block-backed filesystems (time %O × 512). */
  diskWriteBytes: number;
  /** Paths the tree opened for writing or creating (with traceOpens). */
  writeOpens: string[];
  /** Each stdout line with the ms since the start at which it arrived. */
  lines: { ms: number; text: string }[];
}

export interface MeasureOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** strace the tree's open/openat/creat calls (seccomp-filtered: the data path is not slowed). */
  traceOpens?: boolean;
  /** A directory for the time and strace files (default a fresh one under /tmp, removed after). */
  scratch?: string;
}

/** Run argv under /usr/bin/time (and strace), collecting its output, peak RSS and disk writes. */
export async function measure(argv: string[], opts: MeasureOptions = {}): Promise<Measured> {
  const scratch = opts.scratch ?? mkdtempSync('/tmp/rb-measure-');
  const timeFile = join(scratch, `time-${process.hrtime.bigint()}`);
  const straceFile = `${timeFile}.strace`;
  const trace = opts.traceOpens ? ['strace', '-f', '-qq', '--seccomp-bpf', '-e', 'trace=open,openat,openat2,creat', '-e', 'status=successful', '-o', straceFile] : [];
  const started = performance.now();
  const child = spawn('/usr/bin/time', ['-f', '%M %O', '-o', timeFile, ...trace, ...argv], { cwd: opts.cwd, env: { ...process.env, NO_COLOR: '1', ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: { ms: number; text: string }[] = [];
  let stdout = '';
  let partial = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    const ms = performance.now() - started;
    stdout += d.toString();
    partial += d.toString();
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const text of parts) lines.push({ ms, text });
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-20_000);
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c) => resolve(c));
  });
  const ms = performance.now() - started;
  if (partial) lines.push({ ms, text: partial });
  // time's own line ("Command exited with non-zero status N") comes before the numbers
  const timeText = existsSync(timeFile) ? readFileSync(timeFile, 'utf8').trim().split('\n').pop() ?? '' : '';
  const [rss, blocks] = timeText.split(' ').map(Number);
  const writeOpens = opts.traceOpens && existsSync(straceFile) ? parseWriteOpens(readFileSync(straceFile, 'utf8')) : [];
  if (opts.scratch) {
    rmSync(timeFile, { force: true });
    rmSync(straceFile, { force: true });
  } else rmSync(scratch, { recursive: true, force: true });
  return { code, stdout, stderr, ms, maxRssKiB: rss ?? Number.NaN, diskWriteBytes: (blocks ?? Number.NaN) * 512, writeOpens, lines };
}

/** The distinct paths of strace lines that opened a file for writing or creating it. */
export function parseWriteOpens(text: string): string[] {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /(?:open|openat|openat2|creat)\((?:[^,]+, )?"((?:[^"\\]|\\.)*)"(.*)$/.exec(line);
    if (!m) continue;
    if (/^creat/.test(line.replace(/^\d+\s+/, '')) || /O_WRONLY|O_RDWR|O_CREAT/.test(m[2] ?? '')) out.add(m[1] ?? '');
  }
  return [...out];
}

/** The `runbook run -o json` events with the ms at which each arrived. */
export function jsonEvents(m: Measured): { ms: number; e: Record<string, unknown> }[] {
  const out: { ms: number; e: Record<string, unknown> }[] = [];
  for (const l of m.lines) {
    if (!l.text.startsWith('{')) continue;
    try {
      out.push({ ms: l.ms, e: JSON.parse(l.text) as Record<string, unknown> });
    } catch {
      // a line that is not an event
    }
  }
  return out;
}

/** Each step's wall time, from its step.start to its step.end as they arrived. */
export function stepDurations(m: Measured): { step: string; ms: number; status: string }[] {
  const starts = new Map<string, number>();
  const out: { step: string; ms: number; status: string }[] = [];
  for (const { ms, e } of jsonEvents(m)) {
    const key = `${String(e['index'])}:${String(e['step'])}`;
    if (e['type'] === 'step.start') starts.set(key, ms);
    if (e['type'] === 'step.end') out.push({ step: String(e['step']), ms: ms - (starts.get(key) ?? ms), status: String(e['status']) });
    if (e['type'] === 'step.skip') out.push({ step: String(e['step']), ms: 0, status: 'skipped' });
  }
  return out;
}

/**
 * Where a run's time outside its steps went, from when its events arrived (ms): spawn to run.start
 * (Node, loading, the plan), run.start to the first step.start (connect, host keys, lock), the gaps
 * between one step's end and the next one's start, and the last step's end to the process's exit.
 */
export function outsideSteps(m: Measured): { startUp: number; toFirstStep: number; between: number; gaps: number; toExit: number } {
  const es = jsonEvents(m);
  const runStart = es.find((x) => x.e['type'] === 'run.start')?.ms ?? Number.NaN;
  let firstStep = Number.NaN;
  let lastEnd = Number.NaN;
  let between = 0;
  let gaps = 0;
  for (const { ms, e } of es) {
    if (e['type'] === 'step.start') {
      if (Number.isNaN(firstStep)) firstStep = ms;
      else {
        between += ms - lastEnd;
        gaps++;
      }
    }
    if (e['type'] === 'step.end' || e['type'] === 'step.skip') lastEnd = ms;
  }
  return { startUp: runStart, toFirstStep: firstStep - runStart, between, gaps, toExit: m.ms - lastEnd };
}

/** The slowest command of each step (from command.end): host, ms and the command as run. */
export function slowestCommands(m: Measured): Map<string, { host: string; ms: number; command: string }> {
  const out = new Map<string, { host: string; ms: number; command: string }>();
  for (const { e } of jsonEvents(m)) {
    if (e['type'] !== 'command.end' || e['phase'] !== 'do') continue;
    const step = String(e['step']);
    const ms = Number(e['durationMs']);
    if ((out.get(step)?.ms ?? -1) < ms) out.set(step, { host: String(e['host']), ms, command: String(e['command']) });
  }
  return out;
}

/** The run.end event, or undefined when the run printed none. */
export function runEnd(m: Measured): Record<string, unknown> | undefined {
  return jsonEvents(m).find((x) => x.e['type'] === 'run.end')?.e;
}

export interface GoalRow {
  what: string;
  value: string;
  /** '' for an informational row. */
  goal?: string;
  /** undefined: informational (no verdict). */
  ok?: boolean | undefined;
}

/** A markdown table: what, value, goal, pass/MISS. */
export function goalTable(title: string, rows: GoalRow[]): string {
  const cells = [['what', 'value', 'goal', 'result'], ...rows.map((r) => [r.what, r.value, r.goal ?? '', r.ok === undefined ? '' : r.ok ? 'pass' : 'MISS'])];
  const w = [0, 1, 2, 3].map((i) => Math.max(...cells.map((c) => (c[i] ?? '').length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(w[i] ?? 0)).join(' | ')} |`;
  return [`\n${title}`, line(cells[0] ?? []), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...cells.slice(1).map(line), ''].join('\n');
}

export const load = (): string => loadavg().map((x) => x.toFixed(2)).join(' ');
export const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
export const secs = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
export const rate = (bytes: number, ms: number): number => bytes / 2 ** 20 / (ms / 1000);

/** The largest number of intervals open at once (an end at the same instant as a start closes first). */
export function maxConcurrent(intervals: { start: number; end: number }[]): number {
  const ev = intervals.flatMap((i) => [
    { t: i.start, d: 1 },
    { t: i.end, d: -1 },
  ]);
  ev.sort((a, b) => a.t - b.t || a.d - b.d);
  let cur = 0;
  let max = 0;
  for (const e of ev) {
    cur += e.d;
    max = Math.max(max, cur);
  }
  return max;
}
