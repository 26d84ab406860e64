// The memory check of a CUDA load (lib/model/cuda-memory.ts): bf16 matrices, float32 elsewhere,
// the CPU estimate's activations, against the device's free memory plus the pool's cache.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import type { NativeInfo } from '../../lib/bindings/native.js';
import { cudaWeightBytes, deviceBudgetBytes, estimateCudaMemory } from '../../lib/model/cuda-memory.js';
import { estimateMemory } from '../../lib/model/memory.js';
import { planTextEncoder } from '../../lib/model/text-encoder-plan.js';
import { planTransformer } from '../../lib/model/transformer-plan.js';
import { planVae } from '../../lib/model/vae-plan.js';
import { fixturesRoot, haveFixtures } from '../helpers/paths.js';

describe.runIf(haveFixtures)('estimateCudaMemory', () => {
  it('stores 2-D weights as bf16 and the rest as float32, with the same activations', async () => {
    const m = join(fixturesRoot, 'models');
    const plans = {
      transformers: [await planTransformer(join(m, 'dit-t2v-tiny'))],
      vae: await planVae(join(m, 'vae21-tiny')),
      textEncoder: await planTextEncoder(join(m, 'tiny-umt5', 'text_encoder')),
    };
    const all = [...plans.transformers[0].tensors, ...plans.vae.tensors, ...plans.textEncoder.tensors];
    const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
    const matrices = all.filter((t) => t.shape.length === 2).reduce((n, t) => n + numel(t.shape), 0);
    const others = all.filter((t) => t.shape.length !== 2).reduce((n, t) => n + numel(t.shape), 0);
    expect(matrices).toBeGreaterThan(0);
    expect(cudaWeightBytes(plans)).toBe(2 * matrices + 4 * others);
    const size = { width: 64, height: 64, numFrames: 9 };
    const cuda = estimateCudaMemory(plans, size);
    const cpu = estimateMemory(plans, size);
    expect(cuda.weightsBytes).toBeLessThan(cpu.weightsBytes);
    expect(cuda.transformerActivationsBytes).toBe(cpu.transformerActivationsBytes);
    expect(cuda.totalBytes).toBe(cuda.weightsBytes + Math.max(cpu.transformerActivationsBytes, cpu.vaeDecodeBytes, cpu.textEncoderActivationsBytes));
  });
});

describe('deviceBudgetBytes', () => {
  it('is the free device memory plus the pool cache, and null without a CUDA backend', () => {
    const info = (deviceMemory?: NativeInfo['deviceMemory']) => ({ backend: 'cuda', deviceMemory }) as NativeInfo;
    expect(deviceBudgetBytes(info({ inUse: 5, peak: 9, cached: 3, free: 100, total: 200 }))).toBe(103);
    expect(deviceBudgetBytes(info(undefined))).toBeNull();
    expect(deviceBudgetBytes(info({ inUse: 0, peak: 0, cached: 0, free: 0, total: 0 }))).toBeNull();
  });
});
