import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Two test files at a time: most tests wait on servers and child processes, and vitest's default on a
    // 2-core machine (cores - 1) runs them one by one (CI time doubles).
    maxWorkers: 2,
  },
});
