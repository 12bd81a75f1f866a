import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Native searches over large indexes take seconds on two cores; these are not timing tests.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Each file builds its own big indexes; running files in parallel on two cores only
    // makes each slower and multiplies memory.
    fileParallelism: false,
  },
});
