import { defineConfig } from 'vitest/config';

// Tests spawn the real CLI and real processes: on a busy 2-core machine a spawn can take seconds.
// Generous limits here; no test asserts on how long anything took (timing numbers are in benchmarks).
export default defineConfig({
  test: {
    exclude: ['test/bench/**', 'test/sweep/**', 'node_modules/**', 'dist/**'],
    testTimeout: 120_000,
    // the end-to-end files mostly wait on etcd, sshd and S3: two files at a time (each with its own lab on
    // its own random 127.x.y block) halve the wall time on 2 cores, also with one core kept busy
    maxWorkers: 2,
    hookTimeout: 300_000,
    // journals of runs that name no runs dir go to a temp XDG state dir, never the machine's home
    globalSetup: ['test/support/state-home.ts'],
  },
});
