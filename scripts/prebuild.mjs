#!/usr/bin/env node
// Makes the prebuilt CPU addon for this platform under prebuilds/<platform>-<arch>/ with
// prebuildify (N-API, tagged with the C library: wan-video.glibc.node or wan-video.musl.node), the
// file node-gyp-build finds in an installed package. It is built so that it runs on machines
// other than this one:
//  - without BLAS (the portable, runtime-dispatched AVX-512/AVX2/generic kernel), so it needs no
//    shared library beyond the C library;
//  - on Linux it needs the glibc and libstdc++ versions of the machine that built it, or newer
//    (printed at the end). Build on the oldest distribution you support. WAN_VIDEO_STATIC_RUNTIME=1
//    links libstdc++ and libgcc statically, which drops the libstdc++ requirement but, with a
//    recent toolchain, raises the glibc one (GCC 12's libstdc++.a calls arc4random, glibc 2.36):
//    it pays off on an old builder (.github/workflows/prebuild.yml: Debian bullseye, glibc 2.31).
// build/ (a developer's own build, possibly with OpenBLAS) is set aside and put back, so running
// this leaves the clone as it was apart from prebuilds/.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const prebuildify = join(root, 'node_modules', 'prebuildify', 'bin.js');
const build = join(root, 'build');
const aside = join(root, `build.prebuild-aside-${process.pid}`);

const nodedir = dirname(dirname(process.execPath));
const extra = !process.env.npm_config_nodedir && existsSync(join(nodedir, 'include', 'node', 'common.gypi')) ? [`--nodedir=${nodedir}`] : [];
if (existsSync(build)) renameSync(build, aside);
let status = 1;
try {
  const r = spawnSync(process.execPath, [prebuildify, '--napi', '--strip', '--tag-libc', ...extra, ...process.argv.slice(2)], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, WAN_VIDEO_BLAS: process.env.WAN_VIDEO_BLAS ?? 'none' },
  });
  status = r.status ?? 1;
} finally {
  rmSync(build, { recursive: true, force: true });
  if (existsSync(aside)) renameSync(aside, build);
}
if (status !== 0) process.exit(status);

// Check that what was written loads on its own (PREBUILDS_ONLY: not the developer's build/).
const dir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
for (const f of readdirSync(dir)) {
  console.log(`wan-video: ${join('prebuilds', `${process.platform}-${process.arch}`, f)} (${(statSync(join(dir, f)).size / 2 ** 20).toFixed(2)} MiB)${requirements(join(dir, f))}`);
}
const check = spawnSync(process.execPath, ['-e', "const a = require('node-gyp-build')(process.argv[1]); const i = a.info(); console.log(`loads: ${i.backend} backend, gemm ${i.gemm}`)", root], {
  cwd: root,
  encoding: 'utf8',
  env: { ...process.env, PREBUILDS_ONLY: '1' },
});
process.stdout.write(check.stdout);
if (check.status !== 0) {
  process.stderr.write(check.stderr);
  console.error('wan-video: the prebuild does not load');
  process.exit(1);
}

/** The newest glibc / libstdc++ symbol versions a Linux binary asks for (objdump, when installed). */
function requirements(file) {
  if (process.platform !== 'linux') return '';
  const r = spawnSync('objdump', ['-T', file], { encoding: 'utf8' });
  if (r.status !== 0) return '';
  const newest = (prefix) => {
    const versions = [...new Set(r.stdout.match(new RegExp(`${prefix}_[0-9.]+`, 'g')) ?? [])].map((v) => v.slice(prefix.length + 1));
    versions.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    return versions.at(-1);
  };
  const glibc = newest('GLIBC');
  const cxx = newest('GLIBCXX');
  return `: needs ${glibc ? `glibc >= ${glibc}` : 'no glibc symbol versions'}${cxx ? `, libstdc++ with GLIBCXX_${cxx}` : ', no libstdc++'}`;
}
