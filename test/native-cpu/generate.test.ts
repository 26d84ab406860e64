// generate() end to end on a tiny diffusers-layout folder: text prompt to RGB frames, with the
// events streamed, cancellation mid-run, and bad requests refused by field.
import { getEventListeners } from 'node:events';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { beforeAll, describe, expect, it, vi } from 'vitest';

import { loadAddon } from '../../lib/bindings/loader.js';

import type { GenerateResult } from '../../lib/pipeline/job.js';

import type { JobEvent } from '../../lib/pipeline/job.js';
import { WanPipeline } from '../../lib/pipeline/wan-pipeline.js';
import { haveFixtures } from '../helpers/paths.js';
import { makeTinyPipeline } from '../helpers/tiny-pipeline.js';

describe.runIf(haveFixtures)('WanPipeline.generate', () => {
  let pipe: WanPipeline;
  const request = { prompt: 'a red fox in the snow', width: 32, height: 32, numFrames: 5, steps: 3, guidanceScale: 5, seed: 42 };

  beforeAll(async () => {
    pipe = await WanPipeline.load(await makeTinyPipeline(), { device: 'cpu' });
  });

  it('turns a prompt into frames, streaming encode, step and frames events', async () => {
    const job = pipe.generate(request);
    const events: JobEvent[] = [];
    for await (const ev of job) events.push(ev);
    const result = await job.result;
    expect(result.seed).toBe(42n);
    expect([result.width, result.height, result.fps]).toEqual([32, 32, 16]);
    expect(result.frames).toHaveLength(5);
    for (const f of result.frames) expect(f.length).toBe(32 * 32 * 3);
    expect(new Set(result.frames[4]).size).toBeGreaterThan(1);
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('encode');
    expect(types.at(-1)).toBe('done');
    const steps = events.filter((e) => e.type === 'step');
    expect(steps.map((s) => (s.type === 'step' ? [s.index, s.total, s.forwards, s.expert] : []))).toEqual([
      [0, 3, 2, 'high-noise'],
      [1, 3, 2, 'high-noise'],
      [2, 3, 2, 'high-noise'],
    ]);
    const frames = events.filter((e) => e.type === 'frames');
    expect(frames.map((e) => (e.type === 'frames' ? [e.index, e.frames.length] : []))).toEqual([
      [0, 1],
      [1, 4],
    ]);
    // Frames events come before done and after the last step.
    expect(types.indexOf('frames')).toBeGreaterThan(types.lastIndexOf('step'));
  });

  it('is reproducible for a seed, and the negative prompt is served from the cache the second time', async () => {
    const a = pipe.generate(request);
    const events: JobEvent[] = [];
    for await (const ev of a) events.push(ev);
    const encode = events.find((e) => e.type === 'encode');
    expect(encode).toMatchObject({ cacheHits: 2, cacheMisses: 0 });
    const b = await pipe.generate(request).result;
    expect(Buffer.concat(b.frames).equals(Buffer.concat((await a.result).frames))).toBe(true);
    const c = await pipe.generate({ ...request, seed: 43 }).result;
    expect(Buffer.concat(c.frames).equals(Buffer.concat(b.frames))).toBe(false);
  });

  it('runs a step cache: step events and the result count the calls it served', async () => {
    const plain = await pipe.generate({ ...request, steps: 6 }).result;
    expect(plain.forwards).toEqual({ computed: 12, skipped: 0, cache: null });
    const job = pipe.generate({ ...request, steps: 6, cache: { kind: 'fbcache', threshold: 1, maxConsecutive: 1 } });
    const steps: Array<[number, number]> = [];
    for await (const ev of job) if (ev.type === 'step') steps.push([ev.computed, ev.cached]);
    const result = await job.result;
    expect(result.forwards.cache).toMatch(/First Block Cache, threshold 1/);
    expect(result.forwards.computed + result.forwards.skipped).toBe(12);
    expect(result.forwards.skipped).toBeGreaterThan(0);
    expect(steps.reduce((n, [, cached]) => n + cached, 0)).toBe(result.forwards.skipped);
    // step 0 has nothing cached yet; with at most one skip in a row, never two cached steps in a row
    expect(steps[0]).toEqual([2, 0]);
    for (let i = 1; i < steps.length; ++i) expect(steps[i - 1][1] > 0 && steps[i][1] > 0).toBe(false);
  });

  it('runs DBCache, refusing Fn blocks beyond the block count of the transformer by field', async () => {
    // The tiny transformer has 2 blocks: cache-dit's default Fn 8 does not fit.
    const job = pipe.generate({ ...request, cache: { kind: 'dbcache' } });
    await expect(job.result).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT', message: expect.stringContaining('cache.fnBlocks') });
    const r = await pipe.generate({ ...request, steps: 6, cache: { kind: 'dbcache', fnBlocks: 1, threshold: 1, warmupSteps: 1 } }).result;
    expect(r.forwards.cache).toMatch(/^DBCache F1B0, threshold 1, 1 warmup steps/);
    expect(r.forwards).toMatchObject({ computed: 2, skipped: 10 });
  });

  it('cancels within a step and keeps serving afterwards', async () => {
    const controller = new AbortController();
    // Many steps, so that the loop cannot end before the abort reaches it even when this machine is
    // busy and events reach JS late (the latency inside one step is test/native-cpu/device-jobs.test.ts's).
    const job = pipe.generate({ ...request, steps: 100 }, { signal: controller.signal });
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const ev of job) {
          seen.push(ev.type);
          if (ev.type === 'step' && ev.index === 1) controller.abort();
        }
      })(),
    ).rejects.toMatchObject({ code: 'E_CANCELLED' });
    expect(seen.filter((t) => t === 'step').length).toBeLessThan(100);
    await expect(job.result).rejects.toMatchObject({ code: 'E_CANCELLED' });
    const next = await pipe.generate(request).result;
    expect(next.frames).toHaveLength(5);
  });

  it('refuses a bad request naming the field, and rounds with a warning', async () => {
    await expect(pipe.generate({ ...request, steps: 0 }).result).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      message: expect.stringContaining('steps'),
    });
    await expect(pipe.generate({ positivePrompt: 'x' }).result).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
    const job = pipe.generate({ ...request, numFrames: 6 });
    const warnings: string[] = [];
    for await (const ev of job) if (ev.type === 'warning') warnings.push(ev.message);
    expect(warnings.join('\n')).toMatch(/numFrames|frames/);
    expect((await job.result).frames).toHaveLength(5);
  });

  it('loads a folder whose scheduler config has a field it does not know, and says so', async () => {
    const other = await WanPipeline.load(await makeTinyPipeline({ schedulerExtra: { some_future_field: 1 } }), { device: 'cpu' });
    try {
      expect(other.warnings).toEqual(['scheduler_config.json fields not known to this runtime were ignored: some_future_field']);
      const job = other.generate({ ...request, steps: 1 });
      const warnings: string[] = [];
      for await (const ev of job) if (ev.type === 'warning') warnings.push(ev.message);
      expect(warnings).toContain(other.warnings[0]);
    } finally {
      await other.dispose();
    }
  });

  it('conditions a Wan2.2 I2V-layout transformer on an RGB image, and refuses what it cannot serve by field', async () => {
    const i2v = await WanPipeline.load(await makeTinyPipeline({ inChannels: 36 }), { device: 'cpu' });
    try {
      const image = { data: Uint8Array.from({ length: 32 * 32 * 3 }, (_, i) => (i * 37) % 256), width: 32, height: 32 };
      const a = await i2v.generate({ ...request, image }).result;
      expect(a.frames).toHaveLength(5);
      const other = { ...image, data: image.data.map((v) => 255 - v) };
      const b = await i2v.generate({ ...request, image: other }).result;
      expect(Buffer.concat(a.frames).equals(Buffer.concat(b.frames))).toBe(false);
      const flf = await i2v.generate({ ...request, image, lastImage: other }).result;
      expect(flf.frames).toHaveLength(5);
      await expect(i2v.generate(request).result).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT', message: expect.stringMatching(/^image: .*needs an image/) });
      // An image of another size is resized to the video (Pillow LANCZOS), not refused.
      const small = await i2v.generate({ ...request, image: { ...image, width: 16, height: 16, data: image.data.slice(0, 16 * 16 * 3) } }).result;
      expect([small.width, small.height, small.frames.length]).toEqual([32, 32, 5]);
    } finally {
      await i2v.dispose();
    }
    await expect(pipe.generate({ ...request, image: { data: new Uint8Array(32 * 32 * 3), width: 32, height: 32 } }).result).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      message: expect.stringMatching(/^image: .*takes no image condition/),
    });
  });

  it('makes numberResults videos with consecutive seeds, encoding the text once', async () => {
    const job = pipe.generate({ ...request, steps: 2, seed: 100, numberResults: 3 });
    const events: JobEvent[] = [];
    for await (const ev of job) events.push(ev);
    const results = await job.results;
    expect(results.map((r) => [r.index, r.seed, r.frames.length])).toEqual([
      [0, 100n, 5],
      [1, 101n, 5],
      [2, 102n, 5],
    ]);
    expect(await job.result).toBe(results[0]);
    expect(events.filter((e) => e.type === 'encode')).toHaveLength(1);
    const stepsOf = (r: number) => events.filter((e) => e.type === 'step' && e.result === r).length;
    expect([stepsOf(0), stepsOf(1), stepsOf(2)]).toEqual([2, 2, 2]);
    const framesOf = (r: number) => events.flatMap((e) => (e.type === 'frames' && e.result === r ? e.frames : []));
    for (const r of results) expect(Buffer.concat(framesOf(r.index)).equals(Buffer.concat(r.frames))).toBe(true);
    const done = events.at(-1);
    expect(done?.type === 'done' && done.results).toEqual(results);
    // Each result is the video its seed gives alone.
    const alone = await pipe.generate({ ...request, steps: 2, seed: 101 }).result;
    expect(Buffer.concat(alone.frames).equals(Buffer.concat(results[1].frames))).toBe(true);
    expect(Buffer.concat(results[0].frames).equals(Buffer.concat(results[1].frames))).toBe(false);
    // Oxen's queue field does the same.
    expect((await pipe.generate({ prompt: 'a cat', width: 32, height: 32, num_frames: 5, num_inference_steps: 1, seed: 5, num_generations: 2 }).results).map((r) => r.seed)).toEqual([5n, 6n]);
  });

  it('plans without running: plan() validates against the model, generate(plan) runs it as planned', async () => {
    const { plan, warnings } = await pipe.plan({ prompt: 'a fox', width: 32, height: 32, numFrames: 5, steps: 2 });
    expect(warnings.join('\n')).toMatch(/not given; using random seed/);
    expect(plan).toMatchObject({ width: 32, height: 32, numFrames: 5, fps: 16, sampling: { steps: 2 } });
    const result = await pipe.generate(plan).result;
    expect(result.seed).toBe(plan.seeds[0]);
    await expect(pipe.plan({ ...request, steps: 101 })).rejects.toThrow(/steps = 101 is not allowed: expected an integer from 1 to 100/);
    // Refused at once, before any work: no event but the failure.
    const job = pipe.generate({ ...request, steps: 101 });
    const seen: string[] = [];
    await expect((async () => {
      for await (const ev of job) seen.push(ev.type);
    })()).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
    expect(seen).toEqual([]);
  });

  it('keeps nothing alive through a long-lived signal: listeners go when a job ends, results are collectable', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const emitted: string[] = [];
    const onWarning = (w: Error) => emitted.push(w.name);
    process.on('warning', onWarning);
    try {
      const controller = new AbortController();
      // Jobs run in helpers so that no frame of this function still holds one of them.
      const runOne = async (seed: number) => {
        const job = pipe.generate({ ...request, steps: 1, seed }, { signal: controller.signal });
        return new WeakRef(await job.result);
      };
      const runQueued = async () => {
        const queued = Array.from({ length: 12 }, (_, i) => pipe.generate({ ...request, steps: 1, seed: i }, { signal: controller.signal }));
        await new Promise((r) => setTimeout(r, 0));
        // Queued at once, only the running job listens.
        expect(getEventListeners(controller.signal, 'abort').length).toBeLessThanOrEqual(1);
        return Promise.all(queued.map(async (j) => new WeakRef(await j.result)));
      };
      const refs: Array<WeakRef<GenerateResult>> = [];
      for (let i = 0; i < 15; i++) {
        refs.push(await runOne(i));
        expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
      }
      refs.push(...(await runQueued()));
      for (let i = 0; i < 5 && refs.some((r) => r.deref()); i++) {
        await new Promise((r) => setTimeout(r, 10));
        gc();
      }
      expect(refs.filter((r) => r.deref() !== undefined)).toHaveLength(0);
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
      await new Promise((r) => setTimeout(r, 0));
      expect(emitted).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('reports where the experts live and the memory plan, and refuses before loading a folder over the memory budget', async () => {
    const result = await pipe.generate(request).result;
    expect(result.experts).toBe('single');
    // The request's own plan: its size, tokens, everything resident on the CPU, peak within the budget.
    expect(result.memory).toMatchObject({ backend: 'cpu', request: { width: 32, height: 32, numFrames: 5, steps: 3 }, transformer: { placement: 'resident', experts: 'single' } });
    expect(result.memory.peakBytes).toBeLessThanOrEqual(result.memory.budget.bytes);
    expect(result.memory.weights.transformer[0]).toBeGreaterThan(0);
    expect(result.memory.budget.source).toMatch(/^available host memory/);
    // Nothing loads: no weight reaches the addon when the plan refuses.
    const { addon } = loadAddon('cpu');
    const loads = (['loadTransformer', 'loadVae', 'loadTextEncoder', 'loadImageEncoder'] as const).map((name) => vi.spyOn(addon, name));
    try {
      await expect(WanPipeline.load(await makeTinyPipeline(), { device: 'cpu', maxMemory: 1000 })).rejects.toMatchObject({
        code: 'E_OOM',
        message: expect.stringMatching(/: memory plan for \d+x\d+x\d+: the transformer: needs .* on the CPU backend .* more than the budget of 1000 bytes \(maxMemory 1000 bytes\); nothing was loaded$/),
      });
      for (const spy of loads.slice(0, 3)) expect(spy).not.toHaveBeenCalled();
      // The same spies see a load the budget admits (with its residency from the plan).
      const ok = await WanPipeline.load(await makeTinyPipeline(), { device: 'cpu', maxMemory: '64GiB' });
      await ok.dispose();
      expect(loads[0]).toHaveBeenCalledWith(expect.objectContaining({ config: expect.objectContaining({ residentBlocks: ok.memory.transformer.blocks, swapExpert: false, parked: false }) }));
      expect(loads[1]).toHaveBeenCalledTimes(1);
    } finally {
      for (const spy of loads) spy.mockRestore();
    }
  });

  it('refuses a request over the memory budget when it is planned, before the job runs', async () => {
    // A budget that the load's default size fits but a long request's activations do not.
    const small = await WanPipeline.load(await makeTinyPipeline(), { device: 'cpu', maxMemory: pipe.memory.peakBytes + 2 ** 20 });
    try {
      await expect(small.plan({ ...request, width: 832, height: 480, numFrames: 801 })).rejects.toMatchObject({ code: 'E_OOM', message: expect.stringMatching(/^memory plan for 832x480x801: the /) });
    } finally {
      await small.dispose();
    }
  });

});
