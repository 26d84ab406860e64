#!/usr/bin/env node
// The release flow as a user meets it, end to end (npm run test:release; .ci/run runs it after the
// test suite): make the prebuild for this platform, pack the package, install the tarball into an
// empty project with install scripts disabled, and use it there with no compiler on PATH:
// `npx wan-video demo`, `--version`, an output it cannot write refused, require() and import. Slow (a native build and an npm
// install): not part of `npm test`. Everything it writes lives in one temporary folder, removed at
// the end. Options: --skip-prebuild (reuse prebuilds/ as it is), --keep (leave the folder).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const argv = new Set(process.argv.slice(2));
const work = mkdtempSync(join(tmpdir(), 'wan-release-'));
const npmCli = findNpmCli();
let passed = 0;
let failed = 0;

/** npm's own npm-cli.js: the one running us, else the `npm` on PATH followed to its file. */
function findNpmCli() {
  if (process.env.npm_execpath?.endsWith('.js')) return process.env.npm_execpath;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'npm');
    if (!existsSync(candidate)) continue;
    const real = realpathSync(candidate);
    if (real.endsWith('.js')) return real;
  }
  return null;
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26, ...opts });
  return { status: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error };
}
const npm = (args, opts) => (npmCli ? run(process.execPath, [npmCli, ...args], opts) : run('npm', args, opts));

function check(name, fn) {
  try {
    fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${name}\n     ${String(err instanceof Error ? err.message : err).split('\n').join('\n     ')}`);
  }
}
function must(cond, message) {
  if (!cond) throw new Error(message);
}
const out = (r) => `exit ${r.status}${r.signal ? ` (${r.signal})` : ''}\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`;

/** A PATH with node, npm, npx and sh only (npx runs a package's bin through sh): no cc, gcc, g++, clang, make or python. */
function bareBin() {
  const bin = join(work, 'bare-bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  if (existsSync('/bin/sh')) symlinkSync('/bin/sh', join(bin, 'sh'));
  const npmRoot = npmCli ? dirname(dirname(npmCli)) : null;
  for (const [name, file] of [['npm', 'npm-cli.js'], ['npx', 'npx-cli.js']]) {
    const target = npmRoot ? join(npmRoot, 'bin', file) : null;
    if (target && existsSync(target)) symlinkSync(target, join(bin, name));
  }
  return bin;
}

try {
  // 1. The prebuild for this platform, as `npm run prebuild` makes it.
  if (!argv.has('--skip-prebuild')) {
    const r = npm(['run', 'prebuild'], { cwd: root });
    check('npm run prebuild makes a prebuild that loads', () => must(r.status === 0 && /loads: cpu backend/.test(r.stdout), out(r)));
  }

  // 2. The tarball.
  const packDir = join(work, 'pack');
  mkdirSync(packDir);
  const packed = npm(['pack', '--json', '--pack-destination', packDir], { cwd: root });
  let tarball = '';
  check('npm pack', () => {
    must(packed.status === 0, out(packed));
    const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('[')));
    tarball = join(packDir, info.filename);
    const files = info.files.map((f) => f.path);
    const tag = `prebuilds/${process.platform}-${process.arch}/`;
    must(files.some((f) => f.startsWith(tag) && f.endsWith('.node')), `no ${tag}*.node in the tarball`);
    for (const f of ['LICENSE', 'dist/index.js', 'dist/index.cjs', 'dist/cli/main.js', 'binding.gyp']) must(files.includes(f), `${f} missing from the tarball`);
    must(!files.some((f) => f.startsWith('test/') || f.startsWith('build/')), 'tests or a local build/ were packed');
    console.log(`     ${info.filename}: ${(info.size / 2 ** 20).toFixed(2)} MiB packed, ${(info.unpackedSize / 2 ** 20).toFixed(2)} MiB unpacked, ${files.length} files`);
  });
  check('the packed package.json has no install-time script', () => {
    const scripts = pkg.scripts ?? {};
    for (const s of ['preinstall', 'install', 'postinstall']) must(!(s in scripts), `package.json has a "${s}" script`);
  });

  // 3. An empty project that installs it with scripts disabled.
  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'wan-video-release-check', version: '1.0.0', private: true }, null, 2));
  const installed = npm(['install', tarball, '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: app });
  check('npm install <tarball> --ignore-scripts', () => must(installed.status === 0, out(installed)));

  // 4. Used with no compiler on PATH.
  const bin = bareBin();
  const env = { ...process.env, PATH: [bin, join(app, 'node_modules', '.bin')].join(delimiter), WAN_VIDEO_CACHE: join(work, 'cache'), WAN_VIDEO_DEVICE: 'auto' };
  for (const k of Object.keys(env)) if (k.startsWith('npm_')) delete env[k];
  check('no compiler is on the PATH used below', () => {
    for (const dir of env.PATH.split(delimiter)) {
      for (const tool of ['cc', 'gcc', 'g++', 'c++', 'clang', 'make', 'python3']) must(!existsSync(join(dir, tool)), `${join(dir, tool)} exists`);
    }
  });
  const npx = existsSync(join(bin, 'npx')) ? join(bin, 'npx') : 'npx';
  check('npx wan-video --version', () => {
    const r = run(npx, ['--no-install', 'wan-video', '--version'], { cwd: app, env });
    must(r.status === 0 && r.stdout.trim() === pkg.version, out(r));
  });
  check('npx wan-video demo writes the video and the labelled trajectory sheet from the prebuild', () => {
    const demoDir = join(work, 'demo');
    const r = run(npx, ['--no-install', 'wan-video', 'demo', '--out-dir', demoDir], { cwd: app, env });
    must(r.status === 0, out(r));
    must(/RANDOM weights/.test(r.stderr), `the demo does not say its weights are random:\n${r.stderr}`);
    for (const f of ['wan-video-demo.mp4', 'wan-video-demo.png']) must(existsSync(join(demoDir, f)) && statSync(join(demoDir, f)).size > 1000, `${f} missing or empty`);
    const info = run(npx, ['--no-install', 'wan-video', 'info'], { cwd: app, env });
    must(info.status === 0 && /prebuilds/.test(info.stdout), `info does not show the prebuild being used:\n${out(info)}`);
  });
  check('npx wan-video generate --out /nonexistent/x.mp4 exits non-zero naming the path, before any work', () => {
    const model = join(work, 'cache', 'demo-tiny-wan');
    const r = run(npx, ['--no-install', 'wan-video', 'generate', '--model', model, '--prompt', 'a fox', '--out', '/nonexistent/x.mp4'], { cwd: app, env });
    must(r.status !== 0 && r.status !== null, `exit status ${r.status}:\n${out(r)}`);
    must(/\/nonexistent\/x\.mp4/.test(r.stderr) && !/^step /m.test(r.stderr), `the refusal does not name the path, or came after the steps:\n${out(r)}`);
  });
  check("require('wan-video') (CommonJS)", () => {
    const r = run(process.execPath, ['-e', "const w = require('wan-video'); const a = w.loadAddon('cpu'); if (typeof w.WanPipeline !== 'function' || !/prebuilds/.test(a.path)) process.exit(1); console.log(a.path)"], { cwd: app, env });
    must(r.status === 0, out(r));
  });
  check("import('wan-video') (ES module)", () => {
    const r = run(process.execPath, ['--input-type=module', '-e', "const w = await import('wan-video'); if (typeof w.WanPipeline !== 'function' || typeof w.normalizeRequest !== 'function') process.exit(1);"], { cwd: app, env });
    must(r.status === 0, out(r));
  });
  const files = readdirSync(join(app, 'node_modules', 'wan-video'));
  check('the installed package was not built on install', () => must(!files.includes('build'), 'node_modules/wan-video/build exists'));
} finally {
  if (argv.has('--keep')) console.log(`kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
console.log(`release: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
