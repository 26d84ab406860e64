#!/usr/bin/env node
// Build facts for binding.gyp (which cannot run logic itself): `sources` prints the source list,
// `blas` prints which BLAS to link (openblas | accelerate | none), `static-runtime` whether to link
// libstdc++ and libgcc statically (true for prebuilds: they then need only the C library).
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The lines of cpp/sources.txt; `dir/*.cpp` stands for the .cpp files of that folder, sorted. */
export function sourceList() {
  return readFileSync(join(root, 'cpp/sources.txt'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .flatMap((l) => {
      if (!l.endsWith('/*.cpp')) return [l];
      const dir = l.slice(0, -'/*.cpp'.length);
      if (!existsSync(join(root, dir))) return [];
      return readdirSync(join(root, dir)).filter((f) => f.endsWith('.cpp')).sort().map((f) => `${dir}/${f}`);
    });
}

export function detectBlas() {
  if (process.env.WAN_VIDEO_BLAS === 'none') return 'none';
  if (process.platform === 'darwin') return 'accelerate';
  if (process.platform !== 'linux') return 'none';
  const includeDirs = ['/usr/include', '/usr/include/openblas', `/usr/include/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`];
  const libDirs = ['/usr/lib', '/usr/lib64', `/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`];
  const header = includeDirs.some((d) => existsSync(join(d, 'cblas.h')));
  const lib = libDirs.some((d) => existsSync(join(d, 'libopenblas.so')));
  return header && lib ? 'openblas' : 'none';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const what = process.argv[2];
  if (what === 'sources') console.log(sourceList().join(' '));
  else if (what === 'blas') console.log(detectBlas());
  else if (what === 'static-runtime') console.log(process.env.WAN_VIDEO_STATIC_RUNTIME === '1' ? 'true' : 'false');
  else {
    console.error('usage: native-config.mjs sources|blas|static-runtime');
    process.exit(2);
  }
}
