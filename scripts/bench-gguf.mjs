#!/usr/bin/env node
// npm run bench -- <gguf-1.3b | gguf-14b | bf16> [--save] [--iters N] [--keep DIR]
//   gguf-1.3b: the Wan2.1-1.3B transformer forward (one latent frame of 30x52 = 390 tokens, 512
//              text tokens) with float32 weights against the same model from a Q8_0 GGUF file
//              (random blocks, written to a temp dir): seconds per forward, load time, peak RSS.
//   gguf-14b:  the Wan2.1-14B configuration from random Q8_0 and Q4_K GGUF files (written to a temp
//              dir, one at a time, deleted after), one forward at one 480p latent frame (60x104 ->
//              1560 tokens, 512 text tokens): peak RSS and seconds. Heavy: ~25 GB of temp files,
//              minutes per forward on two cores.
//   bf16:      the 1.3B forward with bf16 weights: widened to float32 per GEMM tile (the default,
//              exact) against WAN_VIDEO_CPU_PRECISION=bf16 (AVX512-BF16 dot products: activations
//              rounded to bf16, opt-in), and the float32 forward, same inputs.
// Every measurement runs in its own child process (peak RSS is per process). Results go to
// bench/results/<date>-cpu-<name>.json with --save.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (k) => (args.includes(k) ? args[args.indexOf(k) + 1] : undefined);

export const WAN21_1_3B = {
  patchSize: [1, 2, 2], numHeads: 12, headDim: 128, inChannels: 16, outChannels: 16, textDim: 4096,
  freqDim: 256, ffnDim: 8960, numLayers: 30, crossAttnNorm: true, eps: 1e-6, imageDim: null,
  addedKvProjDim: null, ropeMaxSeqLen: 1024, posEmbedSeqLen: null,
};
export const WAN21_14B = { ...WAN21_1_3B, numHeads: 40, ffnDim: 13824, numLayers: 40 };

// ---- random GGUF transformers -------------------------------------------------------------------

/** Canonical (diffusers) name -> the official Wan name a GGUF file stores (the key table inverted). */
async function officialNamer() {
  const { WAN_TRANSFORMER_KEYS } = await import(join(root, 'dist', 'model', 'keymap.js'));
  const rules = [];
  const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = (t, tail) => new RegExp(`^${t.split('{n}').map(esc).join('(\\d+)')}${tail}$`);
  for (const [from, to] of WAN_TRANSFORMER_KEYS.modules) rules.push([re(to, '\\.(weight|bias)'), (m) => `${from.replace('{n}', m[1])}.${m[m.length - 1]}`]);
  for (const [from, to] of WAN_TRANSFORMER_KEYS.params) rules.push([re(to, ''), (m) => from.replace('{n}', m[1])]);
  return (name) => {
    for (const [r, f] of rules) {
      const m = r.exec(name);
      if (m) return f(m);
    }
    throw new Error(`no official name for ${name}`);
  };
}

/** `count` random blocks of `dtype` with fp16 scales that keep the weights near +-0.03. */
function blockPattern(dtype, bytes) {
  const sizes = { Q8_0: 34, Q4_K: 144, F32: 4 };
  const size = sizes[dtype];
  const n = Math.floor(bytes / size);
  const buf = Buffer.alloc(n * size);
  let s = 12345;
  for (let i = 0; i < buf.length; i++) buf[i] = (s = (s * 1103515245 + 12345) >>> 0) >>> 24;
  const half = (v) => {
    const f = new Float32Array([v]);
    const u = new Uint32Array(f.buffer)[0];
    const e = ((u >> 23) & 0xff) - 127 + 15;
    return e <= 0 ? 0 : ((u >> 16) & 0x8000) | (e << 10) | ((u >> 13) & 0x3ff);
  };
  for (let b = 0; b < n; b++) {
    const o = b * size;
    if (dtype === 'Q8_0') buf.writeUInt16LE(half(0.03 / 127), o);
    if (dtype === 'Q4_K') {
      buf.writeUInt16LE(half(0.03 / (63 * 15)), o);
      buf.writeUInt16LE(half(0.015 / 63), o + 2);
    }
    if (dtype === 'F32') buf.writeFloatLE(((buf[o] / 255) - 0.5) * 0.04, o);
  }
  return buf;
}

/** Streams `length` bytes cut from a repeating pattern. */
function* repeat(pattern, length) {
  for (let done = 0; done < length; done += pattern.length) yield pattern.subarray(0, Math.min(pattern.length, length - done));
}

/** Writes the transformer of `config` as a GGUF with every 2-D matrix in `matrixType` (F32 elsewhere). */
export async function writeRandomGguf(file, config, matrixType) {
  const { expectedTransformerTensors } = await import(join(root, 'dist', 'model', 'transformer-tensors.js'));
  const { writeGguf } = await import(join(root, 'dist', 'model', 'gguf-writer.js'));
  const official = await officialNamer();
  const patterns = { [matrixType]: blockPattern(matrixType, 1 << 24), F32: blockPattern('F32', 1 << 24) };
  const sizes = { Q8_0: [32, 34], Q4_K: [256, 144], F32: [1, 4] };
  const tensors = [...expectedTransformerTensors(config)].map(([name, shape]) => {
    const dtype = shape.length === 2 ? matrixType : 'F32';
    const [elems, bytes] = sizes[dtype];
    const length = (shape.reduce((a, b) => a * b, 1) / elems) * bytes;
    const pattern = patterns[dtype];
    return { name: official(name), dtype, shape, data: () => repeat(pattern, length) };
  });
  await writeGguf(file, { 'general.architecture': 'wan', 'general.quantization_version': 2 }, tensors);
  return statSync(file).size;
}

// ---- child: models loaded side by side, forwards alternated -----------------------------------------
// Several models in one process, their forwards interleaved round by round: on a machine shared
// with other work, a slow patch hits every model alike, and the ratio of their best times holds.

async function child() {
  const { loadAddon } = await import(join(root, 'dist', 'bindings', 'loader.js'));
  const { addon } = loadAddon('cpu');
  const spec = JSON.parse(opt('--child'));
  addon.setCpuPrecision('f32'); // loads at the reference precision; each model's forwards set their own
  const info = addon.info();
  const c = spec.config;
  const models = [];
  for (const m of spec.models) {
    const t0 = performance.now();
    let model;
    if (m.file) {
      const { planTransformer } = await import(join(root, 'dist', 'model', 'transformer-plan.js'));
      const plan = await planTransformer(m.file);
      model = await addon.loadTransformer({ config: plan.config, tensors: plan.tensors });
    } else {
      model = await addon.randomTransformer(c, 1, { matrixDtype: m.matrixDtype ?? 'F32' });
    }
    models.push({ name: m.name, precision: m.precision ?? 'f32', model, loadSeconds: (performance.now() - t0) / 1000, rssAfterLoadBytes: process.memoryUsage().rss, seconds: [] });
  }
  const [F, H, W] = spec.latent;
  const rand = (n, k) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + k) * 0.5);
  const inputs = {
    hiddenStates: { data: rand(c.inChannels * F * H * W, 0), shape: [1, c.inChannels, F, H, W] },
    timestep: { data: new Float32Array([999]), shape: [1] },
    encoderHiddenStates: { data: rand(512 * c.textDim, 1), shape: [1, 512, c.textDim] },
  };
  const loadAverages = [];
  for (let round = 0; round < spec.iters + (spec.warmup ? 1 : 0); round++) {
    for (const m of models) {
      const precision = addon.setCpuPrecision(m.precision);
      if (precision !== m.precision) throw new Error(`this CPU cannot run precision ${m.precision}`);
      const s = performance.now();
      m.sample = (await m.model.forward(inputs)).sample;
      if (round > 0 || !spec.warmup) m.seconds.push((performance.now() - s) / 1000);
    }
    loadAverages.push(loadavg()[0]);
  }
  const runs = {};
  for (const m of models) {
    const sorted = [...m.seconds].sort((a, b) => a - b);
    let finite = true;
    for (const v of m.sample.data) if (!Number.isFinite(v)) finite = false;
    runs[m.name] = {
      gemm: info.gemm, precision: m.precision, device: info.device, threads: info.threads, loadSeconds: m.loadSeconds, seconds: m.seconds,
      best: sorted[0], median: sorted[Math.floor(sorted.length / 2)], weightBytes: m.model.weightBytes,
      rssAfterLoadBytes: m.rssAfterLoadBytes, finiteOutput: finite, sample: Array.from(m.sample.data.subarray(0, 4096)),
    };
    m.model.dispose();
  }
  process.stdout.write(JSON.stringify({ runs, peakRssBytes: process.resourceUsage().maxRSS * 1024, loadAverages }));
}

function measure(spec, env = {}) {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', JSON.stringify(spec)], {
    env: { ...process.env, WAN_VIDEO_DEVICE: 'cpu', ...env }, encoding: 'utf8', maxBuffer: 1 << 26,
  });
  if (r.status !== 0) throw new Error(`benchmark child failed (${JSON.stringify(spec.models)}):\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

const gib = (b) => `${(b / 2 ** 30).toFixed(2)} GiB`;
const relL2 = (a, b) => {
  let n = 0;
  let d = 0;
  for (let i = 0; i < a.length; i++) {
    n += (a[i] - b[i]) ** 2;
    d += b[i] ** 2;
  }
  return Math.sqrt(n / d);
};

function save(name, result) {
  const out = JSON.stringify(result, (k, v) => (k === 'sample' ? undefined : v), 2);
  if (args.includes('--save')) {
    mkdirSync(join(root, 'bench', 'results'), { recursive: true });
    const file = join(root, 'bench', 'results', `${result.date.slice(0, 10)}-cpu-${name}.json`);
    writeFileSync(file, `${out}\n`);
    console.log(`  saved ${file}`);
  }
}

function header(name, config) {
  return {
    benchmark: name,
    date: new Date().toISOString(),
    host: hostname(),
    commit: spawnSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout.trim(),
    config,
  };
}

function line(label, r) {
  console.log(`  ${label.padEnd(34)} best ${r.best.toFixed(2)} s, median ${r.median.toFixed(2)} s/forward (runs ${r.seconds.map((s) => s.toFixed(2)).join(', ')}), load ${r.loadSeconds.toFixed(1)} s, weights ${gib(r.weightBytes)}${r.finiteOutput ? '' : ', NON-FINITE OUTPUT'}`);
}

const avg = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

async function bench13b() {
  const iters = Number(opt('--iters') ?? 4);
  const dir = opt('--keep') ?? mkdtempSync(join(tmpdir(), 'wan-bench-gguf-'));
  const file = join(dir, 'wan2.1-t2v-1.3b-Q8_0.gguf');
  const result = { ...header('gguf-1.3b', 'Wan2.1-T2V-1.3B, random weights: float32 and a random Q8_0 GGUF (every matrix Q8_0) in one process, forwards alternated'), input: { latent: [1, 16, 1, 30, 52], tokens: 390, textTokens: 512 } };
  try {
    console.log(`gguf-1.3b: writing ${file}`);
    result.fileBytes = await writeRandomGguf(file, WAN21_1_3B, 'Q8_0');
    const m = measure({ config: WAN21_1_3B, latent: [1, 30, 52], iters, warmup: true, models: [{ name: 'f32' }, { name: 'q8_0', file }] });
    Object.assign(result, m);
    line('float32 weights', m.runs.f32);
    line('Q8_0 GGUF', m.runs.q8_0);
    result.q8_0OverF32 = { best: m.runs.q8_0.best / m.runs.f32.best, median: m.runs.q8_0.median / m.runs.f32.median };
    console.log(`  Q8_0 / float32 time: ${result.q8_0OverF32.best.toFixed(3)} (best), ${result.q8_0OverF32.median.toFixed(3)} (median); target <= 1.3. Load average during the runs ${avg(m.loadAverages).toFixed(1)} on ${m.runs.f32.threads} threads`);
  } finally {
    if (!opt('--keep')) rmSync(dir, { recursive: true, force: true });
  }
  save('gguf-1.3b', result);
}

async function bench14b() {
  const dir = opt('--keep') ?? mkdtempSync(join(tmpdir(), 'wan-bench-gguf14-'));
  const result = { ...header('gguf-14b', 'Wan2.1-T2V-14B (dim 5120, 40 heads, 40 layers, ffn 13824), random GGUF weights: every matrix in the type, F32 elsewhere'), input: { latent: [1, 16, 1, 60, 104], tokens: 1560, textTokens: 512 }, targets: { Q8_0: 18e9, Q4_K: 10e9 }, runs: {} };
  try {
    for (const type of ['Q8_0', 'Q4_K']) {
      const file = join(dir, `wan2.1-t2v-14b-${type}.gguf`);
      console.log(`gguf-14b: writing ${file}`);
      const t0 = performance.now();
      const bytes = await writeRandomGguf(file, WAN21_14B, type);
      console.log(`  ${gib(bytes)} written in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      const m = measure({ config: WAN21_14B, latent: [1, 60, 104], iters: 1, warmup: false, models: [{ name: type, file }] });
      const r = { ...m.runs[type], peakRssBytes: m.peakRssBytes, loadAverages: m.loadAverages };
      r.fileBytes = bytes;
      r.peakRssTargetBytes = result.targets[type];
      r.withinTarget = r.peakRssBytes <= result.targets[type];
      result.runs[type] = r;
      line(`${type} GGUF`, r);
      console.log(`  peak RSS ${(r.peakRssBytes / 1e9).toFixed(2)} GB, target <= ${result.targets[type] / 1e9} GB: ${r.withinTarget ? 'met' : 'MISSED'}`);
      if (!opt('--keep')) rmSync(file, { force: true });
    }
  } finally {
    if (!opt('--keep')) rmSync(dir, { recursive: true, force: true });
  }
  save('gguf-14b', result);
}

async function benchBf16() {
  const iters = Number(opt('--iters') ?? 4);
  const result = { ...header('bf16', 'Wan2.1-T2V-1.3B, random weights, one process, forwards alternated: float32 weights; bf16 weights widened per tile (exact, the default); the same bf16 weights with the opt-in bf16 dot products (setCpuPrecision / WAN_VIDEO_CPU_PRECISION=bf16)'), input: { latent: [1, 16, 1, 30, 52], tokens: 390, textTokens: 512 } };
  const m = measure({
    config: WAN21_1_3B, latent: [1, 30, 52], iters, warmup: true,
    models: [{ name: 'f32' }, { name: 'bf16', matrixDtype: 'BF16' }, { name: 'bf16dot', matrixDtype: 'BF16', precision: 'bf16' }],
  });
  Object.assign(result, m);
  line('float32 weights', m.runs.f32);
  line('bf16 weights, float32 math', m.runs.bf16);
  line('bf16 weights, bf16 dot products', m.runs.bf16dot);
  result.kernel = (await import(join(root, 'dist', 'bindings', 'loader.js'))).loadAddon('cpu').addon.info().gemm;
  result.widenedOverF32 = m.runs.bf16.best / m.runs.f32.best;
  result.speedupOverF32 = { best: m.runs.f32.best / m.runs.bf16dot.best, median: m.runs.f32.median / m.runs.bf16dot.median };
  result.bf16DotVsWidened = relL2(m.runs.bf16dot.sample, m.runs.bf16.sample);
  console.log(`  bf16 weights widened: ${result.widenedOverF32.toFixed(2)}x the float32 time`);
  console.log(`  bf16 dot products: ${result.speedupOverF32.best.toFixed(2)}x (best), ${result.speedupOverF32.median.toFixed(2)}x (median) the float32 speed (target >= 1.5); rel L2 of the first 4096 output values against the exact bf16-weight forward ${result.bf16DotVsWidened.toExponential(2)}. Load average ${avg(m.loadAverages).toFixed(1)}`);
  save('bf16', result);
}

if (args.includes('--child')) {
  await child();
} else {
  const name = args.find((a) => !a.startsWith('--'));
  const benches = { 'gguf-1.3b': bench13b, 'gguf-14b': bench14b, bf16: benchBf16 };
  if (!benches[name]) {
    console.error(`usage: node scripts/bench-gguf.mjs <${Object.keys(benches).join('|')}> [--save] [--iters N] [--keep DIR]`);
    process.exit(2);
  }
  await benches[name]();
}
