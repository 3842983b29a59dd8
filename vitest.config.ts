import { defineConfig } from 'vitest/config';

// Tests spawn the real CLI and real processes: on a busy 2-core machine a spawn can take seconds.
// Generous limits here; no test asserts on how long anything took (timing numbers are in benchmarks).
export default defineConfig({
  test: {
    exclude: ['test/bench/**', 'test/sweep/**', 'node_modules/**', 'dist/**'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});
