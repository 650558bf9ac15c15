import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['daemon/**/*.test.ts', 'test/**/*.test.ts'],
    // Integration tests start real daemons; give them room on a loaded 2-core machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Most test time is spent waiting on real daemons and child processes, not on the CPU: on a 2-core CI
    // machine two files at once halve the wall time (the default leaves one core idle).
    maxWorkers: Math.min(4, Math.max(2, availableParallelism())),
  },
});
