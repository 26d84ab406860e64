// The CMake/cmake-js build of the CUDA addon from the same source list, wherever a CUDA compiler
// is installed (CI has nvcc but no GPU: the addon must build, load, and report no device).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import type { NativeAddon } from '../../lib/bindings/native.js';
import { repoRoot } from '../helpers/paths.js';

const nvcc = process.env.CUDACXX ?? '/usr/local/cuda/bin/nvcc';
const haveToolchain = existsSync(nvcc) && spawnSync('cmake', ['--version']).status === 0;

describe.runIf(haveToolchain)('CUDA addon build', () => {
  it('builds the C++ sources plus cuda/ with cmake-js and loads', () => {
    const out = mkdtempSync(join(tmpdir(), 'wan-cuda-build-'));
    const r = spawnSync(process.execPath, [join(repoRoot, 'scripts', 'build-cuda.mjs'), '--out', out], {
      cwd: repoRoot,
      encoding: 'utf8',
      env: { ...process.env, CUDACXX: nvcc },
    });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/Building CUDA object .*device_query\.cu/);
    const addon = createRequire(import.meta.url)(join(out, 'Release', 'wan_video.node')) as NativeAddon;
    const info = addon.info();
    expect(info.cudaBuild).toBe(true);
    expect(Array.isArray(info.cudaDevices)).toBe(true);
    if (info.cudaDevices?.length === 0) expect(info.cudaError).toMatch(/\S/);
  }, 600_000);
});
