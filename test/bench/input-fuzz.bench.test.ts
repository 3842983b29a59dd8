import { expect, it } from 'vitest';
import { fuzz } from '../support/input-fuzz.js';

it('10,000 generated bad inputs: count, pass rate, and every case that broke the contract', () => {
  const seed = Number(process.env['FUZZ_SEED'] ?? 20261202);
  const t0 = Date.now();
  const r = fuzz(seed, Number(process.env['FUZZ_RUNS'] ?? 10_000));
  const rate = ((100 * (r.runs - r.failures.length)) / r.runs).toFixed(2);
  console.log(`[input fuzz] seed ${seed}: ${r.runs} cases in ${((Date.now() - t0) / 1000).toFixed(1)} s, ${r.planned} planned clean, ${r.refused} refused with problems, ${r.failures.length} broke the contract (pass rate ${rate}%)`);
  for (const f of r.failures.slice(0, 20)) console.log(`  - ${f.violations.join('; ')}\n    ${JSON.stringify(f.c).slice(0, 400)}`);
  expect(r.failures.length).toBe(0);
}, 3_600_000);
