// LoRA on the native transformer and through generate(): merge and restore without reloading,
// per-expert routing, the load report, fast mode, and refusals that name the field.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadAddon } from '../../lib/bindings/loader.js';
import type { NativeTensor, NativeTransformer } from '../../lib/bindings/native.js';
import { applyLoras } from '../../lib/lora/apply.js';
import { planTransformer } from '../../lib/model/transformer-plan.js';
import { readSafetensorsF32 } from '../../lib/model/safetensors.js';
import { writeSafetensors } from '../../lib/model/safetensors-writer.js';
import type { TransformerPlan } from '../../lib/model/types.js';
import type { JobEvent } from '../../lib/pipeline/job.js';
import { WanPipeline } from '../../lib/pipeline/wan-pipeline.js';
import { fixturesRoot, haveFixtures } from '../helpers/paths.js';
import { makeTinyPipeline } from '../helpers/tiny-pipeline.js';
import { tmpDir, writeStyledLora } from '../helpers/tiny-lora.js';

const loraFile = (name: string) => join(fixturesRoot, 'models', 'loras', `${name}.safetensors`);
const same = (a: NativeTensor, b: NativeTensor) => a.data.length === b.data.length && a.data.every((v, i) => v === b.data[i]);

describe.runIf(haveFixtures)('LoRA on the native transformer', () => {
  const { addon } = loadAddon('cpu');
  let plan: TransformerPlan;
  let inputs: Parameters<NativeTransformer['forward']>[0];
  const models: NativeTransformer[] = [];
  const load = async () => {
    const m = await addon.loadTransformer(plan);
    models.push(m);
    return m;
  };
  const with_ = (m: NativeTransformer, loras: Array<{ name: string; weight: number }>) =>
    applyLoras({ high: { native: m, config: plan.config }, low: null }, loras.map((l) => ({ path: loraFile(l.name), weight: l.weight })));

  beforeAll(async () => {
    plan = await planTransformer(join(fixturesRoot, 'models', 'dit-t2v-tiny'));
    const t = await readSafetensorsF32(join(fixturesRoot, 'cases', 'lora', 'kohya-alpha-diffb', 'tensors.safetensors'));
    inputs = { hiddenStates: t.get('in.hidden_states')!, timestep: t.get('in.timestep')!, encoderHiddenStates: t.get('in.encoder_hidden_states')! };
  });
  afterAll(() => models.forEach((m) => m.dispose()));

  it('restoring and applying another LoRA gives what a fresh model with that LoRA gives, and clearing gives the base', async () => {
    const m = await load();
    const base = (await m.forward(inputs)).sample;
    const first = await with_(m, [{ name: 'kohya-alpha-diffb', weight: 0.8 }]);
    expect(first.merges[0].targets).toBe(36); // 2 blocks x (8 attention weights + 8 biases + 2 ffn weights)
    expect(m.loraBaseBytes).toBe(first.merges[0].baseBytes);
    const withA = (await m.forward(inputs)).sample;
    expect(same(withA, base)).toBe(false);

    await with_(m, [{ name: 'diffusers-peft', weight: 0.7 }]);
    const switched = (await m.forward(inputs)).sample;
    const fresh = await load();
    await with_(fresh, [{ name: 'diffusers-peft', weight: 0.7 }]);
    expect(same(switched, (await fresh.forward(inputs)).sample)).toBe(true);
    // Only the weights the peft LoRA touches keep a base copy: 16 attention weights of 48x48 floats.
    expect(m.loraBaseBytes).toBe(16 * 48 * 48 * 4);

    await with_(m, []);
    expect(same((await m.forward(inputs)).sample, base)).toBe(true);
    await with_(m, [{ name: 'kohya-alpha-diffb', weight: 0.8 }]);
    expect(same((await m.forward(inputs)).sample, withA)).toBe(true);
    await m.clearLoras();
    expect(m.loraBaseBytes).toBe(0);
    expect(same((await m.forward(inputs)).sample, base)).toBe(true);
  });

  it('several LoRAs at once add up', async () => {
    const m = await load();
    await with_(m, [{ name: 'kohya-alpha-diffb', weight: 0.8 }]);
    const whole = (await m.forward(inputs)).sample;
    await with_(m, [{ name: 'kohya-alpha-diffb', weight: 0.5 }, { name: 'kohya-alpha-diffb', weight: 0.3 }]);
    const halves = (await m.forward(inputs)).sample;
    let num = 0;
    let den = 0;
    halves.data.forEach((v, i) => {
      num += (v - whole.data[i]) ** 2;
      den += whole.data[i] ** 2;
    });
    expect(Math.sqrt(num / den)).toBeLessThan(1e-6);
  });

  it('a refused merge leaves the model as it was', async () => {
    const m = await load();
    await with_(m, [{ name: 'kohya-noalpha', weight: -0.5 }]);
    const before = (await m.forward(inputs)).sample;
    const bad = { tensors: [], updates: [{ target: 'blocks.9.attn1.to_q.weight', scale: 1, diff: 'x' }] };
    await expect(m.applyLoras(bad)).rejects.toMatchObject({ message: expect.stringContaining('updates[0].diff names no tensor') });
    const d = plan.tensors.find((t) => t.name === 'blocks.0.attn1.to_q.bias')!;
    const wrongTarget = { tensors: [{ ...d, name: 'd' }], updates: [{ target: 'blocks.9.attn1.to_q.bias', scale: 1, diff: 'd' }] };
    await expect(m.applyLoras(wrongTarget)).rejects.toMatchObject({ message: expect.stringContaining('"blocks.9.attn1.to_q.bias" is not a weight of this model') });
    expect(same((await m.forward(inputs)).sample, before)).toBe(true);
  });
});

describe.runIf(haveFixtures)('generate() with LoRAs', () => {
  let pipe: WanPipeline;
  let pair: WanPipeline;
  const dir = tmpDir();
  const request = { prompt: 'a red fox in the snow', width: 32, height: 32, numFrames: 5, steps: 3, guidanceScale: 5, seed: 42 };
  const frames = (r: { frames: Buffer[] }) => Buffer.concat(r.frames);
  const run = async (req: Record<string, unknown>, p = pipe) => {
    const job = p.generate(req);
    const events: JobEvent[] = [];
    for await (const e of job) events.push(e);
    return { result: await job.result, events };
  };

  beforeAll(async () => {
    pipe = await WanPipeline.load(await makeTinyPipeline(), { device: 'cpu' });
    pair = await WanPipeline.load(await makeTinyPipeline({ twoExperts: true }), { device: 'cpu' });
  });
  afterAll(async () => {
    await pipe.dispose();
    await pair.dispose();
  });

  it('applies a LoRA, reports it, and the next request without it gets the base model back', async () => {
    const plain = await run(request);
    expect(plain.result.loras).toEqual({ loras: [], merges: [expect.objectContaining({ transformer: 'high-noise', targets: 0, baseBytes: 0 })] });
    const { result } = await run({ ...request, loras: [{ path: loraFile('kohya-alpha-diffb'), weight: 0.8 }] });
    expect(frames(result).equals(frames(plain.result))).toBe(false);
    expect(result.loras.loras).toEqual([
      expect.objectContaining({ transformer: 'high-noise', weight: 0.8, applied: 76, skipped: 0, unmatched: [], styles: ['original'] }),
    ]);
    // Every key of the file: 2 blocks x (8 attention modules x (down, up, alpha, diff_b) + 2 ffn x (down, up, alpha)).
    expect(result.loras.loras[0].matched['blocks.{n}.attn1.to_q']).toBe(8);
    expect(result.loras.loras[0].matched['blocks.{n}.ffn.net.2']).toBe(6);
    expect(result.loras.merges[0].baseBytes).toBeGreaterThan(0);
    const again = await run(request);
    expect(frames(again.result).equals(frames(plain.result))).toBe(true);
  });

  it('warns about unmatched keys by name, and refuses a LoRA that fits nothing', async () => {
    const partial = join(dir, 'partial.safetensors');
    await writeStyledLora(partial, 'original', {
      extra: {
        'diffusion_model.blocks.0.cross_attn.k_img.lora_down.weight': { dtype: 'F32', shape: [3, 1280], data: new Float32Array(3 * 1280) },
        'diffusion_model.blocks.0.cross_attn.k_img.lora_up.weight': { dtype: 'F32', shape: [48, 3], data: new Float32Array(48 * 3) },
      },
    });
    const { result, events } = await run({ ...request, loras: [{ path: partial }] });
    const warning = events.find((e) => e.type === 'warning' && e.message.includes('k_img'));
    expect(warning).toMatchObject({ message: expect.stringContaining('2 key(s) matched nothing and were skipped: "diffusion_model.blocks.0.cross_attn.k_img.lora_down.weight" (image-to-video LoRA') });
    expect(result.loras.loras[0].unmatched.map((u) => u.key).sort()).toEqual([
      'diffusion_model.blocks.0.cross_attn.k_img.lora_down.weight',
      'diffusion_model.blocks.0.cross_attn.k_img.lora_up.weight',
    ]);
    const wide = join(dir, 'wide.safetensors');
    await writeSafetensors(wide, {
      'diffusion_model.blocks.0.self_attn.q.lora_down.weight': { dtype: 'F32', shape: [2, 5120], data: new Float32Array(2 * 5120) },
      'diffusion_model.blocks.0.self_attn.q.lora_up.weight': { dtype: 'F32', shape: [5120, 2], data: new Float32Array(5120 * 2) },
    });
    await expect(pipe.generate({ ...request, loras: [{ path: wide }] }).result).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      message: expect.stringMatching(/^loras\[0\]\.path: none of the 2 keys of ".*wide.safetensors" fit the high-noise transformer: a LoRA for another model size/),
    });
  });

  it('refuses bad LoRA fields by name', async () => {
    const refusal = (loras: unknown) => pipe.generate({ ...request, loras }).result;
    await expect(refusal([{ path: loraFile('diffusers-peft'), weight: 4.5 }])).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT', message: expect.stringContaining('loras[0].weight = 4.5'),
    });
    await expect(refusal([{ path: loraFile('diffusers-peft'), weight: -5 }])).rejects.toMatchObject({ message: expect.stringContaining('loras[0].weight') });
    await expect(refusal([{ path: 'https://example.com/style.safetensors' }])).rejects.toMatchObject({
      code: 'E_UNSUPPORTED', message: expect.stringContaining('loras[0].path'),
    });
    await expect(refusal([{ path: loraFile('diffusers-peft') }, { path: join(dir, 'absent.safetensors') }])).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT', message: `loras[1].path: no LoRA file at "${join(dir, 'absent.safetensors')}"`,
    });
    // Runware's field names in messages.
    await expect(pipe.generate({ positivePrompt: 'a fox', duration: 1, lora: [{ model: join(dir, 'absent.safetensors') }] }).result).rejects.toMatchObject({
      message: expect.stringMatching(/^lora\[0\]\.model: no LoRA file/),
    });
  });

  it('routes LoRAs to the high-noise expert, the low-noise one or both', async () => {
    const req = { ...request, steps: 4 };
    const base = await run(req, pair);
    const route = async (transformer: 'high' | 'low' | 'both') => (await run({ ...req, loras: [{ path: loraFile('kohya-noalpha'), weight: 1, transformer }] }, pair)).result;
    const high = await route('high');
    const low = await route('low');
    const both = await route('both');
    expect(high.loras.loras.map((l) => l.transformer)).toEqual(['high-noise']);
    expect(low.loras.loras.map((l) => l.transformer)).toEqual(['low-noise']);
    expect(both.loras.loras.map((l) => l.transformer)).toEqual(['high-noise', 'low-noise']);
    const all = [base.result, high, low, both].map(frames);
    expect(new Set(all.map((b) => b.toString('base64'))).size).toBe(4);
  });

  it('fast mode: the distilled pair on 4 Euler steps, guidance 1, the switch after step 2', async () => {
    const high = join(dir, 'fast-high.safetensors');
    const low = join(dir, 'fast-low.safetensors');
    await writeStyledLora(high, 'lightx2v', { seed: 1, alpha: 3 });
    await writeStyledLora(low, 'lightx2v', { seed: 2, alpha: 3 });
    const { result, events } = await run({ ...request, steps: 30, fast: { high, low } }, pair);
    const steps = events.flatMap((e) => (e.type === 'step' ? [[Math.round(e.timestep * 100) / 100, e.expert, e.forwards]] : []));
    expect(steps).toEqual([
      [1000, 'high-noise', 1],
      [937.5, 'high-noise', 1],
      [833.33, 'low-noise', 1],
      [625, 'low-noise', 1],
    ]);
    expect(result.loras.loras.map((l) => [l.file, l.transformer])).toEqual([[high, 'high-noise'], [low, 'low-noise']]);
    expect(result.warnings).toContain("steps 30 is replaced by fast mode's distilled setting");
    // The pair given at load time serves fast: true (Oxen's run_fast).
    const loaded = await WanPipeline.load(await makeTinyPipeline({ twoExperts: true }), { device: 'cpu', fastLoras: { high, low } });
    try {
      const viaOxen = await loaded.generate({ prompt: request.prompt, width: 32, height: 32, num_frames: 5, seed: 42, run_fast: true }).result;
      expect(frames(viaOxen).equals(frames(result))).toBe(true);
    } finally {
      await loaded.dispose();
    }
  });

  it('fast mode names what is missing', async () => {
    await expect(pair.generate({ ...request, fast: true }).result).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT', message: expect.stringMatching(/^fast: no distilled 4-step LoRA pair/),
    });
    const absent = join(dir, 'no-such-high.safetensors');
    await expect(pair.generate({ ...request, fast: { high: absent, low: loraFile('kohya-noalpha') } }).result).rejects.toMatchObject({
      message: `fast.high: no LoRA file at "${absent}"`,
    });
    await expect(pipe.generate({ ...request, fast: { high: loraFile('kohya-noalpha'), low: loraFile('kohya-noalpha') } }).result).rejects.toMatchObject({
      code: 'E_UNSUPPORTED', message: expect.stringMatching(/^fast: the distilled 4-step LoRA pair is made for the two experts/),
    });
  });

  it('an API speed switch (fast beside a cache) falls back to the step cache where no pair applies', async () => {
    // what Runware's acceleration "high" maps to (the adapter test checks the mapping), on a
    // one-transformer model and on a pair loaded without fastLoras
    const speedSwitch = { fast: true, cache: { kind: 'teacache', level: 0.75, maxConsecutive: 3 } } as const;
    for (const [model, why] of [[pipe, /one transformer, so the step cache is used instead/], [pair, /no distilled LoRA pair was given .* step cache is used instead/]] as const) {
      const result = await model.generate({ ...request, ...speedSwitch }).result;
      expect(result.warnings.some((w) => why.test(w))).toBe(true);
      expect(result.forwards.cache).toMatch(/^TeaCache/);
    }
  });
});
