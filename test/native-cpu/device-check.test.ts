// The device check's pieces that need no GPU: the results JSON the check reads (bench/cuda/
// merge.py, from a dry run's raw results and from a device run's), and `conformance --device cuda`
// refusing clearly where no device answers. The dry run itself (builds, CPU self-checks, the carried
// Node) runs in .ci/run, guarded by nvcc.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { fixturesRoot, haveFixtures, repoRoot } from '../helpers/paths.js';

const merge = join(repoRoot, 'bench', 'cuda', 'merge.py');
const havePython = spawnSync('python3', ['--version']).status === 0;

// The keys (and their fields) the check reads.
const KEYS = ['device', 'commit', 'parity', 'conformance', 'e2e', 'dit_1_3b_480p81', 'attention'];
const E2E = ['width', 'height', 'frames', 'steps', 'seconds_per_step', 'vae_decode_s', 'peak_device_bytes'];
const DIT = ['ours_s', 'diffusers_eager_s', 'diffusers_compile_s'];

function runMerge(files: Record<string, unknown>, dry: boolean): Record<string, any> {
  const res = mkdtempSync(join(tmpdir(), 'wan-merge-'));
  for (const [name, value] of Object.entries(files)) {
    writeFileSync(join(res, name), typeof value === 'string' ? value : JSON.stringify(value));
  }
  const out = join(res, 'results.json');
  const r = spawnSync('python3', [merge, '--res', res, '--commit', 'abc123', '--out', out, ...(dry ? ['--dry-run'] : [])], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(readFileSync(out, 'utf8'));
}

const selfCheck = (names: string[]) => ({
  device: 'none (cpu self-check)', mode: 'cpu-self-check', passed: names.length, failed: 0,
  parity: names.map((name) => ({ name, group: 'ops', rel_l2: 0, bound: 6e-3, pass: true, seconds: 0.1 })),
});

describe.runIf(havePython)('device check results (bench/cuda/merge.py)', () => {
  it('writes every key of a dry run, with no device figure', () => {
    const j = runMerge({
      'parity-ops.json': selfCheck(['linear 1x8x8 bias none']),
      'parity-production-ops.json': selfCheck(['linear production 32760x1536x1536 q/k/v/o (sampled rows)']),
      'conformance-cpu.json': { passed: 70, failed: 0, skipped: 9, cases: [] },
      'steps.jsonl': '{"step": "parity-ops", "status": "ok", "exit": 0, "seconds": 3}\n',
    }, true);
    for (const k of KEYS) expect(j, k).toHaveProperty(k);
    expect(j.device).toBeNull();
    expect(j.commit).toBe('abc123');
    expect(j.parity).toHaveLength(2);
    for (const p of j.parity) {
      expect(Object.keys(p)).toEqual(expect.arrayContaining(['name', 'rel_l2', 'bound', 'pass']));
      expect(p.rel_l2).toBeNull();
      expect(p.pass).toBeNull();
    }
    expect(j.conformance).toEqual({ passed: null, failed: null, cases: 'not run: no device' });
    for (const k of E2E) expect(j.e2e[k], k).toBeNull();
    for (const k of DIT) expect(j.dit_1_3b_480p81[k], k).toBeNull();
    expect(j.attention).toBe('not run: no device');
    expect(j.vae_decode_480p81).toBe('not run: no device');
    expect(j.dry_run.conformance_cpu).toEqual({ passed: 70, failed: 0, skipped: 9 });
    expect(j.steps[0].step).toBe('parity-ops');
  });

  it('maps a device run onto the keys, marking the mma.sync runs and naming what did not run', () => {
    const device = (names: string[], gemm: string) => ({ ...selfCheck(names), device: 'NVIDIA H200', mode: 'cuda', backend: { name: 'cuda', gemm } });
    const j = runMerge({
      'preflight.json': { gpu: 'NVIDIA H200', driver: '580.159.03' },
      'parity-ops.json': device(['linear 1x8x8 bias none'], 'cublaslt'),
      'parity-ops-mma.json': device(['linear 1x8x8 bias none'], 'mma-sync'),
      'parity-production-ops.json': { ...device(['linear production 32760x1536x1536 q/k/v/o (sampled rows)'], 'cublaslt'), complete: false },
      'conformance.json': { passed: 80, failed: 1, skipped: 2, cases: [{ case: 'dit/x', status: 'fail' }] },
      'e2e.json': { e2e: { width: 832, height: 480, frames: 81, steps: 2, seconds_per_step: 2.5, vae_decode_s: 9, peak_device_bytes: 1e10, step_ms: [2500, 2500] } },
      'bench.json': { transformer_1_3b_480p: { seconds: 1.1 } },
      'diffusers.json': { transformer_1_3b_480p: { seconds: 2.2, compile_seconds: 1.65 } },
      'attention.json': { attention: [{ shape: 'self b1 h12 s32760 d128', ours_tflops: 300, sdpa_best_tflops: 500 }] },
      'offload.json': { offload_a14b_480p: { layers: 8, resident_blocks: 2, resident: { seconds: 2 }, streamed: { seconds: 2.2 }, ratio: 1.1 } },
      'steps.jsonl': '{"step": "parity-models", "status": "timed out", "exit": 124}\n{"step": "parity-production-ops", "status": "failed", "exit": 139}\n',
    }, false);
    expect(j.device).toBe('NVIDIA H200');
    const names = j.parity.map((p: { name: string }) => p.name);
    expect(names).toContain('linear 1x8x8 bias none');
    expect(names).toContain('linear 1x8x8 bias none [mma-sync]');
    const models = j.parity.find((p: { name: string }) => p.name.startsWith('models'));
    expect(models.pass).toBe(false);
    expect(models.error).toMatch(/parity-models timed out/);
    const cut = j.parity.find((p: { name: string }) => p.name.startsWith('production-ops (ended after 1 checks)'));
    expect(cut?.pass).toBe(false);
    expect(j.conformance).toMatchObject({ passed: 80, failed: 1 });
    expect(j.e2e).toMatchObject({ width: 832, height: 480, frames: 81, steps: 2, seconds_per_step: 2.5, vae_decode_s: 9, peak_device_bytes: 1e10 });
    expect(j.dit_1_3b_480p81).toMatchObject({ ours_s: 1.1, diffusers_eager_s: 2.2, diffusers_compile_s: 1.65, diffusers_eager_over_ours: 2 });
    expect(j.attention[0]).toMatchObject({ shape: 'self b1 h12 s32760 d128', ours_tflops: 300, sdpa_best_tflops: 500 });
    expect(j.offload_a14b_480p).toMatchObject({ layers: 8, resident_blocks: 2, ratio: 1.1 });
  });

  it('checks the VAE decode of 81 frames at 480p against 6 GB (6e9 bytes), not 6 GiB, from its peak', () => {
    const vae = (peak: number, extra: Record<string, unknown> = {}) => ({
      'preflight.json': { gpu: 'NVIDIA H200' },
      'bench-extra.json': { vae_decode_480p: { seconds: 4.2, latent_frames: 21, frames: 81, height: 480, width: 832, peak_device_bytes: peak, weight_bytes: 5e8, ...extra } },
    });
    // 6.2e9 bytes is under 6 GiB (6.44e9) but over 6 GB: an older binary's within_6_gib flag does not decide it.
    const over = runMerge(vae(6.2e9, { within_6_gib: true }), false);
    expect(over.vae_decode_480p81).toEqual({
      seconds: 4.2, latent_frames: 21, frames: 81, height: 480, width: 832, peak_device_bytes: 6.2e9, weight_bytes: 5e8,
      target_bytes: 6e9, within_6_gb: false,
    });
    expect(over.bench_extra.vae_decode_480p.within_6_gib).toBe(true);
    expect(runMerge(vae(6e9), false).vae_decode_480p81.within_6_gb).toBe(true);
    expect(runMerge(vae(5.9e9, { within_6_gb: true }), false).vae_decode_480p81.within_6_gb).toBe(true);
    const missing = runMerge({ 'preflight.json': { gpu: 'NVIDIA H200' }, 'steps.jsonl': '{"step": "bench-extra", "status": "timed out", "exit": 124}\n' }, false);
    expect(missing.vae_decode_480p81).toBe('not run: step bench-extra timed out');
  });
});

describe.runIf(haveFixtures)('conformance --device cuda without a device', () => {
  it('fails with E_DEVICE and says why, rather than running on the CPU', () => {
    const r = spawnSync(process.execPath, [join(repoRoot, 'dist', 'cli', 'main.js'), 'conformance', fixturesRoot, '--family', 'rng', '--device', 'cuda'], {
      encoding: 'utf8',
      env: { ...process.env, CUDA_VISIBLE_DEVICES: '' },
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/E_DEVICE: CUDA was requested but .*(no CUDA addon|no .*device|failed to load)/);
    expect(r.stdout).not.toMatch(/PASS/);
  });
});
