import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { estimateMemory } from '../../lib/model/memory.js';
import { planTextEncoder } from '../../lib/model/text-encoder-plan.js';
import { planTransformer } from '../../lib/model/transformer-plan.js';
import { planVae } from '../../lib/model/vae-plan.js';
import { fixturesRoot, haveFixtures } from '../helpers/paths.js';

describe.runIf(haveFixtures)('estimateMemory', () => {
  it('counts weights exactly and grows with the request', async () => {
    const m = join(fixturesRoot, 'models');
    const transformer = await planTransformer(join(m, 'dit-t2v-tiny'));
    const vae = await planVae(join(m, 'vae21-tiny'));
    const textEncoder = await planTextEncoder(join(m, 'tiny-umt5', 'text_encoder'));
    const params = [transformer, vae, textEncoder].reduce((n, p) => n + p.tensors.reduce((k, t) => k + t.shape.reduce((a, b) => a * b, 1), 0), 0);
    const small = estimateMemory({ transformers: [transformer], vae, textEncoder }, { width: 64, height: 64, numFrames: 9 });
    expect(small.weightsBytes).toBe(params * 4);
    expect(small.totalBytes).toBe(small.weightsBytes + Math.max(small.transformerActivationsBytes, small.vaeDecodeBytes, small.textEncoderActivationsBytes));
    const longer = estimateMemory({ transformers: [transformer], vae, textEncoder }, { width: 64, height: 64, numFrames: 33 });
    expect(longer.transformerActivationsBytes).toBeGreaterThan(small.transformerActivationsBytes);
    // The decode works one chunk at a time: only the output frames grow with the frame count.
    expect(longer.vaeDecodeBytes - small.vaeDecodeBytes).toBe(3 * 64 * 64 * 24);
    const two = estimateMemory({ transformers: [transformer, transformer], vae, textEncoder }, { width: 64, height: 64, numFrames: 9 });
    expect(two.weightsBytes - small.weightsBytes).toBe(transformer.tensors.reduce((k, t) => k + t.shape.reduce((a, b) => a * b, 1), 0) * 4);
  });
});
