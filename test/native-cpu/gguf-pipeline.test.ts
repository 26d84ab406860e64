// A video generated through WanPipeline.generate() from a .gguf transformer (city96's layout: the
// original Wan names, general.architecture "wan", a config.json beside the file; the VAE, text
// encoder and tokenizer named one by one, as with ComfyUI's single files). The same random weights
// are written four ways: float32 safetensors (the original), an F32 GGUF, a Q8_0 GGUF (matrices
// quantized, the rest F32, as city96's files keep them) and a float32 safetensors of the Q8_0
// weights dequantized here in JS. F32 GGUF == safetensors exactly; Q8_0 == its dequantized weights
// up to the order of float sums; Q8_0 against the original differs by Q8_0's rounding and no more.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

import { type GgufTensorToWrite, writeGguf } from '../../lib/model/gguf-writer.js';
import { WAN_TRANSFORMER_KEYS } from '../../lib/model/keymap.js';
import { decodeToF32 } from '../../lib/model/safetensors.js';
import { writeSafetensors } from '../../lib/model/safetensors-writer.js';
import { planTransformer } from '../../lib/model/transformer-plan.js';
import { expectedTransformerTensors } from '../../lib/model/transformer-tensors.js';
import type { TransformerConfig } from '../../lib/model/types.js';
import type { GenerateResult } from '../../lib/pipeline/job.js';
import { WanPipeline } from '../../lib/pipeline/wan-pipeline.js';
import { fixturesRoot, haveFixtures } from '../helpers/paths.js';
import { quantizeQ8_0 } from '../helpers/q8_0.js';

// Widths that are multiples of 32 (a Q8_0 block) in every matrix's last dimension: dim 64, text 64
// (the tiny UMT5's d_model), freq 256, ffn 128.
const CONFIG: TransformerConfig = {
  patchSize: [1, 2, 2], numHeads: 2, headDim: 32, inChannels: 16, outChannels: 16, textDim: 64, freqDim: 256, ffnDim: 128,
  numLayers: 2, crossAttnNorm: true, eps: 1e-6, imageDim: null, addedKvProjDim: null, ropeMaxSeqLen: 1024, posEmbedSeqLen: null,
};
const DIFFUSERS_CONFIG = {
  _class_name: 'WanTransformer3DModel', patch_size: [1, 2, 2], num_attention_heads: 2, attention_head_dim: 32, in_channels: 16,
  out_channels: 16, text_dim: 64, freq_dim: 256, ffn_dim: 128, num_layers: 2, cross_attn_norm: true, qk_norm: 'rms_norm_across_heads',
  eps: 1e-6, image_dim: null, added_kv_proj_dim: null, rope_max_seq_len: 1024, pos_embed_seq_len: null,
};
const REQUEST = { prompt: 'a red fox in the snow', width: 32, height: 32, numFrames: 5, steps: 3, guidanceScale: 5, seed: 42 };

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A diffusers tensor name -> the original Wan name city96's GGUF files use (the key table read backwards). */
function originalName(canonical: string): string {
  for (const [from, to] of WAN_TRANSFORMER_KEYS.modules) {
    const m = new RegExp(`^${to.split('{n}').map(esc).join('(\\d+)')}\\.(weight|bias)$`).exec(canonical);
    if (m) return `${from.replace('{n}', m[1])}.${m[m.length - 1]}`;
  }
  for (const [from, to] of WAN_TRANSFORMER_KEYS.params) {
    const m = new RegExp(`^${to.split('{n}').map(esc).join('(\\d+)')}$`).exec(canonical);
    if (m) return from.replace('{n}', m[1] ?? '');
  }
  throw new Error(`no original name for ${canonical}`);
}

/** Q8_0 back to float32 as ggml does it: the f16 scale times the int8, in float32. */
function dequantizeQ8_0(q: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  const buf = Buffer.from(q.buffer, q.byteOffset, q.byteLength);
  for (let b = 0; b < n / 32; b++) {
    const d = decodeToF32('F16', q.subarray(b * 34, b * 34 + 2))[0];
    for (let i = 0; i < 32; i++) out[b * 32 + i] = Math.fround(d * buf.readInt8(b * 34 + 2 + i));
  }
  return out;
}

const bytesOf = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Mean and largest absolute difference of two videos' RGB bytes. */
function frameDiff(a: GenerateResult, b: GenerateResult): { mean: number; max: number; differing: number } {
  const x = Buffer.concat(a.frames);
  const y = Buffer.concat(b.frames);
  expect(x.length).toBe(y.length);
  let sum = 0;
  let max = 0;
  let differing = 0;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(x[i] - y[i]);
    sum += d;
    max = Math.max(max, d);
    if (d) differing++;
  }
  return { mean: sum / x.length, max, differing };
}

describe.runIf(haveFixtures)('generate() from a .gguf transformer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wan-gguf-pipeline-'));
  const files = {
    safetensors: join(dir, 'wan-f32.safetensors'),
    ggufF32: join(dir, 'wan-F32.gguf'),
    ggufQ8: join(dir, 'wan-Q8_0.gguf'),
    dequantized: join(dir, 'wan-q8-dequantized.safetensors'),
  };
  const results: Partial<Record<keyof typeof files, GenerateResult>> = {};
  const transformerWeights: Partial<Record<keyof typeof files, number>> = {};
  let quantized = 0;

  async function generateFrom(which: keyof typeof files): Promise<GenerateResult> {
    const models = join(fixturesRoot, 'models');
    const pipe = await WanPipeline.load(
      {
        model: files[which], vae: join(models, 'vae21-tiny'),
        textEncoder: join(models, 'tiny-umt5', 'text_encoder'), tokenizer: join(models, 'tiny-umt5', 'tokenizer'),
      },
      { device: 'cpu' },
    );
    try {
      transformerWeights[which] = pipe.memory.weights.transformer[0];
      return await pipe.generate(REQUEST).result;
    } finally {
      await pipe.dispose();
    }
  }

  beforeAll(async () => {
    writeFileSync(join(dir, 'config.json'), JSON.stringify(DIFFUSERS_CONFIG));
    let state = 2024;
    const rand = () => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return state / 2 ** 31 - 0.5;
    };
    const original: Record<string, { dtype: string; shape: number[]; data: Float32Array }> = {};
    const dequantized: typeof original = {};
    const f32: GgufTensorToWrite[] = [];
    const q8: GgufTensorToWrite[] = [];
    for (const [canonical, shape] of expectedTransformerTensors(CONFIG)) {
      const name = originalName(canonical);
      const n = shape.reduce((a, b) => a * b, 1);
      const data = Float32Array.from({ length: n }, () => rand() * 0.2);
      original[name] = { dtype: 'F32', shape, data };
      f32.push({ name, dtype: 'F32', shape, data: bytesOf(data) });
      // Matrices (2-D, rows of whole blocks) quantized; biases, norms, modulations and the 5-D patch
      // embedding stay F32, as in city96's files.
      if (shape.length === 2 && shape[1] % 32 === 0 && !/modulation/.test(name)) {
        const q = quantizeQ8_0(data);
        q8.push({ name, dtype: 'Q8_0', shape, data: q });
        dequantized[name] = { dtype: 'F32', shape, data: dequantizeQ8_0(q, n) };
        quantized++;
      } else {
        q8.push({ name, dtype: 'F32', shape, data: bytesOf(data) });
        dequantized[name] = original[name];
      }
    }
    await writeSafetensors(files.safetensors, original);
    await writeSafetensors(files.dequantized, dequantized);
    await writeGguf(files.ggufF32, { 'general.architecture': 'wan', 'general.file_type': 0 }, f32);
    await writeGguf(files.ggufQ8, { 'general.architecture': 'wan', 'general.file_type': 7 }, q8);
    for (const which of Object.keys(files) as Array<keyof typeof files>) results[which] = await generateFrom(which);
  });

  it('plans the GGUF files as Wan transformers in the original layout, the Q8_0 one kept compressed', async () => {
    const q8 = await planTransformer(files.ggufQ8);
    expect(q8.layout).toBe('original');
    expect(q8.config).toEqual(CONFIG);
    expect([...q8.dtypes].sort()).toEqual(['F32', 'Q8_0']);
    expect(q8.tensors.filter((t) => t.dtype === 'Q8_0').length).toBe(quantized);
    expect(quantized).toBeGreaterThanOrEqual(20);
    const f32 = await planTransformer(files.ggufF32);
    expect(f32.dtypes).toEqual(['F32']);
    expect(f32.tensors.map((t) => [t.name, t.shape])).toEqual((await planTransformer(files.safetensors)).tensors.map((t) => [t.name, t.shape]));
    // The loaded pipeline's memory plan counts the Q8_0 matrices at their stored 34 bytes a block of 32, not widened.
    expect(transformerWeights.ggufF32).toBe(transformerWeights.safetensors);
    expect(transformerWeights.ggufQ8!).toBeLessThan(0.4 * transformerWeights.ggufF32!);
  });

  it('makes a video from each, with the frames a request asks for', () => {
    for (const [which, r] of Object.entries(results)) {
      expect(r!.frames, which).toHaveLength(5);
      for (const f of r!.frames) expect(f.length, which).toBe(32 * 32 * 3);
      expect(new Set(Buffer.concat(r!.frames)).size, which).toBeGreaterThan(16);
    }
  });

  it('gives the same frames, byte for byte, from an F32 GGUF as from the safetensors original', () => {
    expect(Buffer.concat(results.ggufF32!.frames).equals(Buffer.concat(results.safetensors!.frames))).toBe(true);
  });

  it('gives from a Q8_0 GGUF the frames of its own weights dequantized, and the original\'s within Q8_0\'s rounding', () => {
    // The compressed products widen each tile and sum in float32 as the float32 path does: equal here
    // (measured), at most one byte's rounding step apart where a BLAS build sums in another order.
    const own = frameDiff(results.ggufQ8!, results.dequantized!);
    expect(own.max, JSON.stringify(own)).toBeLessThanOrEqual(1);
    // Against the unquantized weights: Q8_0's rounding (up to 1/254 of each block's largest value)
    // moves the video, but only a little: measured mean 0.055 and max 1 (5% of the bytes move by
    // one). Every block scale 2% too large (a misread scale, a wrong rounding) gives mean 0.28 and
    // max 3, 5% gives 0.71 and 8: both fail here.
    const rounding = frameDiff(results.ggufQ8!, results.safetensors!);
    expect(rounding.differing, JSON.stringify(rounding)).toBeGreaterThan(0);
    expect(rounding.mean, JSON.stringify(rounding)).toBeLessThan(0.15);
    expect(rounding.max, JSON.stringify(rounding)).toBeLessThanOrEqual(2);
  });
});
