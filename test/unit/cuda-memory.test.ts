// The memory check of a CUDA load: the estimate on 'cuda' (bf16 matrices, float32 elsewhere, the
// same activations) against the device's free memory plus the pool's cache (lib/model/cuda-memory.ts).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import type { NativeInfo } from '../../lib/bindings/native.js';
import { deviceBudgetBytes } from '../../lib/model/cuda-memory.js';
import { estimateMemory } from '../../lib/model/memory.js';
import { planTextEncoder } from '../../lib/model/text-encoder-plan.js';
import { planTransformer } from '../../lib/model/transformer-plan.js';
import { planVae } from '../../lib/model/vae-plan.js';
import { fixturesRoot, haveFixtures } from '../helpers/paths.js';

describe.runIf(haveFixtures)('the CUDA estimate (estimateMemory on cuda)', () => {
  it('keeps float32 matrices as bf16 and the rest as float32, with the same activations', async () => {
    const m = join(fixturesRoot, 'models');
    const plans = {
      transformers: [await planTransformer(join(m, 'dit-t2v-tiny'))],
      vae: await planVae(join(m, 'vae21-tiny')),
      textEncoder: await planTextEncoder(join(m, 'tiny-umt5', 'text_encoder')),
    };
    const size = { width: 64, height: 64, numFrames: 9 };
    const cuda = estimateMemory(plans, size, 'cuda');
    const cpu = estimateMemory(plans, size, 'cpu');
    const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
    const matrices = plans.transformers[0].tensors.filter((t) => t.shape.length === 2).reduce((n, t) => n + numel(t.shape), 0);
    expect(matrices).toBeGreaterThan(0);
    // The fixtures are float32: every transformer matrix is half the size on the device.
    expect(cpu.weightsBytes - cuda.weightsBytes).toBeGreaterThanOrEqual(2 * matrices);
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
