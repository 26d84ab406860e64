// resolveGeneration: a request and a model's facts in, a plan out, nothing run. Defaults come from
// the variant table (fps, negative prompt, shift by size), limits are refused before any work,
// numberResults becomes consecutive seeds, and a long request is warned about with its estimate.
import { describe, expect, it } from 'vitest';

import { WanError } from '../../lib/errors.js';
import type { ModelVariant, TransformerConfig } from '../../lib/model/types.js';
import { LONG_REQUEST_SECONDS, TRANSFORMER_THROUGHPUT, ditMatmuls, estimateGeneration, flopsOf } from '../../lib/pipeline/estimate.js';
import { type ModelFacts, resolveGeneration } from '../../lib/pipeline/plan.js';
import { MAX_STEPS } from '../../lib/schemas/limits.js';
import { WAN21_FLF2V_NEGATIVE_PROMPT, WAN21_I2V_NEGATIVE_PROMPT, WAN_DEFAULT_NEGATIVE_PROMPT } from '../../lib/schemas/request.js';

const base: TransformerConfig = {
  patchSize: [1, 2, 2], numHeads: 12, headDim: 128, inChannels: 16, outChannels: 16, textDim: 4096, freqDim: 256,
  ffnDim: 8960, numLayers: 30, crossAttnNorm: true, eps: 1e-6, imageDim: null, addedKvProjDim: null, ropeMaxSeqLen: 1024, posEmbedSeqLen: null,
};
const CONFIGS: Partial<Record<ModelVariant, TransformerConfig>> = {
  'wan2.1-t2v-1.3b': base,
  'wan2.1-i2v-14b': { ...base, numHeads: 40, ffnDim: 13824, numLayers: 40, inChannels: 36, imageDim: 1280, addedKvProjDim: 5120 },
  'wan2.1-flf2v-14b': { ...base, numHeads: 40, ffnDim: 13824, numLayers: 40, inChannels: 36, imageDim: 1280, addedKvProjDim: 5120, posEmbedSeqLen: 514 },
  'wan2.2-t2v-a14b': { ...base, numHeads: 40, ffnDim: 13824, numLayers: 40 },
  'wan2.2-i2v-a14b': { ...base, numHeads: 40, ffnDim: 13824, numLayers: 40, inChannels: 36 },
  'wan2.2-ti2v-5b': { ...base, numHeads: 24, ffnDim: 14336, numLayers: 30, inChannels: 48, outChannels: 48 },
};

function facts(variant: ModelVariant, extra: Partial<ModelFacts> = {}): ModelFacts {
  const transformer = CONFIGS[variant] ?? base;
  const ti2v = variant === 'wan2.2-ti2v-5b';
  const paired = variant.startsWith('wan2.2-') && !ti2v;
  return {
    variant,
    description: variant,
    transformer,
    transformer2: paired ? transformer : null,
    vae: ti2v ? { zDim: 48, spatial: 16, temporal: 4 } : { zDim: 16, spatial: 8, temporal: 4 },
    scheduler: null,
    boundaryRatio: paired ? (variant === 'wan2.2-t2v-a14b' ? 0.875 : 0.9) : null,
    expandTimesteps: ti2v,
    fastLoras: null,
    interpolator: false,
    textLength: 512,
    device: { backend: 'cpu', threads: 2 },
    warnings: [],
    ...extra,
  };
}

const plan = (variant: ModelVariant, request: Record<string, unknown>, extra: Partial<ModelFacts> = {}) =>
  resolveGeneration({ prompt: 'a fox', seed: 7, ...request }, facts(variant, extra));
const rgb = (width: number, height: number) => ({ data: new Uint8Array(width * height * 3), width, height });

describe('resolveGeneration', () => {
  it('takes fps from the variant table: 24 for TI2V 5B, 16 for Wan2.1; the request wins', () => {
    expect(plan('wan2.2-ti2v-5b', {}).fps).toBe(24);
    expect(plan('wan2.1-t2v-1.3b', {}).fps).toBe(16);
    expect(plan('wan2.2-ti2v-5b', { fps: 12 }).fps).toBe(12);
    // An API that documents its own fps default still sends it (fal's frames_per_second 16).
    expect(resolveGeneration({ prompt: 'a fox', num_frames: 81, frames_per_second: 16 }, facts('wan2.2-ti2v-5b')).fps).toBe(16);
  });

  it("uses the task's negative prompt (Wan2.1 I2V, FLF2V), the request's when given, none without guidance", () => {
    const image = rgb(832, 480);
    expect(plan('wan2.1-t2v-1.3b', {}).negativePrompt).toBe(WAN_DEFAULT_NEGATIVE_PROMPT);
    // Wan2.1 I2V is refused before its negative prompt matters (no CLIP yet): check the table's choice through FLF2V's facts without CLIP.
    const noClip = (v: ModelVariant) => ({ transformer: { ...CONFIGS[v]!, imageDim: null } });
    expect(plan('wan2.1-i2v-14b', { image, width: 832, height: 480 }, noClip('wan2.1-i2v-14b')).negativePrompt).toBe(WAN21_I2V_NEGATIVE_PROMPT);
    expect(plan('wan2.1-flf2v-14b', { image, lastImage: image, width: 832, height: 480 }, noClip('wan2.1-flf2v-14b')).negativePrompt).toBe(WAN21_FLF2V_NEGATIVE_PROMPT);
    expect(plan('wan2.1-t2v-1.3b', { negativePrompt: '' }).negativePrompt).toBe('');
    expect(plan('wan2.1-t2v-1.3b', { guidanceScale: 1 }).negativePrompt).toBeNull();
  });

  it('uses the per-size shift where the official script has one, before the folder and the variant default', () => {
    const noClip = { transformer: { ...CONFIGS['wan2.1-i2v-14b']!, imageDim: null } };
    const image480 = rgb(832, 480);
    expect(plan('wan2.1-i2v-14b', { image: image480, width: 832, height: 480 }, noClip).sampling.shift).toBe(3);
    expect(plan('wan2.1-i2v-14b', { image: rgb(1280, 720) }, noClip).sampling.shift).toBe(5);
    const folder = { scheduler: { config: { kind: 'unipc' as const }, shift: 5, name: 'unipc' as const } };
    expect(plan('wan2.1-i2v-14b', { image: image480, width: 832, height: 480 }, { ...noClip, ...folder }).sampling.shift).toBe(3);
    expect(plan('wan2.1-i2v-14b', { image: image480, width: 832, height: 480, shift: 7 }, noClip).sampling.shift).toBe(7);
    expect(plan('wan2.1-t2v-1.3b', {}, { scheduler: { config: { kind: 'unipc' }, shift: 8, name: 'unipc' } }).sampling.shift).toBe(8);
    expect(plan('wan2.2-t2v-a14b', {}).sampling).toMatchObject({ shift: 12, steps: 40, guidanceScale: 4, guidanceScale2: 3, boundaryTimestep: 875 });
  });

  it('refuses more steps than MAX_STEPS before anything runs, naming the field as the user wrote it', () => {
    expect(plan('wan2.1-t2v-1.3b', { steps: MAX_STEPS }).sampling.steps).toBe(MAX_STEPS);
    expect(() => plan('wan2.1-t2v-1.3b', { steps: MAX_STEPS + 1 })).toThrow(/steps = 101 is not allowed: expected an integer from 1 to 100/);
    expect(() => resolveGeneration({ prompt: 'a fox', num_inference_steps: MAX_STEPS + 1 }, facts('wan2.1-t2v-1.3b'))).toThrow(/num_inference_steps/);
  });

  it('refuses a cache window past the steps the variant defaults to', () => {
    expect(() => plan('wan2.2-t2v-a14b', { cache: { kind: 'teacache', startStep: 45 } })).toThrow(/cache\.startStep: 45: expected at most the 40 steps/);
    expect(plan('wan2.2-t2v-a14b', { cache: { kind: 'teacache', startStep: 10 } }).cache?.native.startStep).toBe(10);
  });

  it('makes numberResults (Runware) and num_generations (Oxen) consecutive seeds', () => {
    expect(resolveGeneration({ positivePrompt: 'a fox', duration: 1, seed: 41, numberResults: 3 }, facts('wan2.1-t2v-1.3b')).seeds).toEqual([41n, 42n, 43n]);
    expect(resolveGeneration({ prompt: 'a fox', seed: 9, num_generations: 2 }, facts('wan2.1-t2v-1.3b')).seeds).toEqual([9n, 10n]);
    expect(plan('wan2.1-t2v-1.3b', {}).seeds).toEqual([7n]);
  });

  it('says what the model needs in the way of images, by field', () => {
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return [(e as WanError).code, (e as WanError).message];
      }
      return null;
    };
    expect(code(() => plan('wan2.2-i2v-a14b', {}))).toEqual(['E_INVALID_ARGUMENT', expect.stringMatching(/^image: .*needs an image/)]);
    expect(code(() => plan('wan2.1-t2v-1.3b', { image: rgb(832, 480) }))).toEqual(['E_INVALID_ARGUMENT', expect.stringMatching(/^image: .*takes no image condition/)]);
    expect(plan('wan2.1-i2v-14b', { image: rgb(1280, 720) }).image).toMatchObject({ kind: 'i2v-2.1', clip: true });
    expect(code(() => plan('wan2.1-i2v-14b', { image: rgb(1280, 720), lastImage: rgb(1280, 720) }))).toEqual(['E_INVALID_ARGUMENT', expect.stringMatching(/^lastImage: .*first frame only/)]);
    // A named image (file, URL, data) must come loaded: WanPipeline.plan() reads it first.
    expect(code(() => plan('wan2.2-ti2v-5b', { image: '/tmp/x.png' }))).toEqual(['E_INVALID_ARGUMENT', expect.stringMatching(/^image: the image was not loaded/)]);
    expect(code(() => plan('wan2.2-ti2v-5b', { image: rgb(1280, 704), lastImage: rgb(1280, 704) }))).toEqual(['E_INVALID_ARGUMENT', expect.stringMatching(/^lastImage: /)]);
    expect(plan('wan2.2-ti2v-5b', { image: rgb(1280, 704) }).image).toMatchObject({ kind: 'ti2v', clip: false });
    expect(plan('wan2.2-i2v-a14b', { image: rgb(1280, 720), lastImage: rgb(1280, 720) }).image).toMatchObject({ kind: 'i2v-2.2' });
    // Without a size, the image's aspect ratio at the model's default area.
    const portrait = plan('wan2.2-i2v-a14b', { image: rgb(480, 832) });
    expect([portrait.width, portrait.height]).toEqual([720, 1264]);
    expect(plan('wan2.2-ti2v-5b', {}).image).toBeNull();
  });

  it('warns about a size the variant was not trained for', () => {
    expect(plan('wan2.1-t2v-1.3b', { width: 1280, height: 720 }).warnings.join('\n')).toMatch(/1280x720 is not one of the sizes wan2\.1-t2v-1\.3b was trained for \(832x480, 480x832\)/);
    expect(plan('wan2.1-t2v-1.3b', {}).warnings.join('\n')).not.toMatch(/trained for/);
  });

  it('fast mode: refused on one transformer, the cache instead where an API only asked for speed', () => {
    expect(() => plan('wan2.1-t2v-1.3b', { fast: true })).toThrow(/has one transformer/);
    const oxen = resolveGeneration({ prompt: 'a fox', run_fast: true }, facts('wan2.1-t2v-1.3b'));
    expect(oxen.fast).toBeNull();
    expect(oxen.cache?.summary).toMatch(/TeaCache/);
    const fast = plan('wan2.2-t2v-a14b', { steps: 30 }, { fastLoras: { high: '/h.safetensors', low: '/l.safetensors' } });
    expect(fast.fast).toBeNull();
    const on = plan('wan2.2-t2v-a14b', { fast: true, steps: 30 }, { fastLoras: { high: '/h.safetensors', low: '/l.safetensors' } });
    expect(on.sampling).toMatchObject({ steps: 4, guidanceScale: 1, schedulerName: 'euler' });
    expect(on.negativePrompt).toBeNull();
    expect(on.loras.map((l) => [l.path, l.transformer, l.field])).toEqual([
      ['/h.safetensors', 'high', 'fast.high (LoadOptions.fastLoras)'],
      ['/l.safetensors', 'low', 'fast.low (LoadOptions.fastLoras)'],
    ]);
    expect(on.warnings).toContain("steps 30 is replaced by fast mode's distilled setting");
  });

  it('counts the FLOPs of a forward as the dit benchmark does', () => {
    // bench/results/2026-11-21-cpu-dit.json: gflopPer.forward 1194.139926528 at 390 tokens, 512 text tokens.
    expect(flopsOf(ditMatmuls(base, 390, 512)) / 1e9).toBeCloseTo(1194.139926528, 6);
    const e = estimateGeneration(base, { tokens: 390, textLen: 512, calls: 1 }, { backend: 'cpu', threads: 2 });
    expect(e.flopsPerSecond).toBe(2 * TRANSFORMER_THROUGHPUT.cpu.flopsPerSecondPerThread);
  });

  it('warns before a request that will take long on the device, with the estimate', () => {
    const big = plan('wan2.1-t2v-1.3b', { width: 2048, height: 2048, numFrames: 81 });
    expect(big.estimate.tokens).toBe(21 * 128 * 128);
    expect(big.estimate.seconds).toBeGreaterThan(3600 * 24);
    const warning = big.warnings.find((w) => w.startsWith('this request will take at least about'));
    expect(warning).toMatch(/days on the CPU backend \(2 threads\): 100 transformer calls of .* TFLOP at 344064 tokens \(2048x2048x81\)/);
    expect(warning).toContain('bench/results/2026-11-21-cpu-dit.json');
    const small = plan('wan2.1-t2v-1.3b', { width: 128, height: 128, numFrames: 5, steps: 4 });
    expect(small.estimate.seconds).toBeLessThan(LONG_REQUEST_SECONDS);
    expect(small.warnings.some((w) => w.startsWith('this request will take'))).toBe(false);
    // The same request on the CUDA figure is not long.
    expect(plan('wan2.1-t2v-1.3b', { width: 832, height: 480 }, { device: { backend: 'cuda', threads: 1 } }).warnings.some((w) => w.startsWith('this request will take'))).toBe(false);
  });

  it('repeats the load warnings and is the same plan for the same request', () => {
    const f = facts('wan2.1-t2v-1.3b', { warnings: ['scheduler_config.json fields not known to this runtime were ignored: x'] });
    const a = resolveGeneration({ prompt: 'a fox', seed: 3 }, f);
    const b = resolveGeneration({ prompt: 'a fox', seed: 3 }, f);
    expect(a.warnings[0]).toBe(f.warnings[0]);
    expect(b).toEqual(a);
    expect(a).toMatchObject({ width: 832, height: 480, numFrames: 81, latentShape: [1, 16, 21, 60, 104] });
  });
});
