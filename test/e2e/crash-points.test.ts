// Three random points of the crash sweep (npm run crash-sweep runs all of them). The seed is printed;
// SWEEP_SEED=N replays a pick.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killRange, resumePoint, rollbackPoint, seeded, type PointResult, type SweepLab, startSweepLab, table } from '../support/crash-sweep.js';

let l: SweepLab;
let range: Awaited<ReturnType<typeof killRange>>;
const rows: PointResult[] = [];
const seed = Number(process.env['SWEEP_SEED'] ?? Date.now() % 100_000);

beforeAll(async () => {
  l = await startSweepLab();
  range = await killRange(l);
}, 600_000);

afterAll(async () => {
  console.log(`\n[crash points, seed ${seed}, records ${range?.first}..${range?.last}]\n${table(rows)}\n`);
  await l?.stop();
});

describe(`crash points (seed ${seed})`, () => {
  it('SIGKILL right after 3 random journal records between the approval gate and "apiservers ready": resume completes, rollback restores', async () => {
    const rnd = seeded(seed);
    const points = Array.from({ length: 3 }, () => range.first + Math.floor(rnd() * (range.last - range.first + 1)));
    for (const k of points) {
      rows.push(await resumePoint(l, k));
      rows.push(await rollbackPoint(l, k));
    }
    expect(rows.filter((r) => !r.ok), table(rows)).toEqual([]);
  }, 1_800_000);
});
