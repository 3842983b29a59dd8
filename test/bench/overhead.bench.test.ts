// Benchmark, not a pass/fail test on time: prints the engine's per-step, per-host overhead
// over the reused SSH connection. Run with `npm run bench`.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Lab, startLab } from '../lab/lab.js';
import { runCli } from '../support/cli.js';
import { writeLabInventory } from '../support/lab-inventory.js';

let lab: Lab;
beforeAll(async () => {
  lab = await startLab({ nodes: 3 });
}, 60_000);
afterAll(async () => lab?.stop());

function playbook(steps: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'rb-bench-'));
  const file = join(dir, 'bench.yml');
  const body = Array.from({ length: steps }, (_, i) => `  - name: step ${i + 1}\n    action: shell\n    changes: false\n    args: { cmd: "true" }\n`).join('');
  writeFileSync(file, `name: bench-${steps}\nsteps:\n${body}`);
  return file;
}

it('overhead of trivial steps on 3 hosts', async () => {
  const inv = writeLabInventory(lab);
  const runsDir = join(lab.stateDir, 'runs');
  const one = playbook(1);
  const twenty = playbook(20);
  const hundred = playbook(100);
  const env = { RUNBOOK_RUNS_DIR: runsDir };
  const rows: string[] = [];
  for (let rep = 0; rep < 3; rep++) {
    const a = await runCli(['run', one, '-i', inv, '--output', 'json'], { env });
    const b = await runCli(['run', twenty, '-i', inv, '--output', 'json'], { env });
    const c = await runCli(['run', hundred, '-i', inv, '--output', 'json'], { env });
    expect([a.code, b.code, c.code]).toEqual([0, 0, 0]);
    // engine-side time from the journal's run.end (excludes node start-up of the CLI)
    const engineMs = (r: typeof a) => (JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { durationMs: number }).durationMs;
    const perStep20 = (engineMs(b) - engineMs(a)) / 19 / 3;
    const perStep100 = (engineMs(c) - engineMs(a)) / 99 / 3;
    rows.push(
      `rep ${rep + 1}: wall 1-step ${a.ms} ms, 20-step ${b.ms} ms, 100-step ${c.ms} ms | engine 20-step ${engineMs(b)} ms | marginal per step per host: ${perStep20.toFixed(2)} ms (20-step), ${perStep100.toFixed(2)} ms (100-step)`,
    );
  }
  console.log(`\n[bench] trivial 'true' steps on 3 lab hosts over reused SSH connections\n${rows.join('\n')}\n`);
}, 120_000);
