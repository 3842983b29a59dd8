import { describe, expect, it } from 'vitest';
import { fuzz } from '../support/input-fuzz.js';

// 500 generated inputs in npm test (the bench runs 10,000: npm run bench); FUZZ_SEED=N replays a run
describe('generated bad input keeps the contract', () => {
  it('500 mutated playbooks, inventories, expressions, -e, --limit and --tags: never a throw, always a placed problem or a plan', () => {
    const seed = Number(process.env['FUZZ_SEED'] ?? Date.now() % 1_000_000);
    const r = fuzz(seed, 500);
    console.log(`input fuzz: seed ${seed}, ${r.runs} cases, ${r.planned} planned clean, ${r.refused} refused, ${r.failures.length} broke the contract`);
    const shown = r.failures.slice(0, 3).map((f) => `${f.violations.join('; ')}\n  case: ${JSON.stringify(f.c).slice(0, 600)}`);
    expect(shown, `seed ${seed} (FUZZ_SEED=${seed} replays)`).toEqual([]);
  }, 300_000);
});
