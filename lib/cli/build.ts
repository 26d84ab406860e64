import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

import { packageRoot } from '../bindings/loader.js';
import { type CommandSpec, parseCommand } from './args.js';

export const BUILD = {
  name: 'build',
  summary: 'compile the native addon from source (CPU; --cuda: CUDA)',
  usage: `usage: wan-video build [--cuda]

Compiles the addon from the C++ sources the package carries: the explicit step that replaces an
install script. Only needed where no prebuilt addon fits this platform (\`wan-video info\` says which
addon loads), or to link OpenBLAS (found at build time; the prebuilds use their own kernel).
  (default)   the CPU addon with node-gyp into build/Release: needs a C++17 compiler, make and python3
  --cuda      the CUDA addon with cmake-js into build-cuda/Release: also needs cmake and a CUDA toolkit
`,
  options: { cuda: { type: 'boolean', default: false } },
} satisfies CommandSpec;

/** Builds the addon from source. */
export async function runBuild(args: string[]): Promise<number> {
  const parsed = parseCommand(BUILD, args);
  if (parsed.help) return 0;
  const script = parsed.values.cuda ? 'build-cuda.mjs' : 'build-native.mjs';
  const r = spawnSync(process.execPath, [join(packageRoot, 'scripts', script)], { cwd: packageRoot, stdio: 'inherit' });
  return r.status ?? 1;
}
