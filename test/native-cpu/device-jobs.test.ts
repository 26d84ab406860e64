// The native job model: one job thread per device, one cancellation path. A cancel takes effect
// inside a denoising step (between transformer blocks, and inside the long ops of a block), a
// cancelled job leaves the next one unaffected, and a VAE decode that waits for its consumer does
// not hold the device thread.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadAddon } from '../../lib/bindings/loader.js';
import type { NativeDenoiseOptions } from '../../lib/bindings/native-pipeline.js';
import type { NativeVae } from '../../lib/bindings/native-vae.js';
import type { NativeAddon, NativeTensor, NativeTransformer } from '../../lib/bindings/native.js';
import type { TransformerConfig } from '../../lib/model/types.js';
import { planVae } from '../../lib/model/vae-plan.js';
import { fixturesRoot, haveFixtures } from '../helpers/paths.js';

function randomTensor(shape: number[], seed: number): NativeTensor {
  let s = seed >>> 0;
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = (s / 2 ** 32) * 2 - 1;
  }
  return { data, shape };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// A transformer whose step is slow: 20 blocks of width 512 over 9 x 24 x 24 = 5184 tokens, two
// passes per step (about 3.5 TFLOP a step: seconds even on a fast many-core machine, minutes here),
// but a small model (80 M parameters).
const SLOW: TransformerConfig = {
  patchSize: [1, 2, 2], numHeads: 8, headDim: 64, inChannels: 16, outChannels: 16, textDim: 64, freqDim: 256,
  ffnDim: 2048, numLayers: 20, crossAttnNorm: true, eps: 1e-6, imageDim: null, addedKvProjDim: null, ropeMaxSeqLen: 1024, posEmbedSeqLen: null,
};

describe('device jobs', () => {
  let addon: NativeAddon;
  let transformer: NativeTransformer;
  const text = randomTensor([1, 8, 64], 2);
  const loop = (latents: NativeTensor, extra: Partial<NativeDenoiseOptions> = {}) =>
    addon.runDenoise({
      transformer, scheduler: { kind: 'euler' }, steps: 2, shift: 3, guidanceScale: 5,
      latents, promptEmbeds: text, negativeEmbeds: randomTensor([1, 8, 64], 3), ...extra,
    });

  beforeAll(async () => {
    addon = loadAddon('cpu').addon;
    transformer = await addon.randomTransformer(SLOW, 1);
  });

  afterAll(() => transformer?.dispose());

  it('cancels inside a step within a second, and the next job runs as if nothing happened', async () => {
    const small = randomTensor([1, 16, 1, 4, 4], 4);
    const before = await loop(small);

    const flag = new Int32Array(new SharedArrayBuffer(4));
    const steps: number[] = [];
    const running = loop(randomTensor([1, 16, 9, 48, 48], 5), { cancelFlag: flag, onStep: (e) => steps.push(e.index) });
    const settled = running.then(
      () => 'resolved',
      (err: { code?: string; message: string }) => `${err.code}: ${err.message}`,
    );
    await sleep(1500); // well inside step 0: its first pass alone is 1.7 TFLOP
    const t0 = performance.now();
    Atomics.store(flag, 0, 1);
    const outcome = await settled;
    const latency = performance.now() - t0;
    expect(outcome).toMatch(/^E_CANCELLED: .*cancelled (between transformer blocks|in attention|in a matrix product)/);
    expect(steps).toEqual([]); // it stopped inside step 0, not after it
    expect(latency).toBeLessThan(1000);

    const after = await loop(small);
    expect(after.latents.data).toEqual(before.latents.data);
  });

  it('a job cancelled while queued behind another never starts: E_CANCELLED "before it ran", no step', async () => {
    const slowFlag = new Int32Array(new SharedArrayBuffer(4));
    const slow = loop(randomTensor([1, 16, 9, 48, 48], 8), { cancelFlag: slowFlag }).catch((e: { code?: string }) => e.code);
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const steps: number[] = [];
    const queued = loop(randomTensor([1, 16, 1, 4, 4], 9), { cancelFlag: flag, onStep: (e) => steps.push(e.index) });
    Atomics.store(flag, 0, 1); // while the slow job holds the device thread
    await sleep(300);
    Atomics.store(slowFlag, 0, 1);
    await expect(queued).rejects.toMatchObject({ code: 'E_CANCELLED', message: expect.stringMatching(/cancelled before it ran/) });
    expect(steps).toEqual([]);
    expect(await slow).toBe('E_CANCELLED');
  });

  it('cancels a single forward the same way', async () => {
    const flag = new Int32Array(new SharedArrayBuffer(4));
    Atomics.store(flag, 0, 1);
    await expect(
      transformer.forward({ hiddenStates: randomTensor([1, 16, 1, 4, 4], 6), timestep: { data: new Float32Array([500]), shape: [1] }, encoderHiddenStates: text }, { cancelFlag: flag }),
    ).rejects.toMatchObject({ code: 'E_CANCELLED' });
    await expect(addon.runDenoise({ transformer, scheduler: { kind: 'euler' }, steps: 1, shift: 1, guidanceScale: 1, latents: randomTensor([1, 16, 1, 4, 4], 7), promptEmbeds: text, cancelFlag: new Int32Array(1) })).resolves.toBeDefined();
    await expect(loop(randomTensor([1, 16, 1, 4, 4], 7), { cancelFlag: new Float32Array(1) as unknown as Int32Array })).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      message: expect.stringContaining('cancelFlag'),
    });
  });

  describe.runIf(haveFixtures)('with a VAE', () => {
    let vae: NativeVae;
    beforeAll(async () => {
      const plan = await planVae(join(fixturesRoot, 'models', 'vae21-tiny'));
      vae = await addon.loadVae({ config: plan.config, tensors: plan.tensors });
    });
    afterAll(() => vae?.dispose());

    it('a decode waiting for its consumer leaves the device thread to other jobs', async () => {
      const pending: Array<() => void> = [];
      let delivered = 0;
      const job = vae.decode(randomTensor([1, 16, 5, 2, 2], 8), {}, () => {
        delivered++;
        return new Promise<void>((resolve) => pending.push(resolve));
      });
      for (let waited = 0; pending.length < 2 && waited < 30_000; waited += 20) await sleep(20);
      expect(pending.length).toBe(2); // the decoder now waits for the consumer
      // A job queued behind it runs meanwhile (a consumer may itself be waiting for such a job).
      const forward = await transformer.forward({ hiddenStates: randomTensor([1, 16, 1, 4, 4], 9), timestep: { data: new Float32Array([500]), shape: [1] }, encoderHiddenStates: text });
      expect(forward.sample.shape).toEqual([1, 16, 1, 4, 4]);
      expect(pending.length).toBe(2);
      for (let waited = 0; delivered < 5 && waited < 30_000; waited += 20) {
        pending.splice(0).forEach((resolve) => resolve());
        await sleep(20);
      }
      pending.splice(0).forEach((resolve) => resolve());
      await expect(job.done).resolves.toMatchObject({ chunks: 5, frames: 17 });
    });

    it('a decode stops at its cancel flag, like every other job', async () => {
      const flag = new Int32Array(new SharedArrayBuffer(4));
      let chunks = 0;
      const job = vae.decode(randomTensor([1, 16, 6, 2, 2], 10), { cancelFlag: flag }, () => {
        if (++chunks === 2) Atomics.store(flag, 0, 1);
      });
      await expect(job.done).rejects.toMatchObject({ code: 'E_CANCELLED' });
      expect(chunks).toBeLessThan(6);
      const encoded = await vae.encode(randomTensor([1, 3, 1, 16, 16], 11), { cancelFlag: new Int32Array(new SharedArrayBuffer(4)) });
      expect(encoded.mean.shape).toEqual([1, 16, 1, 2, 2]);
    });
  });
});
