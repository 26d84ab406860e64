// The native Wan VAEs on the fixture models: streaming decode (chunks, bytes, pace, cancel),
// de-normalisation, batches, encode, and both VAEs stored under the official names.
import { join } from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadAddon } from '../../lib/bindings/loader.js';
import type { NativeAddon, NativeTensor } from '../../lib/bindings/native.js';
import type { NativeVae, NativeVaeChunk } from '../../lib/bindings/native-vae.js';
import { WanError } from '../../lib/errors.js';
import { compileKeyTable, mapKeys, wanVaeKeys, WAN_VAE_DEFAULT_STRUCTURE } from '../../lib/model/keymap.js';
import { readSafetensorsF32 } from '../../lib/model/safetensors.js';
import { writeSafetensors } from '../../lib/model/safetensors-writer.js';
import type { VaePlan } from '../../lib/model/types.js';
import { planVae } from '../../lib/model/vae-plan.js';
import { frameViews, toRgb8 } from '../../lib/video/frames.js';
import { decodeFrames, decodeVideo } from '../../lib/video/vae-decode.js';
import { fixturesRoot, haveFixtures } from '../helpers/paths.js';

const models = join(fixturesRoot, 'models');

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

function relL2(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

/** Sample b of a batched tensor. */
function sample(t: NativeTensor, b: number): NativeTensor {
  const per = t.data.length / t.shape[0];
  return { data: t.data.slice(b * per, (b + 1) * per), shape: [1, ...t.shape.slice(1)] };
}

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err, `expected ${code}`).toBeDefined();
  expect((err as { code?: string }).code ?? (err as Error).message).toContain(code);
}

describe.runIf(haveFixtures)('native Wan VAE', () => {
  let addon: NativeAddon;
  let vae21: NativeVae;
  let vae22: NativeVae;
  let plan21: VaePlan;
  let plan22: VaePlan;
  const load = (plan: VaePlan) => addon.loadVae({ config: plan.config, tensors: plan.tensors });

  beforeAll(async () => {
    addon = loadAddon('cpu').addon;
    plan21 = await planVae(join(models, 'vae21-tiny'));
    plan22 = await planVae(join(models, 'vae22-tiny'));
    vae21 = await load(plan21);
    vae22 = await load(plan22);
  });

  afterAll(() => {
    vae21?.dispose();
    vae22?.dispose();
  });

  it('hands out one chunk per latent frame: the first frame alone, then four at a time', async () => {
    const z = randomTensor([1, 16, 4, 3, 5], 1);
    const chunks: NativeVaeChunk[] = [];
    for await (const c of decodeFrames(vae21, z, { latents: 'raw' })) chunks.push(c);
    expect(chunks.map((c) => [c.frameStart, c.frames])).toEqual([[0, 1], [1, 4], [5, 4], [9, 4]]);
    for (const c of chunks) {
      expect([c.height, c.width]).toEqual([24, 40]);
      expect(c.rgb?.length).toBe(c.frames * 24 * 40 * 3);
      expect(frameViews(c)).toHaveLength(c.frames);
    }
    expect(vae21.weightBytes).toBeGreaterThan(0);
  });

  it('turns frames into bytes as the pipelines post-process them', async () => {
    const z = randomTensor([1, 48, 2, 2, 2], 2);
    const floats: NativeVaeChunk[] = [];
    const bytes: NativeVaeChunk[] = [];
    for await (const c of decodeFrames(vae22, z, { latents: 'raw', format: 'float' })) floats.push(c);
    for await (const c of decodeFrames(vae22, z, { latents: 'raw' })) bytes.push(c);
    expect(bytes.map((c) => c.frames)).toEqual([1, 4]);
    for (let i = 0; i < floats.length; i++) {
      expect(Math.max(...floats[i].data!.map(Math.abs))).toBeLessThanOrEqual(1);
      expect(Buffer.from(toRgb8(floats[i].data!)).equals(bytes[i].rgb!)).toBe(true);
    }
  });

  it('maps normalised latents back with latents_mean and latents_std before decoding', async () => {
    const raw = randomTensor([1, 16, 2, 2, 3], 3);
    const mean = plan21.config.latentsMean!;
    const std = plan21.config.latentsStd!;
    const plane = 2 * 2 * 3;
    const normalised = { data: raw.data.map((v, i) => (v - mean[Math.floor(i / plane)]) / std[Math.floor(i / plane)]), shape: raw.shape };
    const a = await decodeVideo(vae21, raw, { latents: 'raw' });
    const b = await decodeVideo(vae21, normalised);
    expect(relL2(b.data, a.data)).toBeLessThan(1e-5);
    expect(relL2(a.data, (await decodeVideo(vae21, normalised, { latents: 'raw' })).data)).toBeGreaterThan(1e-2);
  });

  it('decodes and encodes a batch as its samples one by one', async () => {
    const z = randomTensor([2, 16, 2, 2, 2], 4);
    const both = await decodeVideo(vae21, z, { latents: 'raw' });
    expect(both.shape).toEqual([2, 3, 5, 16, 16]);
    for (const b of [0, 1]) expect(sample(both, b).data).toEqual((await decodeVideo(vae21, sample(z, b), { latents: 'raw' })).data);

    const video = randomTensor([2, 3, 5, 32, 32], 5);
    const post = await vae22.encode(video);
    expect(post.mean.shape).toEqual([2, 48, 2, 2, 2]);
    for (const b of [0, 1]) {
      const one = await vae22.encode(sample(video, b));
      expect(sample(post.mean, b).data).toEqual(one.mean.data);
      expect(sample(post.logvar, b).data).toEqual(one.logvar.data);
    }
  });

  it('encodes what the reference encodes: frames past the last 1 + 4k are ignored, sizes Wan2.1 halves with padding', async () => {
    const video = randomTensor([1, 3, 7, 20, 12], 6);
    const post = await vae21.encode(video);
    expect(post.mean.shape).toEqual([1, 16, 2, 2, 1]); // 20 -> 10 -> 5 -> 2, 12 -> 6 -> 3 -> 1
    const first5 = { data: video.data.filter((_, i) => Math.floor(i / (20 * 12)) % 7 < 5), shape: [1, 3, 5, 20, 12] };
    expect((await vae21.encode(first5)).mean.data).toEqual(post.mean.data);
    expect(Math.max(...post.logvar.data)).toBeLessThanOrEqual(20);
  });

  it('stops between chunks when the signal aborts, and when the consumer stops early', async () => {
    const z = randomTensor([1, 16, 6, 2, 2], 7);
    const controller = new AbortController();
    let seen = 0;
    const run = (async () => {
      for await (const _ of decodeFrames(vae21, z, { latents: 'raw', signal: controller.signal })) {
        seen++;
        controller.abort();
      }
    })();
    await expect(run).rejects.toMatchObject({ code: 'E_CANCELLED' });
    expect(seen).toBeLessThan(6);

    let taken = 0;
    for await (const _ of decodeFrames(vae21, z, { latents: 'raw' })) if (++taken === 2) break;
    expect(taken).toBe(2);
    expect(() => decodeFrames(vae21, z, { signal: AbortSignal.abort() })).toThrow(WanError);
  });

  it('runs at most one chunk ahead of a consumer that has not finished', async () => {
    const z = randomTensor([1, 16, 5, 2, 2], 8);
    const pending: Array<() => void> = [];
    const job = vae21.decode(z, {}, () => new Promise<void>((resolve) => pending.push(resolve)));
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    for (let waited = 0; pending.length < 2 && waited < 30_000; waited += 20) await sleep(20);
    await sleep(500); // time enough for a third chunk, were the decoder not waiting
    expect(pending.length).toBe(2);
    while (pending.length < 5) {
      pending.forEach((resolve) => resolve());
      await sleep(20);
    }
    pending.forEach((resolve) => resolve());
    await expect(job.done).resolves.toMatchObject({ chunks: 5, frames: 17 });
  });

  it('rejects with the error the chunk callback threw', async () => {
    const z = randomTensor([1, 16, 3, 2, 2], 9);
    const job = vae21.decode(z, { format: 'float' }, (c) => {
      if (c.frameStart > 0) throw new RangeError('consumer failed');
    });
    await expect(job.done).rejects.toThrow('consumer failed');
  });

  it('rejects bad latents and a disposed model with codes', async () => {
    await expectCode(vae21.decode(randomTensor([1, 8, 1, 2, 2], 1), {}, () => undefined).done, 'E_INVALID_ARGUMENT');
    await expectCode(vae21.encode(randomTensor([1, 4, 1, 8, 8], 1)), 'E_INVALID_ARGUMENT');
    await expectCode(vae22.encode(randomTensor([1, 3, 1, 24, 24], 1)), 'E_INVALID_ARGUMENT');
    expect(() => vae21.decode({ data: new Float32Array(3), shape: [1, 16, 1, 2, 2] }, {}, () => undefined)).toThrow(/E_INVALID_ARGUMENT/);
    const extra = await load(plan21);
    extra.dispose();
    expect(() => extra.decode(randomTensor([1, 16, 1, 2, 2], 1), {}, () => undefined)).toThrow(/disposed/);
  });

  it('loads one half: a decoder-only VAE decodes the same and refuses to encode', async () => {
    const plan = await planVae(join(models, 'vae22-tiny'), { parts: 'decoder' });
    const dec = await addon.loadVae({ config: { ...plan.config, withEncoder: false }, tensors: plan.tensors });
    try {
      const z = randomTensor([1, 48, 2, 2, 3], 10);
      expect((await decodeVideo(dec, z, { latents: 'raw' })).data).toEqual((await decodeVideo(vae22, z, { latents: 'raw' })).data);
      await expectCode(dec.encode(randomTensor([1, 3, 1, 32, 32], 1)), 'E_INVALID_ARGUMENT');
      expect(dec.weightBytes).toBeLessThan(vae22.weightBytes);
    } finally {
      dec.dispose();
    }
  });

  it('reads the Wan2.2 VAE under the official names (as one file, no config) and decodes the same video', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wan-vae-test-'));
    try {
      const tensors = await readSafetensorsF32(join(models, 'vae22-tiny', 'diffusion_pytorch_model.safetensors'));
      const table = wanVaeKeys({ ...WAN_VAE_DEFAULT_STRUCTURE, residual: true });
      const back = new Map<string, string>();
      for (const [from, to] of table.modules) for (const p of ['weight', 'bias']) back.set(`${to}.${p}`, `${from}.${p}`);
      for (const [from, to] of table.params) back.set(to, from);
      const file = join(dir, 'wan2.2_vae.safetensors');
      await writeSafetensors(file, Object.fromEntries([...tensors].map(([name, t]) => [back.get(name) ?? name, { dtype: 'F32', ...t }])));
      expect(mapKeys([...back.values()], compileKeyTable(table)).unmapped).toEqual([]);

      const plan = await planVae(file);
      expect(plan).toMatchObject({ layout: 'original', version: 'wan2.2' });
      const original = await load(plan);
      try {
        const z = randomTensor([1, 48, 3, 2, 3], 11);
        const ours = await decodeVideo(original, z, { latents: 'raw' });
        expect(ours.shape).toEqual([1, 3, 9, 32, 48]);
        expect(ours.data).toEqual((await decodeVideo(vae22, z, { latents: 'raw' })).data);
        const video = randomTensor([1, 3, 5, 32, 48], 12);
        expect((await original.encode(video)).mean.data).toEqual((await vae22.encode(video)).mean.data);
      } finally {
        original.dispose();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
