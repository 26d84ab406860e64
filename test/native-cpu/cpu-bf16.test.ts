// The opt-in bf16 dot-product products (WAN_VIDEO_CPU_PRECISION=bf16: AMX or AVX512-BF16): the backend is
// made once per process, so the checks run in a child process with the variable set. Against a
// float64 reference with the activations rounded to bf16 the result is exact up to float32
// summation; against the exact product it is within bf16 rounding of the activations.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { repoRoot } from '../helpers/paths.js';

const CHILD = `
import { loadAddon } from ${JSON.stringify(join(repoRoot, 'dist', 'bindings', 'loader.js'))};
import { writeSafetensors, floatToBf16Bits } from ${JSON.stringify(join(repoRoot, 'dist', 'model', 'safetensors-writer.js'))};
import { readSafetensorsHeader } from ${JSON.stringify(join(repoRoot, 'dist', 'model', 'safetensors.js'))};
const { addon } = loadAddon('cpu');
const bf = (v) => new Float32Array(new Uint32Array([floatToBf16Bits(v) << 16]).buffer)[0];
let s = 7;
const rnd = () => (s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5;
const out = { gemm: addon.info().gemm, cases: [] };
for (const [M, K, N] of [[1, 64, 24], [37, 129, 100], [200, 1536, 70], [15, 4096, 33], [29, 700, 65]]) {
  const W = Float32Array.from({ length: N * K }, rnd);
  const x = Float32Array.from({ length: M * K }, rnd);
  const f = process.argv[2] + '/w' + M + '.safetensors';
  await writeSafetensors(f, { w: { dtype: 'BF16', shape: [N, K], data: W } });
  const e = (await readSafetensorsHeader(f)).byName.get('w');
  const r = await addon.probeWeight({ tensor: { name: 'w', file: f, offset: e.offset, length: e.length, dtype: 'BF16', shape: [N, K] }, x: { data: x, shape: [M, K] } });
  const Wb = W.map(bf), xb = x.map(bf);
  let nRounded = 0, nExact = 0, d = 0;
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
    let a = 0, b = 0;
    for (let k = 0; k < K; k++) { const w = Wb[j * K + k]; a += xb[i * K + k] * w; b += x[i * K + k] * w; }
    const y = r.y.data[i * N + j];
    nRounded += (y - a) ** 2; nExact += (y - b) ** 2; d += b * b;
  }
  out.cases.push({ shape: [M, K, N], vsRounded: Math.sqrt(nRounded / d), vsExact: Math.sqrt(nExact / d) });
}
process.stdout.write(JSON.stringify(out));
`;

function run(precision: string | undefined, kernel?: string) {
  const dir = mkdtempSync(join(tmpdir(), 'wan-bf16-'));
  const script = join(dir, 'child.mjs');
  writeFileSync(script, CHILD);
  const env: NodeJS.ProcessEnv = { ...process.env, WAN_VIDEO_DEVICE: 'cpu' };
  delete env.WAN_VIDEO_CPU_PRECISION;
  delete env.WAN_VIDEO_BF16_KERNEL;
  if (precision) env.WAN_VIDEO_CPU_PRECISION = precision;
  if (kernel) env.WAN_VIDEO_BF16_KERNEL = kernel;
  const r = spawnSync(process.execPath, [script, dir], { encoding: 'utf8', env });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { gemm: string; cases: Array<{ shape: number[]; vsRounded: number; vsExact: number }> };
}

describe('bf16 weights on the CPU', () => {
  it('are exact by default: widened to float32 per tile, activations untouched', () => {
    const r = run(undefined);
    expect(r.gemm).not.toMatch(/bf16 dot/);
    for (const c of r.cases) expect(c.vsExact, String(c.shape)).toBeLessThan(1e-6);
  });

  it.each([
    ['the best kernel the CPU has (AMX, else AVX512-BF16)', undefined],
    ['the AVX512-BF16 kernel', 'avx512'],
  ])('use bf16 dot products when asked and the CPU has them, with bf16-rounded activations: %s', (_, kernel) => {
    const r = run('bf16', kernel);
    if (kernel) expect(r.gemm).not.toMatch(/amx/);
    if (!/bf16 dot/.test(r.gemm)) {
      // A CPU without avx512_bf16 keeps the exact path (and says so by not naming the dot products).
      for (const c of r.cases) expect(c.vsExact).toBeLessThan(1e-6);
      return;
    }
    for (const c of r.cases) {
      expect(c.vsRounded, String(c.shape)).toBeLessThan(2e-6);
      expect(c.vsExact, String(c.shape)).toBeGreaterThan(1e-4);
      expect(c.vsExact, String(c.shape)).toBeLessThan(5e-3);
    }
  });
});
