// Start-up of the CLI: what an operator waits for before anything happens. Wall times of the real
// `runbook` process (Node start included), median of RUNS each; `node -e 0` is the floor.
import { readdirSync } from 'node:fs';
import { expect, it } from 'vitest';
import { ROOT } from '../support/paths.js';
import { mark, median, printTable, secs, timed, timedCli } from './bench-support.js';

// BENCH_RUNS=N: fewer (or more) runs for a quick look
const RUNS = Number(process.env['BENCH_RUNS']) || 7;
const START_GOAL_MS = 250;

it('start-up: --help, validate, plan', async () => {
  const playbooks = readdirSync(`${ROOT}/playbooks`)
    .filter((f) => f.endsWith('.yml'))
    .sort()
    .map((f) => `playbooks/${f}`);
  const cases: { label: string; run: () => ReturnType<typeof timed>; goalMs: number | undefined }[] = [
    { label: '`node -e 0` (the floor)', run: () => timed(process.execPath, ['-e', '0']), goalMs: undefined },
    { label: '`runbook --help`', run: () => timedCli(['--help'], { cwd: ROOT }), goalMs: START_GOAL_MS },
    // validate checks one playbook per call, so each of playbooks/*.yml on its own
    ...playbooks.map((p) => ({ label: `\`runbook validate ${p}\``, run: () => timedCli(['validate', p], { cwd: ROOT }), goalMs: START_GOAL_MS })),
    { label: '`runbook plan playbooks/demo-files.yml -i inventories/example.yml`', run: () => timedCli(['plan', 'playbooks/demo-files.yml', '-i', 'inventories/example.yml'], { cwd: ROOT }), goalMs: undefined },
  ];
  const times = cases.map(() => [] as number[]);
  // interleaved: a burst of load on the machine spreads over every row instead of hitting one
  for (let rep = 0; rep < RUNS; rep++) {
    for (const [i, c] of cases.entries()) {
      const r = await c.run();
      expect(r.code, `${c.label}: ${r.stderr}`).toBe(0);
      times[i]?.push(r.ms);
    }
  }
  const rows = cases.map((c, i) => {
    const m = median(times[i] ?? []);
    return [c.label, secs(m), `${secs(Math.min(...(times[i] ?? [])))} – ${secs(Math.max(...(times[i] ?? [])))}`, c.goalMs === undefined ? 'none set' : `≤ ${secs(c.goalMs)}`, mark(c.goalMs === undefined ? undefined : m <= c.goalMs)];
  });
  printTable(`Start-up: wall time of the CLI process, median of ${RUNS} (Node ${process.version})`, ['command', 'median', 'range', 'goal', ''], rows);
});
