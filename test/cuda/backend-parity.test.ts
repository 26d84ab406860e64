// The CUDA parity harness (wan_backend_parity, a C++ executable CMake builds with
// WAN_BUILD_PARITY) wherever a CUDA compiler is installed. Without a device it runs its CPU
// half: the CPU backend against a second CPU backend through every check, which proves the
// harness builds, covers every op of the Backend interface, writes its JSON, and fails when the
// device side's results are wrong (--perturb).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

import { repoRoot } from '../helpers/paths.js';

const nvcc = process.env.CUDACXX ?? '/usr/local/cuda/bin/nvcc';
const haveToolchain = existsSync(nvcc) && spawnSync('cmake', ['--version']).status === 0;

interface ParityReport {
  device: string;
  mode: string;
  passed: number;
  failed: number;
  parity: Array<{ name: string; rel_l2: number | null; bound: number; pass: boolean; error?: string }>;
}

// Every op of cpp/ops/backend.h, as the checks name them.
const BACKEND_OPS = [
  'upload/download', 'copy', 'linear', 'layer_norm', 'layer_norm_modulated', 'rms_norm', 'add_gated', 'activation',
  'modulation_rows', 'add_positional', 'linear_combination', 'multiply', 'embedding', 'timestep_embedding', 'rope',
  'patchify', 'unpatchify', 'permute', 'conv3d', 'channel_rms_norm', 'upsample_nearest_2x', 'avg_down_3d',
  'dup_up_3d', 'attention', 'mean_abs_difference', 'add_to_weight', 'load_weight', 'mergeable_copy',
  'conv_transpose2d', 'resize_bilinear', 'warp', 'pixel_shuffle', 'leaky_relu', 'copy_channels', 'mask_blend',
  'rms_norm_rope', 'linear_stacked', 'linear_add_gated',
];

describe.runIf(haveToolchain)('CUDA parity harness (CPU half)', () => {
  let exe = '';
  let out = '';

  beforeAll(() => {
    out = mkdtempSync(join(tmpdir(), 'wan-backend-parity-'));
    const build = join(out, 'build');
    // One architecture: the point is that the harness and the CUDA sources build, not a fat binary.
    const configure = spawnSync(
      'cmake',
      ['-S', repoRoot, '-B', build, '-DWAN_BUILD_PARITY=ON', '-DCMAKE_BUILD_TYPE=Release',
        '-DCMAKE_CUDA_ARCHITECTURES=90', `-DCMAKE_CUDA_COMPILER=${nvcc}`],
      { encoding: 'utf8' },
    );
    expect(configure.status, `${configure.stdout}\n${configure.stderr}`).toBe(0);
    const jobs = process.env.CMAKE_BUILD_PARALLEL_LEVEL ?? '2';
    const r = spawnSync('cmake', ['--build', build, '--target', 'wan_backend_parity', '-j', jobs], { encoding: 'utf8' });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    exe = join(build, 'wan_backend_parity');
  }, 900_000);

  it('runs every check of every op and model through the harness and writes the JSON report', () => {
    const json = join(out, 'parity.json');
    const r = spawnSync(exe, ['--cpu-only', '--json', json], { encoding: 'utf8' });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/^\d+ passed, 0 failed$/m);
    const report = JSON.parse(readFileSync(json, 'utf8')) as ParityReport;
    expect(report.mode).toBe('cpu-self-check');
    expect(report.device).toMatch(/cpu self-check/);
    expect(report.failed).toBe(0);
    expect(report.passed).toBe(report.parity.length);
    for (const op of BACKEND_OPS) {
      expect(report.parity.some((c) => c.name.startsWith(`${op} `)), `no check covers ${op}`).toBe(true);
    }
    for (const model of ['wan-dit t2v', 'wan-dit t2v with a merged attn1.to_q', 'wan-dit t2v over two latent grids', 'wan-dit i2v', 'wan-dit per-token', 'wan-dit offloaded (', 'wan-dit offloaded == resident', 'wan-dit streamed without parking', 'umt5 encoder', 'wan2.1 vae decode', 'wan2.2 vae decode', 'rife 4.25']) {
      expect(report.parity.some((c) => c.name.includes(model)), `no model check ${model}`).toBe(true);
    }
    // The fp8 GEMM opt-in's checks (cuBLASLt's fp8 path where the device has it; the bf16 path here).
    expect(report.parity.filter((c) => c.name.startsWith('fp8 GEMM opt-in: ')).length).toBe(4); // plain, residual add, GELU after, the bf16 fallback
    for (const c of report.parity) {
      // CPU against CPU: identical results; every bound is a bf16 one or tighter, except the fp8
      // GEMM's (e4m3 activations: 2^-4 / sqrt(3), harness.h).
      expect(c.rel_l2, c.name).toBe(0);
      expect(c.pass).toBe(true);
      expect(c.bound).toBeGreaterThan(0);
      // (The report prints 6 significant digits.)
      if (c.name.startsWith('fp8 GEMM opt-in: ') && !c.name.includes('falls back')) expect(c.bound).toBeCloseTo(2 ** -4 / Math.sqrt(3), 6);
      else expect(c.bound, c.name).toBeLessThanOrEqual(1e-2);
    }
  }, 300_000);

  it('runs the production-shape checks through the same code, reduced only by --reduce', () => {
    const json = join(out, 'production.json');
    const r = spawnSync(exe, ['--cpu-only', '--group', 'production-ops', '--group', 'production-models', '--reduce', '64', '--json', json], {
      encoding: 'utf8',
    });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    const report = JSON.parse(readFileSync(json, 'utf8')) as ParityReport & { reduce: number };
    expect(report.reduce).toBe(64);
    // Named by their production sizes; run at 1/64 of the tokens here.
    for (const name of [
      'linear production 32760x1536x1536', 'linear production 32760x1536x8960 ffn in, gelu_tanh epilogue',
      'linear production 32760x8960x1536', 'linear production gelu epilogue == separate gelu',
      'attention production self 1x32760x32760 h12 d128', 'attention production cross 1x32760x512',
      'conv3d production causal 3x3x3 384->384', 'conv3d production causal 3x3x3 96->3 480x832',
      'model production wan-dit 1.3B config, 1 block, 480p', 'model production wan2.1 vae decode 480p',
      'rms_norm_rope production 32760x4608', 'linear_stacked production 32760x1536x4608',
      'linear_add_gated production 32760x1536x1536 self-attention out, gated',
      'linear_add_gated production 32760x1536x1536 cross-attention out, plain',
      'linear_add_gated production 32760x8960x1536 ffn out, gated',
    ]) {
      expect(report.parity.some((c) => c.name.startsWith(name)), `no check ${name}`).toBe(true);
    }
    for (const c of report.parity) {
      // CPU against CPU: identical, except where the reference multiplies only the sampled rows. A BLAS
      // may block a product of fewer rows differently (OpenBLAS's AVX-512 kernels on an Intel Xeon do),
      // which reorders float32 sums: rounding-level differences (measured 4.8e-8 to 1.2e-7 there),
      // far below the 0.05 a wrong row gives (the perturbed run below).
      if (c.name.includes('(sampled rows)')) expect(c.rel_l2, c.name).toBeLessThanOrEqual(1e-6);
      else expect(c.rel_l2, c.name).toBe(0);
      expect(c.pass).toBe(true);
    }
  }, 300_000);

  it('fails, with a non-zero exit code, when the device side is wrong', () => {
    const json = join(out, 'perturbed.json');
    const r = spawnSync(exe, ['--cpu-only', '--perturb', '0.05', '--filter', 'linear ', '--json', json], {
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    const report = JSON.parse(readFileSync(json, 'utf8')) as ParityReport;
    const products = report.parity.filter((c) => !c.name.includes('device only'));
    expect(products.length).toBeGreaterThan(4);
    for (const c of products) {
      expect(c.pass, c.name).toBe(false);
      expect(c.rel_l2).toBeCloseTo(0.05, 6);
    }
  }, 300_000);

  it('fails the production checks too when the device side is wrong', () => {
    const json = join(out, 'production-perturbed.json');
    const r = spawnSync(exe, ['--cpu-only', '--group', 'production-ops', '--reduce', '64', '--perturb', '0.05', '--filter', 'sampled rows', '--json', json], {
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    const report = JSON.parse(readFileSync(json, 'utf8')) as ParityReport;
    expect(report.parity.length).toBeGreaterThanOrEqual(7);
    for (const c of report.parity) {
      expect(c.pass, c.name).toBe(false);
      expect(c.rel_l2).toBeCloseTo(0.05, 6);
    }
  }, 300_000);

  it('says where cuBLASLt would come from (--preflight) and refuses unknown arguments with exit code 2', () => {
    const pre = spawnSync(exe, ['--preflight', '--cpu-only'], { encoding: 'utf8' });
    expect(pre.status).toBe(0);
    const info = JSON.parse(pre.stdout) as { cublaslt: string; cublaslt_missing: string };
    // Either the library was opened, or the reason names it.
    expect(info.cublaslt || info.cublaslt_missing).toMatch(/cublasLt|cuBLASLt/i);
    expect(spawnSync(exe, ['--no-such-flag'], { encoding: 'utf8' }).status).toBe(2);
    expect(spawnSync(exe, ['--group', 'nope'], { encoding: 'utf8' }).status).toBe(2);
  });
});
