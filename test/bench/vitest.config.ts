import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/bench/**/*.bench.test.ts'],
    testTimeout: 300_000,
    // journals of runs that name no runs dir go to a temp XDG state dir, never the machine's home
    globalSetup: ['test/support/state-home.ts'],
  },
});
