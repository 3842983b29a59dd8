import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/sweep/**/*.test.ts'],
    testTimeout: 24 * 3600_000,
    hookTimeout: 600_000,
  },
});
