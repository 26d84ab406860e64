// The memory plan (lib/memory/plan.ts) on the real Wan sizes, built from their configs and stored
// dtypes alone: the tensors below point at files that do not exist, so a plan that read one would fail.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { WanError } from '../../lib/errors.js';
import { BUDGET_MARGIN_BYTES, availableHostBytes, parseMemorySize, resolveBudget } from '../../lib/memory/budget.js';
import { describeMemoryPlan } from '../../lib/memory/describe.js';
import { STREAM_SLOTS, planMemory, type MemoryPlanInput } from '../../lib/memory/plan.js';
import { expectedTextEncoderTensors } from '../../lib/model/text-encoder-tensors.js';
import { expectedTransformerTensors } from '../../lib/model/transformer-tensors.js';
import type { StoredDType, TensorRef, TextEncoderConfig, TextEncoderPlan, TransformerConfig, TransformerPlan, VaePlan } from '../../lib/model/types.js';
import { storedBytes } from '../../lib/model/types.js';
import { parseVaeConfig } from '../../lib/model/vae-config.js';
import { expectedVaeTensors } from '../../lib/model/vae-tensors.js';

const GiB = 2 ** 30;
const GB = 1e9;
const MISSING = '/nonexistent/weights.safetensors';

function refs(shapes: Map<string, number[]>, dtype: StoredDType): TensorRef[] {
  return [...shapes].map(([name, shape]) => {
    const length = storedBytes(dtype, shape.reduce((a, b) => a * b, 1));
    return { name, storedName: name, file: MISSING, offset: 0, length, dtype, shape };
  });
}

const dit = (numHeads: number, ffnDim: number, numLayers: number): TransformerConfig => ({
  patchSize: [1, 2, 2], numHeads, headDim: 128, inChannels: 16, outChannels: 16, textDim: 4096, freqDim: 256, ffnDim, numLayers,
  crossAttnNorm: true, eps: 1e-6, imageDim: null, addedKvProjDim: null, ropeMaxSeqLen: 1024, posEmbedSeqLen: null,
});
// Wan2.1 T2V 1.3B and the Wan2.2 A14B experts (their diffusers config.json).
const T2V_1_3B = dit(12, 8960, 30);
const A14B = dit(40, 13824, 40);
const UMT5_XXL: TextEncoderConfig = { vocabSize: 256384, dModel: 4096, dKv: 64, numHeads: 64, dFf: 10240, numLayers: 24, numBuckets: 32, maxDistance: 128, eps: 1e-6, gatedGelu: true };

function transformer(config: TransformerConfig, expert?: 'high-noise' | 'low-noise'): TransformerPlan {
  return {
    kind: 'transformer', source: MISSING, layout: 'diffusers', config,
    variant: { variant: expert ? 'wan2.2-t2v-a14b' : 'wan2.1-t2v-1.3b', expert, description: '' },
    tensors: refs(expectedTransformerTensors(config), 'BF16'), dtypes: ['BF16'],
  };
}
const vaeConfig = parseVaeConfig({ _class_name: 'AutoencoderKLWan', z_dim: 16 }, 'config.json');
const vae: VaePlan = { kind: 'vae', source: MISSING, layout: 'diffusers', config: vaeConfig, version: 'wan2.1', parts: 'decoder', tensors: refs(expectedVaeTensors(vaeConfig, 'decoder'), 'F32'), dtypes: ['F32'] };
const textEncoder: TextEncoderPlan = { kind: 'text_encoder', source: MISSING, layout: 'diffusers', config: UMT5_XXL, tensors: refs(expectedTextEncoderTensors(UMT5_XXL), 'BF16'), dtypes: ['BF16'] };
const at480p = { width: 832, height: 480, numFrames: 81, steps: 50 };

const input = (transformers: TransformerPlan[], backend: 'cpu' | 'cuda', bytes: number, request: MemoryPlanInput['request'] = at480p): MemoryPlanInput => ({
  transformers, vae, textEncoder, request, backend, budget: { bytes, source: 'test' },
});

describe('planMemory', () => {
  it('keeps Wan2.1 1.3B at 480p x 81 all resident in 24 GB on CUDA', () => {
    const plan = planMemory(input([transformer(T2V_1_3B)], 'cuda', 24 * GB));
    expect(plan.transformer).toMatchObject({ placement: 'resident', experts: 'single', blocks: 30, residentBlocks: 30, hostBytes: 0 });
    expect(plan.transformer.deviceBytes).toBe(plan.weights.transformer[0]);
    expect(plan.textEncoder.release).toBe(false);
    // bf16 matrices: about 2 bytes a parameter (1.42 B parameters, float32 biases and norms).
    expect(plan.weights.transformer[0] / GiB).toBeGreaterThan(2.6);
    expect(plan.weights.transformer[0] / GiB).toBeLessThan(2.8);
    expect(plan.request.tokens).toBe(21 * 30 * 52);
    expect(plan.peakBytes).toBeLessThanOrEqual(24 * GB);
    expect(plan.headroomBytes).toBe(24 * GB - plan.peakBytes);
    expect(plan.peakBytes).toBe(Math.max(plan.phases.encode, plan.phases.denoise, plan.phases.decode));
    expect(plan.vaeDecode).toMatchObject({ latentFramesPerChunk: 1, framesPerChunk: 4, chunks: 21 });
  });

  it('frees the text encoder after encoding when that is what it takes', () => {
    const all = planMemory(input([transformer(T2V_1_3B)], 'cuda', 100 * GB));
    // Just under the all-resident peak: the text encoder goes, nothing else moves.
    const plan = planMemory(input([transformer(T2V_1_3B)], 'cuda', all.peakBytes - 1));
    expect(plan.textEncoder.release).toBe(true);
    expect(plan.transformer.placement).toBe('resident');
    expect(plan.phases.denoise).toBe(all.phases.denoise - plan.weights.textEncoder);
  });

  it('runs Wan2.2 A14B under 16 GB on CUDA with one expert resident and blocks streamed', () => {
    const experts = [transformer(A14B, 'high-noise'), transformer(A14B, 'low-noise')];
    const plan = planMemory(input(experts, 'cuda', 16 * GB));
    expect(plan.transformer.placement).toBe('offloaded');
    expect(plan.transformer.experts).toBe('one-resident');
    expect(plan.textEncoder.release).toBe(true);
    expect(plan.transformer.residentBlocks).toBeGreaterThan(0);
    expect(plan.transformer.residentBlocks).toBeLessThan(40);
    expect(plan.peakBytes).toBeLessThanOrEqual(16 * GB);
    // One more resident block would not fit: the plan keeps as many as the budget allows.
    const slot = plan.transformer.blockBytes;
    expect(plan.peakBytes + slot).toBeGreaterThan(16 * GB);
    // Either expert may be parked, so both keep a copy in pinned host memory.
    expect(plan.transformer.hostBytes).toBe(plan.weights.transformer[0] + plan.weights.transformer[1]);
    // The device holds one expert's resident blocks and the rest of it, plus the two streaming slots.
    expect(plan.transformer.deviceBytes).toBeLessThan(plan.weights.transformer[0] * (plan.transformer.residentBlocks + 1) / 40 + STREAM_SLOTS * slot);
    // Each A14B block: 4 + 4 attention matrices of 5120^2 and two FFN matrices, bf16.
    expect(slot).toBeGreaterThan(2 * (8 * 5120 * 5120 + 2 * 5120 * 13824));
    // In words, as info and generate print it.
    const text = describeMemoryPlan(plan).join('\n');
    expect(text).toMatch(/^memory plan for 832x480, 81 frames, 50 steps on the CUDA device: peak \d+\.\d\d GiB of a 14\.90 GiB budget \(test\)$/m);
    expect(text).toContain(`transformer offloaded: ${plan.transformer.residentBlocks} of 40 blocks resident, the rest streamed from pinned host memory, one expert at a time`);
    expect(text).toMatch(/text encoder released after encoding$/m);
  });

  it('refuses offload when host memory cannot hold the pinned copies, naming it', () => {
    const experts = [transformer(A14B, 'high-noise'), transformer(A14B, 'low-noise')];
    const hostBudget = { bytes: 32 * GiB, source: 'host test' };
    expect(() => planMemory({ ...input(experts, 'cuda', 16 * GB), hostBudget })).toThrowError(
      /^memory plan for 832x480x81: the offloaded transformer: needs 53\.25 GiB of pinned host memory \(both experts, one resident at a time\), more than the host budget of 32\.00 GiB \(host test\); nothing was loaded$/,
    );
    // A single transformer streams only its offloaded blocks.
    const single = planMemory({ ...input([transformer(A14B)], 'cuda', 16 * GB), hostBudget });
    expect(single.transformer.placement).toBe('offloaded');
    expect(single.transformer.hostBytes).toBeLessThanOrEqual(32 * GiB);
    expect(single.transformer.hostBytes).toBe((40 - single.transformer.residentBlocks) * single.transformer.blockBytes);
  });

  it('keeps both A14B experts when they fit, and refuses on the CPU backend instead of offloading', () => {
    const experts = [transformer(A14B, 'high-noise'), transformer(A14B, 'low-noise')];
    expect(planMemory(input(experts, 'cuda', 141 * GB)).transformer.experts).toBe('both-resident');
    expect(() => planMemory(input(experts, 'cpu', 16 * GB))).toThrowError(/transformer: needs .* on the CPU backend with every weight resident/);
  });

  it('refuses a tiny budget with E_OOM naming the component and the bytes, before anything loads', () => {
    let err: unknown;
    try {
      planMemory(input([transformer(T2V_1_3B)], 'cuda', 2 * GiB));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WanError);
    expect((err as WanError).code).toBe('E_OOM');
    // At 2 GiB the text encoder's 10+ GiB of weights is what cannot be placed anywhere.
    expect((err as WanError).message).toMatch(/^memory plan for 832x480x81: the text encoder: needs \d+\.\d\d GiB on the CUDA device .*more than the budget of 2\.00 GiB \(test\); nothing was loaded$/);
    // A long request whose transformer activations (tokens x ffn) outgrow the budget: named as the transformer.
    const long = { width: 832, height: 480, numFrames: 481 };
    expect(() => planMemory({ ...input([transformer(T2V_1_3B)], 'cuda', 12 * GB, long), textEncoder: null })).toThrowError(/the transformer: needs .* activations at 188760 tokens/);
  });

  it('evaluates only the given placement for a request on a loaded pipeline', () => {
    const experts = [transformer(A14B, 'high-noise'), transformer(A14B, 'low-noise')];
    const loaded = planMemory(input(experts, 'cuda', 16 * GB));
    const fixed = { placement: loaded.transformer.placement, experts: loaded.transformer.experts, residentBlocks: loaded.transformer.residentBlocks, releaseTextEncoder: true };
    const small = planMemory(input(experts, 'cuda', 16 * GB, { width: 480, height: 272, numFrames: 17, steps: 4 }), fixed);
    expect(small.transformer.residentBlocks).toBe(loaded.transformer.residentBlocks);
    expect(small.phases.denoise).toBeLessThan(loaded.phases.denoise);
    expect(() => planMemory(input(experts, 'cuda', 16 * GB, { width: 1280, height: 720, numFrames: 121, steps: 4 }), fixed)).toThrowError(/E_OOM|memory plan for 1280x720x121/);
  });
});

describe('memory budgets', () => {
  it('parses sizes in SI and binary units and bytes, and names the field of a bad one', () => {
    expect(parseMemorySize('16GB')).toBe(16e9);
    expect(parseMemorySize('16GiB')).toBe(16 * GiB);
    expect(parseMemorySize('16g')).toBe(16 * GiB);
    expect(parseMemorySize('1.5 GiB')).toBe(1.5 * GiB);
    expect(parseMemorySize('17179869184')).toBe(16 * GiB);
    expect(parseMemorySize(1234)).toBe(1234);
    expect(() => parseMemorySize('16 gigs', '--max-memory')).toThrowError(/^--max-memory "16 gigs": expected a size such as 16GB, 16GiB or a number of bytes$/);
    expect(() => parseMemorySize('0')).toThrowError(/maxMemory "0"/);
    expect(() => parseMemorySize(-1)).toThrowError(WanError);
  });

  it('defaults to available memory less the margin', () => {
    const cpu = resolveBudget('cpu', undefined, null, 'maxMemory', () => ({ bytes: 8 * GiB, source: 'MemAvailable (/proc/meminfo)' }));
    expect(cpu).toEqual({ bytes: 8 * GiB - BUDGET_MARGIN_BYTES.cpu, source: `available host memory (MemAvailable (/proc/meminfo)) less ${BUDGET_MARGIN_BYTES.cpu / 2 ** 20} MiB` });
    expect(resolveBudget('cpu', undefined, null).source).toMatch(/^available host memory \((MemAvailable|os\.freemem)/);
    // MemAvailable read from the kernel's table (kB), os.freemem() where there is none.
    const dir = mkdtempSync(join(tmpdir(), 'meminfo-'));
    writeFileSync(join(dir, 'meminfo'), 'MemTotal:       32000000 kB\nMemFree:         1000000 kB\nMemAvailable:   20000000 kB\n');
    expect(availableHostBytes(join(dir, 'meminfo'))).toEqual({ bytes: 20000000 * 1024, source: 'MemAvailable (/proc/meminfo)' });
    expect(availableHostBytes(join(dir, 'absent')).source).toBe('os.freemem()');
    expect(resolveBudget('cpu', '8GiB', null)).toEqual({ bytes: 8 * GiB, source: 'maxMemory 8GiB' });
    const info = { deviceMemory: { inUse: 0, peak: 0, cached: GiB, free: 20 * GiB, total: 24 * GiB } } as never;
    expect(resolveBudget('cuda', undefined, info).bytes).toBe(21 * GiB - BUDGET_MARGIN_BYTES.cuda);
    expect(() => resolveBudget('cuda', undefined, {} as never)).toThrowError(/reports no device memory: pass maxMemory/);
  });
});
