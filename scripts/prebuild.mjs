#!/usr/bin/env node
// Makes the prebuilt CPU addon for this platform under prebuilds/ (prebuildify, N-API). It is
// built without BLAS (the portable kernel) so the binary needs no shared library at run time.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const prebuildify = join(root, 'node_modules', 'prebuildify', 'bin.js');
const r = spawnSync(process.execPath, [prebuildify, '--napi', '--strip', ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, WAN_VIDEO_BLAS: process.env.WAN_VIDEO_BLAS ?? 'none' },
});
process.exit(r.status ?? 1);
