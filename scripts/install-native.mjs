#!/usr/bin/env node
// Builds the CPU addon with node-gyp unless a prebuild for this platform is present (or --force).
// Nothing is downloaded: the Node headers come from the running Node's own install when it ships
// them (include/node), else from node-gyp's cache as configured on the machine.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const force = process.argv.includes('--force');

if (!force) {
  try {
    const found = require('node-gyp-build').resolve(root);
    console.log(`wan-video: using ${found}`);
    process.exit(0);
  } catch {
    // nothing prebuilt or built yet: build below
  }
}

function nodeGypCommand() {
  const local = join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (existsSync(local)) return [process.execPath, [local]];
  if (process.env.npm_config_node_gyp) return [process.execPath, [process.env.npm_config_node_gyp]];
  return ['npx', ['--no-install', 'node-gyp']];
}

const args = ['rebuild', '--jobs=max'];
const prefix = dirname(dirname(process.execPath));
if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'common.gypi'))) {
  args.push(`--nodedir=${prefix}`);
}
const [cmd, pre] = nodeGypCommand();
console.log(`wan-video: building the CPU addon (${[...pre, ...args].join(' ')})`);
const r = spawnSync(cmd, [...pre, ...args], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  console.error('wan-video: the native build failed; see the compiler output above');
  process.exit(r.status ?? 1);
}
