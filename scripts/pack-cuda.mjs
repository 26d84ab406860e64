#!/usr/bin/env node
// Packs the CUDA addon as its own optional npm package, one per CUDA major and platform:
// @wan-video/<platform>-<arch>-cuda<major> (e.g. @wan-video/linux-x64-cuda13), holding
// wan_video.node built by `npm run build:cuda` with this machine's CUDA toolkit. A user installs
// it beside wan-video (`npm install wan-video @wan-video/linux-x64-cuda13`); wan-video's loader
// finds it, probes it in a child process and uses it when a device answers, else says why not
// (`wan-video info`). The CUDA runtime is linked statically; cuBLASLt of the same CUDA major must
// be installed on the user's machine (the probe names it when it is missing).
//
//   npm run pack:cuda [-- --skip-build] [-- --out DIR]     (default DIR: dist-cuda/)
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const outIdx = argv.indexOf('--out');
const outDir = resolve(outIdx >= 0 ? argv[outIdx + 1] : join(root, 'dist-cuda'));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

const nvcc = process.env.CUDACXX ?? '/usr/local/cuda/bin/nvcc';
const version = spawnSync(nvcc, ['--version'], { encoding: 'utf8' });
const m = /release (\d+)\.(\d+)/.exec(version.stdout ?? '');
if (!m) {
  console.error(`pack:cuda: no CUDA toolkit (${nvcc} --version did not answer); set CUDACXX to nvcc`);
  process.exit(1);
}
const major = Number(m[1]);

if (!argv.includes('--skip-build')) {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'build-cuda.mjs')], { cwd: root, stdio: 'inherit', env: { ...process.env, CUDACXX: nvcc } });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
const addon = join(root, 'build-cuda', 'Release', 'wan_video.node');
if (!existsSync(addon)) {
  console.error(`pack:cuda: ${addon} is missing (run npm run build:cuda)`);
  process.exit(1);
}

const name = `@wan-video/${process.platform}-${process.arch}-cuda${major}`;
const dir = join(outDir, name.replace('/', '+'));
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
copyFileSync(addon, join(dir, 'wan_video.node'));
copyFileSync(join(root, 'LICENSE'), join(dir, 'LICENSE'));
writeFileSync(
  join(dir, 'README.md'),
  `# ${name}\n\nThe CUDA ${major} addon of [wan-video](https://www.npmjs.com/package/wan-video) for ${process.platform}-${process.arch}, ` +
    `built with CUDA ${m[1]}.${m[2]}. Install it beside wan-video; \`npx wan-video info\` says whether it loaded and, if not, why ` +
    `(it needs an NVIDIA driver for CUDA ${major} and cuBLASLt ${major}).\n`,
);
writeFileSync(
  join(dir, 'package.json'),
  `${JSON.stringify(
    {
      name,
      version: pkg.version,
      description: `CUDA ${major} addon for wan-video (${process.platform}-${process.arch})`,
      license: pkg.license,
      os: [process.platform],
      cpu: [process.arch],
      ...(process.platform === 'linux' ? { libc: ['glibc'] } : {}),
      files: ['wan_video.node', 'LICENSE', 'README.md'],
      peerDependencies: { 'wan-video': pkg.version },
    },
    null,
    2,
  )}\n`,
);
const packed = spawnSync('npm', ['pack', '--pack-destination', outDir], { cwd: dir, encoding: 'utf8' });
if (packed.status !== 0) {
  process.stderr.write(packed.stderr);
  process.exit(packed.status ?? 1);
}
console.log(`pack:cuda: ${name} -> ${join(outDir, packed.stdout.trim().split('\n').at(-1))}`);
