import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/sweep/**/*.test.ts'],
    testTimeout: 24 * 3600_000,
    hookTimeout: 600_000,
    // journals of runs that name no runs dir go to a temp XDG state dir, never the machine's home
    globalSetup: ['test/support/state-home.ts'],
  },
});
