// Scale (issue 11): 100 sshd-only lab nodes, the 20-task playbook with --forks 50 on the first 10, 30
// and all 100 (each its own inventory, so the cluster lock covers just those hosts, as on a cluster of
// that size): wall time, peak RSS of the runbook process, cost per host. Goal: a flat cost per host.
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Lab, startLab } from '../lab/lab.js';
import { writeLabInventory } from '../support/lab-inventory.js';
import { firstNodes, mark, median, mib, msec, printTable, runbookPlaybook, secs, timedCli } from './bench-support.js';

const NODES = 100;
const SIZES = [10, 30, 100];
const FORKS = 50;
const TASKS = 20;
// BENCH_RUNS=N: fewer (or more) runs for a quick look
const RUNS = Number(process.env['BENCH_RUNS']) || 3;
/** "Flat": the cost per host at a size is at most this times the cost per host at the smallest size. */
const FLAT = 1.25;

let lab: Lab;
let dir: string;
let labStartMs = 0;

beforeAll(async () => {
  const s = performance.now();
  lab = await startLab({ nodes: NODES });
  labStartMs = performance.now() - s;
  dir = mkdtempSync(join(lab.stateDir, 'bench-'));
}, 300_000);
afterAll(async () => lab?.stop());

it(`${TASKS} tasks with --forks ${FORKS} on ${SIZES.join(', ')} of ${NODES} lab nodes`, async () => {
  const pb20 = runbookPlaybook(dir, TASKS);
  const pb0 = runbookPlaybook(dir, 0);
  const env = { RUNBOOK_RUNS_DIR: join(dir, 'runs') };
  const invs = new Map(SIZES.map((n) => [n, writeLabInventory(firstNodes(lab, n), join(dir, `inventory-${n}.yml`))]));
  const got = new Map(SIZES.map((n) => [n, { wall: [] as number[], rss: [] as number[], zero: [] as number[] }]));
  const run = async (n: number, pb: string) => {
    const r = await timedCli(['run', pb, '-i', invs.get(n) as string, '--forks', String(FORKS), '--output', 'json'], { env, cwd: dir, rss: true });
    expect(r.code, `runbook run on ${n} hosts:\n${r.stderr.slice(-2000)}`).toBe(0);
    return r;
  };
  for (let rep = 0; rep < RUNS; rep++) {
    for (const n of SIZES) {
      const g = got.get(n) as { wall: number[]; rss: number[]; zero: number[] };
      const r = await run(n, pb20);
      g.wall.push(r.ms);
      g.rss.push(r.peakKb ?? Number.NaN);
      g.zero.push((await run(n, pb0)).ms);
    }
  }
  const perHost = (n: number) => median(got.get(n)?.wall ?? []) / n;
  const base = perHost(SIZES[0] ?? 1);
  const rows = SIZES.map((n, i) => {
    const g = got.get(n) as { wall: number[]; rss: number[]; zero: number[] };
    const ph = perHost(n);
    return [
      String(n),
      secs(median(g.wall)),
      mib(median(g.rss)),
      msec(ph),
      i === 0 ? 'reference' : `${(ph / base).toFixed(2)}× (≤ ${FLAT}×)`,
      i === 0 ? '—' : mark(ph <= FLAT * base),
      secs(median(g.zero)),
      msec(median(g.zero) / n),
    ];
  });
  printTable(
    `Scale: ${TASKS} trivial tasks, --forks ${FORKS}, ${NODES} sshd-only lab nodes, median of ${RUNS}`,
    ['hosts', 'wall', 'peak RSS', 'wall per host', 'per host vs 10 hosts', '', 'runbook, 0 steps', '0 steps per host'],
    rows,
    [
      `the lab of ${NODES} nodes started in ${secs(labStartMs)}; each size has its own inventory of the first N nodes (with --limit the lock would still be taken on all ${NODES} masters).`,
      'peak RSS: the runbook process (maxrss from /usr/bin/time, else VmHWM polled).',
    ],
  );
}, 3_600_000);
