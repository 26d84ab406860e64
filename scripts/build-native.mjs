#!/usr/bin/env node
// Builds the CPU addon from source with node-gyp into build/Release (what `wan-video build` and
// `npm run build:native` run). `--if-missing` builds only when node-gyp-build finds no addon for
// this platform (a build/Release or a bundled prebuild): the repository's `prepare` step, so that
// `npm ci` in a clone gives a working addon while an installed package, which carries prebuilds
// and runs no install script, never compiles.
// Nothing is downloaded: the Node headers come from the running Node's own install when it ships
// them (include/node), else from node-gyp's cache as configured on the machine.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

if (process.argv.includes('--if-missing')) {
  try {
    const found = require('node-gyp-build').resolve(root);
    console.error(`wan-video: using ${found} (npm run build:native rebuilds it from source)`);
    process.exit(0);
  } catch {
    // nothing prebuilt or built yet: build below
  }
}

function nodeGypCommand() {
  const local = join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (existsSync(local)) return [process.execPath, [local]];
  // npm sets this to the node-gyp it bundles, inside `npm run` / `npm exec`.
  if (process.env.npm_config_node_gyp) return [process.execPath, [process.env.npm_config_node_gyp]];
  return ['npx', ['--no-install', 'node-gyp']];
}

const args = ['rebuild', '--jobs=max'];
const prefix = dirname(dirname(process.execPath));
if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'common.gypi'))) {
  args.push(`--nodedir=${prefix}`);
}
const [cmd, pre] = nodeGypCommand();
console.log(`wan-video: building the CPU addon from source (${[...pre, ...args].join(' ')})`);
const r = spawnSync(cmd, [...pre, ...args], { cwd: root, stdio: 'inherit' });
if (r.error || r.status !== 0) {
  console.error(
    `wan-video: the native build failed${r.error ? ` (${r.error.message})` : ''}; it needs a C++17 compiler, make and python3 ` +
      '(Debian/Ubuntu: apt-get install build-essential python3), see the output above',
  );
  process.exit(r.status || 1);
}
