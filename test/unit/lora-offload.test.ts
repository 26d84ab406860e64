// LoRAs on an offloaded transformer are refused when the request is planned (checkLorasPlacement,
// which WanPipeline.plan/generate run on each request's memory plan): a merge into a streamed block
// or a parked expert would be undone when it is copied back in. Pure: memory plans made by
// planMemory for CUDA from configs alone (the tensors point at no file), requests resolved by
// resolveGeneration, nothing loaded.
import { describe, expect, it } from 'vitest';

import { WanError } from '../../lib/errors.js';
import { type MemoryPlan, type MemoryPlanInput, type PlacementDecision, planMemory } from '../../lib/memory/plan.js';
import { expectedTextEncoderTensors } from '../../lib/model/text-encoder-tensors.js';
import { expectedTransformerTensors } from '../../lib/model/transformer-tensors.js';
import type { StoredDType, TensorRef, TextEncoderConfig, TextEncoderPlan, TransformerConfig, TransformerPlan, VaePlan } from '../../lib/model/types.js';
import { storedBytes } from '../../lib/model/types.js';
import { parseVaeConfig } from '../../lib/model/vae-config.js';
import { expectedVaeTensors } from '../../lib/model/vae-tensors.js';
import { type ModelFacts, checkLorasPlacement, resolveGeneration } from '../../lib/pipeline/plan.js';

const GB = 1e9;
const MISSING = '/nonexistent/weights.safetensors';

function refs(shapes: Map<string, number[]>, dtype: StoredDType): TensorRef[] {
  return [...shapes].map(([name, shape]) => ({ name, storedName: name, file: MISSING, offset: 0, length: storedBytes(dtype, shape.reduce((a, b) => a * b, 1)), dtype, shape }));
}

// The Wan2.2 A14B experts (their diffusers config.json).
const A14B: TransformerConfig = {
  patchSize: [1, 2, 2], numHeads: 40, headDim: 128, inChannels: 16, outChannels: 16, textDim: 4096, freqDim: 256, ffnDim: 13824, numLayers: 40,
  crossAttnNorm: true, eps: 1e-6, imageDim: null, addedKvProjDim: null, ropeMaxSeqLen: 1024, posEmbedSeqLen: null,
};
const UMT5_XXL: TextEncoderConfig = { vocabSize: 256384, dModel: 4096, dKv: 64, numHeads: 64, dFf: 10240, numLayers: 24, numBuckets: 32, maxDistance: 128, eps: 1e-6, gatedGelu: true };
const expert = (e?: 'high-noise' | 'low-noise'): TransformerPlan => ({
  kind: 'transformer', source: MISSING, layout: 'diffusers', config: A14B,
  variant: { variant: 'wan2.2-t2v-a14b', expert: e, description: '' }, tensors: refs(expectedTransformerTensors(A14B), 'BF16'), dtypes: ['BF16'],
});
const vaeConfig = parseVaeConfig({ _class_name: 'AutoencoderKLWan', z_dim: 16 }, 'config.json');
const vae: VaePlan = { kind: 'vae', source: MISSING, layout: 'diffusers', config: vaeConfig, version: 'wan2.1', parts: 'decoder', tensors: refs(expectedVaeTensors(vaeConfig, 'decoder'), 'F32'), dtypes: ['F32'] };
const textEncoder: TextEncoderPlan = { kind: 'text_encoder', source: MISSING, layout: 'diffusers', config: UMT5_XXL, tensors: refs(expectedTextEncoderTensors(UMT5_XXL), 'BF16'), dtypes: ['BF16'] };

const memory = (transformers: TransformerPlan[], backend: 'cpu' | 'cuda', bytes: number, fixed?: PlacementDecision): MemoryPlan => {
  const input: MemoryPlanInput = { transformers, vae, textEncoder, backend, budget: { bytes, source: 'test' }, request: { width: 832, height: 480, numFrames: 81, steps: 4, textLength: 512 } };
  return planMemory(input, fixed);
};
const pair = () => [expert('high-noise'), expert('low-noise')];

const facts: ModelFacts = {
  variant: 'wan2.2-t2v-a14b', description: 'Wan2.2 T2V A14B', transformer: A14B, transformer2: A14B, vae: { zDim: 16, spatial: 8, temporal: 4 },
  scheduler: null, boundaryRatio: 0.875, expandTimesteps: false, fastLoras: { high: '/fast-high.safetensors', low: '/fast-low.safetensors' },
  interpolator: false, textLength: 512, device: { backend: 'cuda', threads: 2 }, warnings: [],
};
const plan = (request: Record<string, unknown>, api?: 'canonical' | 'fal') =>
  resolveGeneration({ prompt: 'a fox', seed: 7, ...(api === 'fal' ? { num_inference_steps: 4 } : { steps: 4 }), ...request }, facts, { api });

function refusal(loras: ReturnType<typeof plan>['loras'], m: MemoryPlan): WanError {
  try {
    checkLorasPlacement(loras, m);
  } catch (e) {
    expect(e).toBeInstanceOf(WanError);
    return e as WanError;
  }
  throw new Error('expected E_UNSUPPORTED, got no refusal');
}

describe('LoRAs on an offloaded transformer', () => {
  const withLoras = plan({ loras: [{ path: '/style.safetensors', weight: 0.8 }, { path: '/other.safetensors' }] });

  it('are refused with E_UNSUPPORTED naming the first LoRA field when blocks stream (16 GB, one expert at a time)', () => {
    const m = memory(pair(), 'cuda', 16 * GB);
    expect(m.transformer).toMatchObject({ placement: 'offloaded', experts: 'one-resident' });
    const e = refusal(withLoras.loras, m);
    expect(e.code).toBe('E_UNSUPPORTED');
    expect(e.message).toMatch(/^loras\[0\]\.path: LoRAs with an offloaded transformer \(the memory plan keeps \d+ of 40 blocks on the device\) are not supported yet; a larger maxMemory keeps it resident$/);
    expect(e.message).toContain(`keeps ${m.transformer.residentBlocks} of 40 blocks`);
  });

  it('are refused for a single transformer with blocks streamed, and for an expert parked whole (placements fixed as at load)', () => {
    const single = memory([expert()], 'cuda', 141 * GB, { placement: 'offloaded', experts: 'single', residentBlocks: 12, releaseTextEncoder: true });
    expect(single.transformer).toMatchObject({ placement: 'offloaded', residentBlocks: 12 });
    const e = refusal(withLoras.loras, single);
    expect(e.code).toBe('E_UNSUPPORTED');
    expect(e.message).toMatch(/^loras\[0\]\.path: .*keeps 12 of 40 blocks on the device/);
    const parked = memory(pair(), 'cuda', 141 * GB, { placement: 'resident', experts: 'one-resident', residentBlocks: 40, releaseTextEncoder: true });
    expect(parked.transformer).toMatchObject({ placement: 'resident', experts: 'one-resident' });
    const p = refusal(withLoras.loras, parked);
    expect(p.code).toBe('E_UNSUPPORTED');
    expect(p.message).toMatch(/^loras\[0\]\.path: LoRAs with an offloaded transformer \(the memory plan keeps one expert on the device\)/);
  });

  it('names the field as the request spelled it: fal\'s loras, fast mode\'s pair from the load', () => {
    const m = memory(pair(), 'cuda', 16 * GB);
    const fal = plan({ loras: [{ path: '/style.safetensors', scale: 0.6, transformer: 'low' }], interpolator_model: 'none' }, 'fal');
    expect(refusal(fal.loras, m).message).toMatch(/^loras\[0\]\.path: /);
    const fast = plan({ fast: true });
    expect(fast.loras.map((l) => l.field)).toEqual(['fast.high (LoadOptions.fastLoras)', 'fast.low (LoadOptions.fastLoras)']);
    const e = refusal(fast.loras, m);
    expect(e.code).toBe('E_UNSUPPORTED');
    expect(e.message).toMatch(/^fast\.high \(LoadOptions\.fastLoras\): LoRAs with an offloaded transformer/);
  });

  it('pass when the transformer is resident, and a request without LoRAs passes offloaded', () => {
    const resident = memory(pair(), 'cuda', 141 * GB);
    expect(resident.transformer).toMatchObject({ placement: 'resident', experts: 'both-resident' });
    expect(() => checkLorasPlacement(withLoras.loras, resident)).not.toThrow();
    // The CPU backend never offloads: every weight is host memory already.
    const cpu = memory(pair(), 'cpu', 141 * GB);
    expect(cpu.transformer.placement).toBe('resident');
    expect(() => checkLorasPlacement(withLoras.loras, cpu)).not.toThrow();
    const none = plan({});
    expect(none.loras).toEqual([]);
    expect(() => checkLorasPlacement(none.loras, memory(pair(), 'cuda', 16 * GB))).not.toThrow();
  });
});
