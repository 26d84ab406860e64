#!/usr/bin/env node
// The end-to-end part of the device check (bench/cuda/device-check.sh), run with the carried Node
// from the carried package (dist/, node_modules/, build/ and build-cuda/ addons):
//
//   node bench/cuda/e2e.mjs --pkg DIR --out FILE.json [--device cuda|cpu] [--parts demo,cancel,oom,e2e] [--tiny]
//
// --tiny (the dry run, on a CPU): the same code at sizes a CPU runs in seconds: a 1-layer transformer
// on a 2x8x8 latent, the real VAE on 8x8, and no out-of-memory request (a CPU would try to take it).
// demo    the tiny demo model (random weights, the real diffusers layout): `wan-video generate
//         --device <device>` through the CLI (PNG frames written), and the same request through
//         WanPipeline on the device and on the CPU: the frames' relative L2 difference against the
//         pipeline family's bf16 bound (lib/conformance/tolerances.ts).
// cancel  a job cancelled at its first step rejects with E_CANCELLED; the next job runs.
// oom     a transformer block at the 1.3B dimensions on 10M tokens (61 GB per activation) must
//         fail with E_OOM, and a small forward with the same model must then run.
// e2e     random weights at the real Wan2.1-1.3B size: the native denoising loop at 480p x 81
//         frames (latent 21x60x104, 32,760 tokens), 2 UniPC steps with guidance 5 (two forwards a
//         step), then the Wan2.1 VAE decode of the 21 latent frames: seconds per step, VAE seconds,
//         the device pool's peak. The prompt path is left out (random text embeddings [1, 512, 4096]:
//         a UMT5-XXL of random weights would cost minutes of host time and is not what is timed).
//
// Writes FILE.json as each part ends, so a part that hangs or crashes leaves the others' results.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    pkg: { type: 'string' },
    out: { type: 'string' },
    device: { type: 'string', default: 'cuda' },
    parts: { type: 'string', default: 'demo,cancel,oom,e2e' },
    tiny: { type: 'boolean', default: false },
  },
});
if (!values.pkg || !values.out) {
  console.error('usage: e2e.mjs --pkg DIR --out FILE.json [--device cuda|cpu] [--parts demo,cancel,oom,e2e]');
  process.exit(2);
}
const pkg = resolve(values.pkg);
const device = values.device;
const parts = new Set(values.parts.split(','));
const dist = (p) => join(pkg, 'dist', p);
const { loadAddon } = await import(dist('bindings/loader.js'));
const { WanPipeline } = await import(dist('pipeline/wan-pipeline.js'));
const { ensureTinyModel } = await import(dist('demo/tiny-model.js'));
const { decodeFrames } = await import(dist('video/vae-decode.js'));
const { FAMILY_PRECISION, bf16Bound } = await import(dist('conformance/tolerances.js'));

const tiny = values.tiny;
const results = { device, parts: [...parts], tiny };
const save = () => writeFileSync(values.out, `${JSON.stringify(results, null, 2)}\n`);
const log = (line) => console.log(`e2e: ${line}`);
const errorOf = (err) => ({ code: err?.code ?? null, message: String(err?.message ?? err).slice(0, 400) });
async function part(name, fn) {
  if (!parts.has(name)) return;
  const t0 = performance.now();
  try {
    results[name] = { ...(await fn()), seconds: (performance.now() - t0) / 1000 };
  } catch (err) {
    results[name] = { error: errorOf(err), seconds: (performance.now() - t0) / 1000 };
  }
  log(`${name}: ${JSON.stringify(results[name])}`);
  save();
}

const demoRequest = { prompt: 'a red fox walking in the snow, slow camera', width: 256, height: 144, numFrames: 17, steps: 8, seed: 42 };
const tmp = mkdtempSync(join(tmpdir(), 'wan-e2e-'));
const demoDir = parts.has('demo') || parts.has('cancel') ? await ensureTinyModel(join(tmp, 'demo-tiny-wan')) : null;

async function framesOf(dev) {
  const pipe = await WanPipeline.load(demoDir, { device: dev });
  try {
    const job = pipe.generate(demoRequest);
    const r = await job.result;
    return { frames: r.frames, width: r.width, height: r.height };
  } finally {
    await pipe.dispose();
  }
}

await part('demo', async () => {
  // The CLI path, as a user runs it (PNG frames: no ffmpeg on the device machine).
  const outDir = join(tmp, 'demo-frames');
  const cli = spawnSync(process.execPath, [dist('cli/main.js'), 'generate', '--model', demoDir, '--prompt', demoRequest.prompt,
    '--width', '256', '--height', '144', '--frames', '17', '--steps', '8', '--seed', '42', '--device', device, '--format', 'png', '--out', outDir],
  { encoding: 'utf8', timeout: 120_000 });
  const pngs = cli.status === 0 ? readdirSync(outDir).filter((f) => f.endsWith('.png')).length : 0;
  const ours = await framesOf(device);
  const cpu = await framesOf('cpu');
  let num = 0;
  let den = 0;
  for (let f = 0; f < cpu.frames.length; f++) {
    const a = ours.frames[f];
    const b = cpu.frames[f];
    for (let i = 0; i < b.length; i++) {
      const d = (a[i] - b[i]) / 127.5;
      const r = b[i] / 127.5 - 1;
      num += d * d;
      den += r * r;
    }
  }
  const relL2 = Math.sqrt(num / den);
  const bound = bf16Bound(FAMILY_PRECISION.pipeline);
  return {
    cli_status: cli.status, cli_stderr: cli.status === 0 ? undefined : cli.stderr.slice(-400), png_frames: pngs,
    frames: cpu.frames.length, width: cpu.width, height: cpu.height, rel_l2_vs_cpu: relL2, bound, pass: cli.status === 0 && pngs === cpu.frames.length && relL2 <= bound,
  };
});

await part('cancel', async () => {
  const pipe = await WanPipeline.load(demoDir, { device });
  try {
    const job = pipe.generate({ ...demoRequest, steps: 20 });
    let cancelledCode = null;
    const events = (async () => {
      for await (const ev of job) if (ev.type === 'step') job.cancel();
    })().catch(() => undefined);
    try {
      await job.result;
    } catch (err) {
      cancelledCode = err?.code ?? String(err);
    }
    await events;
    const next = await pipe.generate(demoRequest).result;
    return { cancelled: cancelledCode, next_job_frames: next.frames.length, pass: cancelledCode === 'E_CANCELLED' && next.frames.length > 0 };
  } finally {
    await pipe.dispose();
  }
});

// The real configurations (diffusers' names as the planners produce them).
const DIT_1_3B = {
  patchSize: [1, 2, 2], numHeads: 12, headDim: 128, inChannels: 16, outChannels: 16, textDim: 4096, freqDim: 256, ffnDim: 8960,
  numLayers: 30, crossAttnNorm: true, eps: 1e-6, imageDim: null, addedKvProjDim: null, ropeMaxSeqLen: 1024, posEmbedSeqLen: null,
};
async function wan21Vae(addon) {
  const { parseVaeConfig, WAN21_LATENTS_MEAN, WAN21_LATENTS_STD } = await import(dist('model/vae-config.js'));
  const config = parseVaeConfig({
    _class_name: 'AutoencoderKLWan', attn_scales: [], base_dim: 96, decoder_base_dim: null, dim_mult: [1, 2, 4, 4], dropout: 0.0,
    in_channels: 3, is_residual: false, latents_mean: WAN21_LATENTS_MEAN, latents_std: WAN21_LATENTS_STD, num_res_blocks: 2,
    out_channels: 3, patch_size: null, scale_factor_spatial: 8, scale_factor_temporal: 4, temperal_downsample: [false, true, true], z_dim: 16,
  }, 'Wan2.1 VAE config (e2e.mjs)');
  return addon.randomVae({ ...config, withEncoder: false }, 7);
}
// The transformer of the e2e part: the real 1.3B configuration, or one layer of 2 heads (--tiny).
function ditConfig() {
  return tiny ? { ...DIT_1_3B, numHeads: 2, headDim: 64, ffnDim: 256, numLayers: 1 } : DIT_1_3B;
}
const randn = (addon, seed, shape) => ({ data: addon.randn(seed, shape), shape });

await part('oom', async () => {
  // One block at the 1.3B dimensions on 10M tokens (latent 10 x 2000 x 2000): each [tokens, 1536]
  // float32 activation is 61 GB, so the third of them (q, after the patch embedding and the norm)
  // cannot be allocated on a 141 GB device, before any long computation. Then a small forward
  // with the same model must run.
  const { addon } = loadAddon(device);
  const dit = await addon.randomTransformer({ ...ditConfig(), numLayers: 1 }, 3);
  const text = randn(addon, 1, [1, 512, 4096]);
  const forward = (shape) => dit.forward({
    hiddenStates: { data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.5), shape },
    timestep: { data: new Float32Array([999]), shape: [1] },
    encoderHiddenStates: text,
  });
  try {
    let code = tiny ? 'not run (--tiny)' : null;
    if (!tiny) {
      try {
        await forward([1, 16, 10, 2000, 2000]);
        code = 'no error';
      } catch (err) {
        code = err?.code ?? String(err);
        results.oom_error = errorOf(err);
      }
    }
    const small = await forward([1, 16, 2, 16, 16]);
    const ok = small.sample.data.every(Number.isFinite);
    return { oom: code, next_job_ok: ok, pass: (tiny || code === 'E_OOM') && ok };
  } finally {
    dit.dispose();
  }
});

await part('e2e', async () => {
  const { addon } = loadAddon(device);
  const [F, H, W] = tiny ? [2, 8, 8] : [21, 60, 104];
  const t0 = performance.now();
  const dit = await addon.randomTransformer(ditConfig(), 1);
  const vae = await wan21Vae(addon);
  const loadS = (performance.now() - t0) / 1000;
  try {
    const latentShape = [1, 16, F, H, W];
    const r = await addon.runDenoise({
      transformer: dit, scheduler: { kind: 'unipc' }, steps: 2, shift: 5, guidanceScale: 5,
      latents: randn(addon, 42, latentShape), promptEmbeds: randn(addon, 1, [1, 512, 4096]), negativeEmbeds: randn(addon, 2, [1, 512, 4096]),
    });
    const t1 = performance.now();
    let frames = 0;
    for await (const chunk of decodeFrames(vae, r.latents)) frames += chunk.frames;
    const vaeS = (performance.now() - t1) / 1000;
    const info = addon.info();
    return {
      width: W * 8, height: H * 8, frames, steps: r.stepMs.length, seconds_per_step: r.stepMs.reduce((a, b) => a + b, 0) / r.stepMs.length / 1000,
      step_ms: r.stepMs, vae_decode_s: vaeS, peak_device_bytes: info.deviceMemory?.peak ?? null, load_s: loadS, backend: info.backend, gemm: info.gemm,
    };
  } finally {
    dit.dispose();
    vae.dispose();
  }
});
save();
