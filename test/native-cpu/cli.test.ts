// The wan-video command as a person runs it (the built dist/, as `npm test` builds it first).
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { readSafetensorsF32 } from '../../lib/model/safetensors.js';
import { writeSafetensors } from '../../lib/model/safetensors-writer.js';
import { fixturesRoot, haveFixtures, repoRoot } from '../helpers/paths.js';

const cli = join(repoRoot, 'dist', 'cli', 'main.js');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, WAN_VIDEO_DEVICE: 'cpu' } });

/** A root with the square dit case and a case of a kind no runtime knows (always SKIP). */
function rootWithSkip(): string {
  const root = mkdtempSync(join(tmpdir(), 'wan-conf-'));
  symlinkSync(join(fixturesRoot, 'models'), join(root, 'models'));
  cpSync(join(fixturesRoot, 'cases', 'dit', 't2v-tiny-square'), join(root, 'cases', 'dit', 't2v-tiny-square'), { recursive: true });
  const future = join(root, 'cases', 'future', 'teleport');
  mkdirSync(future, { recursive: true });
  writeFileSync(
    join(future, 'manifest.json'),
    JSON.stringify({ kind: 'teleport', model: null, params: {}, tolerance: { rel_l2: 0 }, inputs: [], outputs: ['out.x'], shapes: { 'out.x': [1] } }),
  );
  return root;
}

describe.runIf(haveFixtures)('wan-video conformance', () => {
  it('prints one line per case and the summary, exit 0 when nothing fails', () => {
    const r = run('conformance', rootWithSkip());
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(/^PASS dit\/t2v-tiny-square \d\.\d\de-\d+ out\.\w+$/),
      'SKIP future/teleport - - (unknown case kind "teleport")',
      '1 passed, 0 failed, 1 skipped',
    ]);
  });

  it('runs several roots into one report (the shared fixtures and the repository\'s own)', () => {
    const r = run('conformance', rootWithSkip(), join(repoRoot, 'test', 'fixtures'), '--family', 'dit', '--family', 'dbcache');
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^PASS dit\/t2v-tiny-square /);
    expect(lines.filter((l) => /^PASS dbcache\//.test(l))).toHaveLength(4);
    expect(lines.at(-1)).toBe('5 passed, 0 failed, 0 skipped');
  });

  it('--family selects families', () => {
    const r = run('conformance', fixturesRoot, '--family', 'dit');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n').at(-1)).toBe('7 passed, 0 failed, 0 skipped');
  });

  it('--json prints one document in the documented shape', () => {
    const r = run('conformance', rootWithSkip(), '--json');
    expect(r.status, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ passed: 1, failed: 0, skipped: 1 });
    const square = doc.cases.find((c: { case: string }) => c.case === 'dit/t2v-tiny-square');
    expect(square.status).toBe('pass');
    expect(square.worst).toBeLessThan(1e-4);
    expect(square.tensors['out.sample']).toBeLessThan(1e-4);
    expect(doc.cases[1]).toEqual({ case: 'future/teleport', status: 'skip', reason: 'unknown case kind "teleport"' });
  });

  it('fails (exit 1) a case whose expected output is wrong, naming the tensor', async () => {
    const root = mkdtempSync(join(tmpdir(), 'wan-conf-'));
    symlinkSync(join(fixturesRoot, 'models'), join(root, 'models'));
    const dir = join(root, 'cases', 'dit', 'perturbed');
    mkdirSync(dir, { recursive: true });
    const src = join(fixturesRoot, 'cases', 'dit', 't2v-tiny-square');
    cpSync(join(src, 'manifest.json'), join(dir, 'manifest.json'));
    const tensors = await readSafetensorsF32(join(src, 'tensors.safetensors'));
    const out: Record<string, { dtype: string; shape: number[]; data: Float32Array }> = {};
    for (const [name, t] of tensors) out[name] = { dtype: 'F32', shape: t.shape, data: t.data };
    out['out.block0'].data = out['out.block0'].data.map((v, i) => (i === 0 ? v + 1 : v));
    await writeSafetensors(join(dir, 'tensors.safetensors'), out);
    const r = run('conformance', root);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^FAIL dit\/perturbed \S+ out\.block0/m);
    expect(r.stdout.trim().split('\n').at(-1)).toBe('0 passed, 1 failed, 0 skipped');
  });

  it('refuses a root without cases/ and unknown flags', () => {
    expect(run('conformance', tmpdir()).status).toBe(1);
    const r = run('conformance', fixturesRoot, '--bogus');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/bogus/);
  });
});
