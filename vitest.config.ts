import { defineConfig } from 'vitest/config';

// `npm test`: everything that runs on a CPU machine in a few minutes. The CUDA toolchain checks
// (compiling the CUDA addon and the parity harness) are `npm run test:cuda` (vitest.cuda.config.ts).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/cuda/**', '**/node_modules/**'],
    globalSetup: ['test/helpers/global-tmp.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
  },
});
