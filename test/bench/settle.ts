// Before a measured pair (the runbook and the plain tools it is compared with): the machine settled.
// A bench file starts while the previous one's labs are still going away (100 sshd nodes, GiBs of dirty
// pages from a 4 GiB data path being written back), which lands on whichever side is measured first.
// So: `sync` (the dirty pages written now, not during the measurement), then wait until a whole second
// was mostly idle, for at most `maxMs`. It never favours one side: both are measured after it. Never throws.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Idle and total jiffies of all CPUs, from /proc/stat (iowait counts as busy: the disk is not settled). */
function cpuTimes(): { idle: number; total: number } | undefined {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
    const total = cpu.reduce((a, b) => a + b, 0);
    return { idle: cpu[3] ?? 0, total };
  } catch {
    return undefined;
  }
}

export interface Settled {
  ms: number;
  /** Idle share of the last one-second window, 0..1 (undefined without /proc/stat). */
  idle: number | undefined;
}

export async function settle(minIdle = 0.8, maxMs = 60_000): Promise<Settled> {
  const t0 = performance.now();
  try {
    execFileSync('sync', { stdio: 'ignore', timeout: maxMs });
  } catch {
    // no sync: measure anyway
  }
  let idle: number | undefined;
  while (performance.now() - t0 < maxMs) {
    const a = cpuTimes();
    await sleep(1000);
    const b = cpuTimes();
    if (!a || !b || b.total <= a.total) break;
    idle = (b.idle - a.idle) / (b.total - a.total);
    if (idle >= minIdle) break;
  }
  return { ms: performance.now() - t0, idle };
}

/** One line for the bench output: how long it waited, and how idle the machine then was. */
export const settledNote = (s: Settled): string =>
  `settled in ${(s.ms / 1000).toFixed(1)} s (sync, then ${s.idle === undefined ? 'no idle figure' : `${(s.idle * 100).toFixed(0)}% idle over 1 s`})`;
