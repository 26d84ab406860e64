import { defineConfig } from 'vitest/config';

// `npm run test:cuda`: builds the CUDA addon and the backend parity harness with nvcc and runs the
// harness's CPU half (no GPU needed; skipped where no CUDA toolkit and cmake are installed).
// Minutes of compiling, so not part of `npm test`; .ci/run runs it when nvcc is present.
export default defineConfig({
  test: {
    include: ['test/cuda/**/*.test.ts'],
    globalSetup: ['test/helpers/global-tmp.ts'],
    testTimeout: 900_000,
    hookTimeout: 900_000,
    pool: 'forks',
  },
});
