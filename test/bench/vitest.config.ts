import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { defineConfig } from 'vitest/config';

/**
 * The bench files in a fixed order: start-up, engine (vs Ansible), then every other bench file (codec, data
 * path, input fuzz, per-step overhead, RTO) by name, and scale last: its lab of 100 nodes leaves the machine
 * busy for a while after its file ends (in the run of 2026-12-07 23:40 UTC the next file started at a load
 * average of 39 on 2 cores). Name a new file here to give it a place.
 */
const FIRST = ['startup', 'engine'];
const LAST = ['scale'];

class FixedOrder extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const name = (f: TestSpecification) => f.moduleId.split('/').pop()?.replace(/\.bench\.test\.ts$/, '') ?? '';
    const rank = (f: TestSpecification) => {
      const first = FIRST.indexOf(name(f));
      if (first !== -1) return first;
      const last = LAST.indexOf(name(f));
      return last === -1 ? FIRST.length : FIRST.length + 1 + last;
    };
    return [...files].sort((a, b) => rank(a) - rank(b) || name(a).localeCompare(name(b)));
  }
}

export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/bench/**/*.bench.test.ts'],
    // one file at a time: measurements must not overlap (each file starts its own lab and processes)
    fileParallelism: false,
    maxWorkers: 1,
    sequence: { sequencer: FixedOrder },
    testTimeout: 600_000,
    hookTimeout: 300_000,
    // frame.ts: load average and cores at the start and the end of the whole bench;
    // state-home.ts: journals of runs that name no runs dir go to a temp XDG state dir, never the machine's home
    globalSetup: ['test/bench/frame.ts', 'test/support/state-home.ts'],
  },
});
