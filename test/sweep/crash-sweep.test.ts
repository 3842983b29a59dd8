// npm run crash-sweep: every kill point from the approval gate to "apiservers ready", resume and rollback.
// SWEEP_STRIDE=N takes every N-th record (default 1: all of them). SWEEP_STYLE=systemd: etcd and the apiservers
// as units of the lab's systemctl (Type=notify, Restart=always) instead of static pods.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killRange, resumePoint, rollbackPoint, type PointResult, type SweepLab, startSweepLab, sweepStyle, table } from '../support/crash-sweep.js';

let l: SweepLab;
const rows: PointResult[] = [];
const stride = Math.max(1, Number(process.env['SWEEP_STRIDE'] ?? 1));

beforeAll(async () => {
  l = await startSweepLab();
}, 600_000);

afterAll(async () => {
  console.log(`\n[crash sweep, ${sweepStyle()}, stride ${stride}]\n${table(rows)}\n`);
  await l?.stop();
});

describe('crash sweep', () => {
  it('every kill point: resume completes with every key, rollback returns the pre-run cluster', async () => {
    const range = await killRange(l);
    for (let k = range.first; k <= range.last; k += stride) {
      rows.push(await resumePoint(l, k));
      rows.push(await rollbackPoint(l, k));
      console.log(`${rows.at(-2)?.ok ? 'ok' : 'FAIL'} ${rows.at(-1)?.ok ? 'ok' : 'FAIL'} k=${k} ${rows.at(-1)?.event}`);
    }
    expect(rows.filter((r) => !r.ok), table(rows)).toEqual([]);
  }, 24 * 3600_000);
});
