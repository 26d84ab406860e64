// Run by the loader in a child process (node probe-addon.js <addon path>): loads one addon and
// prints what it says about itself as JSON. A binary that cannot load or crashes while it starts
// its device (a missing CUDA runtime, a driver older than the toolkit it was built with) takes
// this child down, not the process that wants to use it.
import { createRequire } from 'node:module';

import type { NativeAddon } from './native.js';

const path = process.argv[2];
if (!path) {
  process.stderr.write('usage: probe-addon.js <addon.node>\n');
  process.exit(2);
}
try {
  const addon = createRequire(import.meta.url)(path) as NativeAddon;
  process.stdout.write(`${JSON.stringify(addon.info())}\n`);
} catch (err) {
  // The loader's message alone (dlopen's "libcudart.so.12: cannot open shared object file", ...).
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
