import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

import { packageRoot } from '../bindings/loader.js';
import { parseCommandArgs } from './args.js';

/** Builds the addon from source: the explicit step that replaces install scripts for users. */
export async function runBuild(args: string[]): Promise<number> {
  const { values } = parseCommandArgs(args, { cuda: { type: 'boolean', default: false } });
  const script = values.cuda ? 'build-cuda.mjs' : 'build-native.mjs';
  const r = spawnSync(process.execPath, [join(packageRoot, 'scripts', script)], { cwd: packageRoot, stdio: 'inherit' });
  return r.status ?? 1;
}
