// The Hopper attention kernel (cuda/attention/hopper_*) cannot run here: its host emulation can.
// cuda/attention/tests/hopper_emulation_test.cpp runs the kernel's own control flow and index math
// on modelled mbarriers, TMA copies and wgmma products (see its header) for every configuration
// built into the library, and exits 0 only when every check passes.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { repoRoot } from '../helpers/paths.js';

const cxx = process.env.CXX ?? 'c++';
const haveCompiler = spawnSync(cxx, ['--version']).status === 0;

describe.runIf(haveCompiler)('Hopper attention host emulation', () => {
  it('passes every operand, fragment, protocol and numeric check', () => {
    const exe = join(mkdtempSync(join(tmpdir(), 'wan-hopper-emu-')), 'hopper_emulation_test');
    const build = spawnSync(
      cxx,
      ['-std=c++17', '-O2', '-pthread', '-Wno-unknown-pragmas', '-I', join(repoRoot, 'cuda', 'attention'),
        join(repoRoot, 'cuda', 'attention', 'tests', 'hopper_emulation_test.cpp'), '-o', exe],
      { encoding: 'utf8' },
    );
    expect(build.status, build.stderr).toBe(0);
    const run = spawnSync(exe, [], { encoding: 'utf8', timeout: 300_000 });
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout).toMatch(/all emulation checks passed/);
    expect(run.stdout).not.toMatch(/FAIL/);
  }, 600_000);
});
