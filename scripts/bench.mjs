#!/usr/bin/env node
// npm run bench -- <name> [--save] [--iters N]
//   dit:  the transformer forward at the real Wan2.1-1.3B configuration with random weights, one
//         latent frame of 30x52 (390 tokens) and 512 text tokens.
//   umt5: the UMT5-XXL encoder (d_model 4096, 24 layers, 64 heads of 64, d_ff 10240) with random
//         weights on one 512-token prompt (layers share one layer's random tensors: the float32
//         model would not fit in memory; FLOPs and per-layer weight traffic are the same).
//   vae:  the Wan2.1 VAE decoder (base_dim 96, dim_mult 1,2,4,4, 2 res blocks) with random weights,
//         streaming 5 and then 9 latent frames of 30x52 (17 and 33 frames of 240x416), each in its own
//         process: seconds per output frame and peak RSS, whose growth between the two shows what
//         memory costs per frame. BLAS only unless --portable; --numpy times numpy's matmul on the
//         GEMMs of one 4-frame chunk.
//   cache: the step caches at their default settings (scripts/bench-cache.mjs), --steps N (default 20).
//   cancel: how long a cancel takes to return inside a step that takes minutes (scripts/bench-cancel.mjs).
//   gguf-1.3b, gguf-14b, bf16: GGUF and bf16 weights kept compressed (scripts/bench-gguf.mjs).
//   rife: RIFE 4.25 frame interpolation at 832x480 (scripts/bench-rife.mjs): seconds per interpolated frame.
// Each reports seconds, GFLOP/s and numpy's matmul on the same matrix shapes in the same run, with
// the tuned BLAS and with the portable kernel (WAN_VIDEO_GEMM=portable in a child process).
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const name = args.find((a) => !a.startsWith('--'));
const save = args.includes('--save');
const iters = Number(args[args.indexOf('--iters') + 1]) || 3;

const WAN21_1_3B = {
  patchSize: [1, 2, 2], numHeads: 12, headDim: 128, inChannels: 16, outChannels: 16, textDim: 4096,
  freqDim: 256, ffnDim: 8960, numLayers: 30, crossAttnNorm: true, eps: 1e-6, imageDim: null,
  addedKvProjDim: null, ropeMaxSeqLen: 1024, posEmbedSeqLen: null,
};

// The matrix products of one forward: the list the pipeline's time estimate uses (lib/pipeline/estimate.ts).
const { ditMatmuls } = await import(join(root, 'dist', 'pipeline', 'estimate.js'));

const UMT5_XXL = { vocabSize: 256384, dModel: 4096, dKv: 64, numHeads: 64, dFf: 10240, numLayers: 24, numBuckets: 32, maxDistance: 128, eps: 1e-6, gatedGelu: true };

function umt5Matmuls(c, L) {
  const inner = c.numHeads * c.dKv;
  return [
    { what: 'q/k/v', m: L, n: inner, k: c.dModel, batch: 1, count: 3 * c.numLayers },
    { what: 'o', m: L, n: c.dModel, k: inner, batch: 1, count: c.numLayers },
    { what: 'attention qk^T', m: L, n: L, k: c.dKv, batch: c.numHeads, count: c.numLayers },
    { what: 'attention pv', m: L, n: c.dKv, k: L, batch: c.numHeads, count: c.numLayers },
    { what: 'wi_0/wi_1', m: L, n: c.dFf, k: c.dModel, batch: 1, count: 2 * c.numLayers },
    { what: 'wo', m: L, n: c.dModel, k: c.dFf, batch: 1, count: c.numLayers },
  ];
}

const flopsOf = (mm) => mm.reduce((s, x) => s + 2 * x.m * x.n * x.k * x.batch * x.count, 0);

function numpyYardstick(matmuls) {
  const r = spawnSync('python3', [join(root, 'bench', 'numpy_gemm.py')], { input: JSON.stringify(matmuls), encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) return { error: (r.stderr || 'python3/numpy unavailable').trim().split('\n').at(-1) };
  return JSON.parse(r.stdout);
}

/** Child mode: time the forward in this process (the GEMM choice is fixed at addon load). */
async function timeDitForward() {
  const { loadAddon } = await import(join(root, 'dist', 'bindings', 'loader.js'));
  const { addon } = loadAddon('cpu');
  const info = addon.info();
  const c = WAN21_1_3B;
  const t0 = performance.now();
  const model = await addon.randomTransformer(c, 1);
  const loadSeconds = (performance.now() - t0) / 1000;
  const [F, H, W] = [1, 30, 52];
  const textLen = 512;
  const rand = (n) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 0.5);
  const inputs = {
    hiddenStates: { data: rand(c.inChannels * F * H * W), shape: [1, c.inChannels, F, H, W] },
    timestep: { data: new Float32Array([999]), shape: [1] },
    encoderHiddenStates: { data: rand(textLen * c.textDim), shape: [1, textLen, c.textDim] },
  };
  await model.forward(inputs); // warm-up
  const times = [];
  for (let i = 0; i < iters; i++) {
    const s = performance.now();
    await model.forward(inputs);
    times.push((performance.now() - s) / 1000);
  }
  model.dispose();
  times.sort((a, b) => a - b);
  const rss = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(JSON.stringify({ gemm: info.gemm, device: info.device, threads: info.threads, loadSeconds, seconds: times, median: times[Math.floor(times.length / 2)], peakRssBytes: rss }));
}

async function timeUmt5Forward() {
  const { loadAddon } = await import(join(root, 'dist', 'bindings', 'loader.js'));
  const { addon } = loadAddon('cpu');
  const info = addon.info();
  const c = UMT5_XXL;
  const t0 = performance.now();
  const enc = await addon.randomTextEncoder(c, 1, { shareLayers: true });
  const loadSeconds = (performance.now() - t0) / 1000;
  const L = 512;
  const ids = Int32Array.from({ length: L }, (_, i) => (i * 7919) % c.vocabSize);
  const mask = new Int32Array(L).fill(1);
  await enc.encode({ ids, mask, shape: [1, L] });
  const times = [];
  for (let i = 0; i < iters; i++) {
    const s = performance.now();
    await enc.encode({ ids, mask, shape: [1, L] });
    times.push((performance.now() - s) / 1000);
  }
  enc.dispose();
  times.sort((a, b) => a - b);
  const rss = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(JSON.stringify({ gemm: info.gemm, device: info.device, threads: info.threads, loadSeconds, seconds: times, median: times[Math.floor(times.length / 2)], peakRssBytes: rss }));
}

function benchDit() {
  const tokens = 1 * 15 * 26;
  return runBench({
    name: 'dit',
    matmuls: ditMatmuls(WAN21_1_3B, tokens, 512),
    config: 'Wan2.1-T2V-1.3B (dim 1536, 12 heads x 128, 30 layers, ffn 8960, text_dim 4096), random weights',
    input: { latent: [1, 16, 1, 30, 52], tokens, textTokens: 512 },
    unit: 'forward',
  });
}

function benchUmt5() {
  return runBench({
    name: 'umt5',
    matmuls: umt5Matmuls(UMT5_XXL, 512),
    config: 'UMT5-XXL encoder (d_model 4096, 24 layers, 64 heads x 64, d_ff 10240), random weights shared across layers',
    input: { tokens: 512 },
    unit: 'encode',
  });
}

async function runBench({ name, matmuls, config, input, unit }) {
  const flops = flopsOf(matmuls);
  const runs = {};
  for (const mode of ['blas', 'portable']) {
    const env = { ...process.env, WAN_VIDEO_DEVICE: 'cpu', ...(mode === 'portable' ? { WAN_VIDEO_GEMM: 'portable' } : {}) };
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), `--child-${name}`, '--iters', String(iters)], { env, encoding: 'utf8', maxBuffer: 1 << 24 });
    if (r.status !== 0) throw new Error(`${name} benchmark (${mode}) failed:\n${r.stderr}`);
    runs[mode] = JSON.parse(r.stdout);
  }
  const numpy = numpyYardstick(matmuls);
  const result = {
    benchmark: name,
    date: new Date().toISOString(),
    host: hostname(),
    commit: spawnSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout.trim(),
    config,
    input,
    gflopPer: { [unit]: flops / 1e9 },
    runs: {},
    numpy,
  };
  for (const [mode, r] of Object.entries(runs)) {
    const same = mode === 'blas' && r.gemm === 'portable' ? ' (no BLAS in this build: same as portable)' : '';
    result.runs[mode] = {
      ...r,
      gflops: flops / r.median / 1e9,
      ratioToNumpy: numpy.total_seconds ? r.median / numpy.total_seconds : null,
      note: same || undefined,
    };
  }
  console.log(`${name}: ${config}`);
  console.log(`  input ${JSON.stringify(input)}, ${(flops / 1e9).toFixed(1)} GFLOP per ${unit}`);
  if (numpy.total_seconds) console.log(`  numpy ${numpy.numpy} matmul on the same shapes: ${numpy.total_seconds.toFixed(3)} s (${(flops / numpy.total_seconds / 1e9).toFixed(1)} GFLOP/s)`);
  else console.log(`  numpy yardstick unavailable: ${numpy.error}`);
  for (const [mode, r] of Object.entries(result.runs)) {
    console.log(`  ${mode.padEnd(8)} gemm=${r.gemm}: ${r.median.toFixed(3)} s/${unit}, ${r.gflops.toFixed(1)} GFLOP/s, ${r.ratioToNumpy ? r.ratioToNumpy.toFixed(2) + 'x numpy time' : ''}, peak RSS ${(r.peakRssBytes / 2 ** 30).toFixed(2)} GiB${r.note ?? ''}`);
  }
  if (save) {
    mkdirSync(join(root, 'bench', 'results'), { recursive: true });
    const file = join(root, 'bench', 'results', `${result.date.slice(0, 10)}-cpu-${name}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`  saved ${file}`);
  }
}

const WAN21_VAE = {
  baseDim: 96, decoderBaseDim: 96, zDim: 16, dimMult: [1, 2, 4, 4], numResBlocks: 2, temperalDownsample: [false, true, true],
  isResidual: false, inChannels: 3, outChannels: 3, patchSize: 1, scaleFactorSpatial: 8, scaleFactorTemporal: 4,
  latentsMean: null, latentsStd: null,
};
const VAE_LATENT = { h: 30, w: 52 };

/** The convolutions of one decoder chunk as GEMMs (m = output pixels of a frame, count = frames).
 * The first chunk's causal convs see only zero frames before it, whose taps are skipped. */
function vaeDecodeMatmuls(c, h, w, first) {
  const L = c.dimMult.length;
  const dims = [c.dimMult[L - 1], ...[...c.dimMult].reverse()].map((m) => c.decoderBaseDim * m);
  const up = [...c.temperalDownsample].reverse();
  const out = [];
  let frames = 1;
  let px = h * w;
  const conv = (what, cin, cout, taps) => out.push({ what, m: px, n: cout, k: taps * cin, batch: 1, count: frames });
  const causal = first ? 9 : 27;
  const resnet = (what, cin, cout) => {
    conv(`${what} conv1`, cin, cout, causal);
    conv(`${what} conv2`, cout, cout, causal);
    if (cin !== cout) conv(`${what} shortcut`, cin, cout, 1);
  };
  conv('conv_in', c.zDim, dims[0], causal);
  resnet('mid', dims[0], dims[0]);
  resnet('mid', dims[0], dims[0]);
  for (let i = 0; i < L; i++) {
    let cin = i > 0 ? dims[i] / 2 : dims[i];
    for (let j = 0; j <= c.numResBlocks; j++) {
      resnet(`level ${i}`, cin, dims[i + 1]);
      cin = dims[i + 1];
    }
    if (i === L - 1) break;
    if (up[i] && !first) {
      conv(`level ${i} time_conv`, cin, 2 * cin, 3);
      frames *= 2;
    }
    px *= 4;
    conv(`level ${i} upsample conv`, cin, cin / 2, 9);
  }
  conv('conv_out', dims[L], c.outChannels, causal);
  return out;
}

/** Child mode: stream one decode in this process, consuming (not keeping) the frames. */
async function timeVaeDecode() {
  const { loadAddon } = await import(join(root, 'dist', 'bindings', 'loader.js'));
  const { decodeFrames } = await import(join(root, 'dist', 'video', 'vae-decode.js'));
  const { addon } = loadAddon('cpu');
  const info = addon.info();
  const T = Number(args[args.indexOf('--latent-frames') + 1]);
  const t0 = performance.now();
  const vae = await addon.randomVae({ ...WAN21_VAE, withEncoder: false }, 1);
  const loadSeconds = (performance.now() - t0) / 1000;
  const { h, w } = VAE_LATENT;
  const latents = { data: Float32Array.from({ length: 16 * T * h * w }, (_, i) => Math.sin(i * 12.9898) * 0.5), shape: [1, 16, T, h, w] };
  const rssAfterLoad = process.memoryUsage().rss;
  const chunkSeconds = [];
  let frames = 0;
  let outputBytes = 0;
  let checksum = 0;
  const s = performance.now();
  let last = s;
  for await (const chunk of decodeFrames(vae, latents, { latents: 'raw' })) {
    const now = performance.now();
    chunkSeconds.push((now - last) / 1000);
    last = now;
    frames += chunk.frames;
    outputBytes += chunk.rgb.length;
    checksum = (checksum + chunk.rgb[chunk.rgb.length >> 1]) % 65536;
  }
  const seconds = (performance.now() - s) / 1000;
  vae.dispose();
  const steady = chunkSeconds.slice(1).reduce((a, b) => a + b, 0) / Math.max(1, frames - 1);
  process.stdout.write(JSON.stringify({
    gemm: info.gemm, device: info.device, threads: info.threads, loadSeconds, latentFrames: T, frames, seconds,
    secondsPerFrame: seconds / frames, steadySecondsPerFrame: steady, chunkSeconds, outputBytes, checksum,
    rssAfterLoadBytes: rssAfterLoad, peakRssBytes: process.resourceUsage().maxRSS * 1024,
  }));
}

async function benchVae() {
  const { h, w } = VAE_LATENT;
  const c = WAN21_VAE;
  const modes = args.includes('--portable') ? ['blas', 'portable'] : ['blas'];
  const gflop = (mm) => flopsOf(mm) / 1e9;
  const firstChunk = vaeDecodeMatmuls(c, h, w, true);
  const laterChunk = vaeDecodeMatmuls(c, h, w, false);
  const result = {
    benchmark: 'vae',
    date: new Date().toISOString(),
    host: hostname(),
    commit: spawnSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout.trim(),
    config: 'Wan2.1 VAE decoder (base_dim 96, dim_mult 1,2,4,4, 2 res blocks, z_dim 16), random weights',
    input: { latent: [1, 16, 'T', h, w], output: [h * 8, w * 8] },
    gflopPer: { firstChunk: gflop(firstChunk), laterChunk: gflop(laterChunk) },
    runs: {},
  };
  console.log(`vae: ${result.config}`);
  console.log(`  ${result.gflopPer.firstChunk.toFixed(0)} GFLOP for the first chunk (1 frame), ${result.gflopPer.laterChunk.toFixed(0)} for each further one (4 frames)`);
  if (args.includes('--numpy')) {
    result.numpy = numpyYardstick(laterChunk);
    if (result.numpy.total_seconds) console.log(`  numpy ${result.numpy.numpy} matmul on the GEMMs of one 4-frame chunk: ${result.numpy.total_seconds.toFixed(2)} s`);
    else console.log(`  numpy yardstick unavailable: ${result.numpy.error}`);
  }
  for (const mode of modes) {
    const env = { ...process.env, WAN_VIDEO_DEVICE: 'cpu', ...(mode === 'portable' ? { WAN_VIDEO_GEMM: 'portable' } : {}) };
    const runs = [];
    for (const T of [5, 9]) {
      const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child-vae', '--latent-frames', String(T)], { env, encoding: 'utf8', maxBuffer: 1 << 24 });
      if (r.status !== 0) throw new Error(`vae benchmark (${mode}, ${T} latent frames) failed:\n${r.stderr}`);
      const run = JSON.parse(r.stdout);
      run.gflops = (result.gflopPer.firstChunk + (T - 1) * result.gflopPer.laterChunk) / run.seconds;
      runs.push(run);
      console.log(`  ${mode.padEnd(8)} gemm=${run.gemm} threads=${run.threads}: ${T} latent frames -> ${run.frames} frames in ${run.seconds.toFixed(1)} s, ${run.secondsPerFrame.toFixed(2)} s/frame (${run.steadySecondsPerFrame.toFixed(2)} after the first), ${run.gflops.toFixed(1)} GFLOP/s, peak RSS ${(run.peakRssBytes / 2 ** 20).toFixed(0)} MiB`);
    }
    const [a, b] = runs;
    const growth = b.peakRssBytes - a.peakRssBytes;
    const extraOutput = b.outputBytes - a.outputBytes;
    result.runs[mode] = { decodes: runs, peakRssGrowthBytes: growth, extraOutputBytes: extraOutput };
    console.log(`  ${mode.padEnd(8)} peak RSS ${a.latentFrames} -> ${b.latentFrames} latent frames: ${growth >= 0 ? '+' : ''}${(growth / 2 ** 20).toFixed(1)} MiB for ${b.frames - a.frames} more frames (${(extraOutput / 2 ** 20).toFixed(1)} MiB of RGB output, not kept)`);
  }
  if (save) {
    mkdirSync(join(root, 'bench', 'results'), { recursive: true });
    const file = join(root, 'bench', 'results', `${result.date.slice(0, 10)}-cpu-vae.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`  saved ${file}`);
  }
}

const benches = {
  dit: benchDit,
  umt5: benchUmt5,
  vae: benchVae,
  // GGUF / narrow weights on the CPU (scripts/bench-gguf.mjs): gguf-1.3b, gguf-14b, bf16.
  ...Object.fromEntries(['gguf-1.3b', 'gguf-14b', 'bf16'].map((b) => [b, () => {
    const r = spawnSync(process.execPath, [join(root, 'scripts', 'bench-gguf.mjs'), ...args], { stdio: 'inherit' });
    process.exitCode = r.status ?? 1;
  }])),
  rife: async () => {
    const { benchRife } = await import('./bench-rife.mjs');
    await benchRife({ save, args });
  },
  cache: async () => {
    const { benchCache } = await import('./bench-cache.mjs');
    await benchCache({ save, steps: Number(args[args.indexOf('--steps') + 1]) || 20, config: WAN21_1_3B });
  },
  cancel: async () => {
    const { benchCancel } = await import('./bench-cancel.mjs');
    await benchCancel({ save, config: WAN21_1_3B });
  },
};

if (args.includes('--child-dit')) {
  await timeDitForward();
} else if (args.includes('--child-umt5')) {
  await timeUmt5Forward();
} else if (args.includes('--child-vae')) {
  await timeVaeDecode();
} else if (!name || !benches[name]) {
  console.error(`usage: npm run bench -- <${Object.keys(benches).join('|')}> [--save] [--iters N]`);
  process.exit(2);
} else {
  await benches[name]();
}
