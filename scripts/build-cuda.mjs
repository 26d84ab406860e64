#!/usr/bin/env node
// Builds the CUDA addon into build-cuda/ with cmake-js (N-API headers come from the node-api-headers
// package, so nothing is downloaded). Extra arguments pass through to cmake-js, e.g.
// `npm run build:cuda -- --CDCMAKE_CUDA_ARCHITECTURES=90`. Parallel jobs: CMAKE_BUILD_PARALLEL_LEVEL.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cmakeJs = join(root, 'node_modules', 'cmake-js', 'bin', 'cmake-js');
const extra = process.argv.slice(2);
// `--out DIR` builds elsewhere (tests); the loader looks in build-cuda/.
const args = [cmakeJs, 'rebuild', ...(extra.includes('--out') ? [] : ['--out', 'build-cuda']), '--config', 'Release', ...extra];
console.log(`wan-video: ${args.slice(1).join(' ')}`);
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit', env: { CMAKE_BUILD_PARALLEL_LEVEL: String(os.availableParallelism()), ...process.env, CUDACXX: process.env.CUDACXX ?? findNvcc() } });
process.exit(r.status ?? 1);

function findNvcc() {
  for (const p of ['/usr/local/cuda/bin/nvcc']) {
    try {
      if (spawnSync(p, ['--version']).status === 0) return p;
    } catch {
      // try the next
    }
  }
  return undefined;
}
