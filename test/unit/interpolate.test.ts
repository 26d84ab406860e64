// Frame interpolation without the addon: the request field, what it means for a pipeline, the
// streaming transform over decoded chunks, and the RIFE checkpoint plan.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { planInterpolation } from '../../lib/interpolate/plan.js';
import { rifeTimesteps } from '../../lib/interpolate/rife.js';
import { type FrameChunk, interpolateFrameChunks } from '../../lib/interpolate/stream.js';
import { expectedRifeTensors, planRife, type RifeConfig } from '../../lib/model/rife-plan.js';
import { writeSafetensors } from '../../lib/model/safetensors-writer.js';
import { normalizeRequest } from '../../lib/schemas/normalize.js';
import { interpolatedFps, interpolatedFrameCount, InterpolateSchema } from '../../lib/schemas/interpolate.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('the interpolate request field', () => {
  it('defaults to RIFE, 1 frame, fps adjusted; film is refused by name; frames 0..4', () => {
    expect(InterpolateSchema.parse({})).toEqual({ model: 'rife', frames: 1, adjustFps: true, ifAvailable: false });
    const film = () => normalizeRequest({ prompt: 'p', interpolate: { model: 'film' } }, { randomSeed: () => 1n });
    expect(film).toThrow(/interpolate\.model.*FILM is not implemented by wan-video; "rife" \(Practical-RIFE 4\.25\) interpolates/);
    expect(() => normalizeRequest({ prompt: 'p', interpolate: { frames: 5 } }, { randomSeed: () => 1n })).toThrow(/interpolate\.frames.*an integer from 0 to 4/);
    expect(normalizeRequest({ prompt: 'p', interpolate: { frames: 4, adjustFps: false } }, { randomSeed: () => 1n }).request.interpolate)
      .toEqual({ model: 'rife', frames: 4, adjustFps: false, ifAvailable: false });
  });

  it('counts frames and fps as fal documents them', () => {
    expect(interpolatedFrameCount(81, 1)).toBe(161);
    expect(interpolatedFrameCount(81, 4)).toBe(401);
    expect(interpolatedFrameCount(1, 3)).toBe(1);
    const spec = InterpolateSchema.parse({ frames: 3 });
    expect(interpolatedFps(16, spec)).toBe(64);
    expect(interpolatedFps(16, { ...spec, adjustFps: false })).toBe(16);
    expect(interpolatedFps(16, { ...spec, frames: 0 })).toBe(16);
    expect(interpolatedFps(16, undefined)).toBe(16);
  });

  it('places the in-between frames at i/(n+1)', () => {
    expect(rifeTimesteps(1)).toEqual([0.5]);
    expect(rifeTimesteps(3)).toEqual([0.25, 0.5, 0.75]);
  });
});

describe('planInterpolation', () => {
  const spec = InterpolateSchema.parse({ frames: 2 });
  it('runs with an interpolator and multiplies the fps', () => {
    expect(planInterpolation(spec, true, 16, () => undefined)).toEqual({ frames: 2, fps: 48 });
    expect(planInterpolation({ ...spec, frames: 0 }, true, 16, () => undefined)).toBeNull();
    expect(planInterpolation(undefined, true, 16, () => undefined)).toBeNull();
  });

  it("refuses an explicit ask without an interpolator, naming the user's field; skips an API default with a warning", () => {
    expect(() => planInterpolation(spec, false, 16, () => undefined, 'interpolator_model')).toThrow(
      /^interpolator_model: frame interpolation needs an interpolator: load the pipeline with RIFE weights/,
    );
    const warnings: string[] = [];
    expect(planInterpolation({ ...spec, ifAvailable: true }, false, 16, (m) => warnings.push(m))).toBeNull();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^interpolation skipped: the API's default asks for 2 interpolated frame\(s\)/);
  });
});

describe('interpolateFrameChunks', () => {
  // Frames are 1x1 pixels whose red byte names them; an interpolated one is 100 + 10 * pair + i.
  const frame = (v: number) => Buffer.from([v, 0, 0]);
  const calls: number[][] = [];
  const fake = {
    async between(frames: readonly Uint8Array[], _w: number, _h: number, count: number): Promise<Buffer[]> {
      calls.push(frames.map((f) => f[0]));
      const out: Buffer[] = [];
      for (let k = 1; k < frames.length; k++) for (let i = 0; i < count; i++) out.push(frame(100 + 10 * frames[k - 1][0] + i));
      return out;
    },
  };
  async function* chunks(sizes: number[]): AsyncGenerator<FrameChunk> {
    let n = 0;
    for (const s of sizes) {
      yield { index: n, frames: Array.from({ length: s }, (_, i) => frame(n + i)), width: 1, height: 1 };
      n += s;
    }
  }

  it('interpolates within and across the chunks of a decode (1, then 4 frames each)', async () => {
    calls.length = 0;
    const out: FrameChunk[] = [];
    for await (const c of interpolateFrameChunks(chunks([1, 4, 4]), fake, { frames: 2 })) out.push(c);
    // The boundary frame of each chunk is carried into the next call.
    expect(calls).toEqual([[0, 1, 2, 3, 4], [4, 5, 6, 7, 8]]);
    expect(out.map((c) => c.index)).toEqual([0, 1, 13]);
    const all = out.flatMap((c) => c.frames.map((f) => f[0]));
    expect(all).toHaveLength(interpolatedFrameCount(9, 2));
    expect(all.slice(0, 7)).toEqual([0, 100, 101, 1, 110, 111, 2]);
    expect(all.slice(-4)).toEqual([7, 170, 171, 8]);
  });

  it('stops at a cancelled signal', async () => {
    const ac = new AbortController();
    const it = interpolateFrameChunks(chunks([1, 4]), fake, { frames: 1, signal: ac.signal });
    await it.next();
    ac.abort();
    await expect(it.next()).rejects.toMatchObject({ code: 'E_CANCELLED' });
  });
});

describe('planRife', () => {
  const config: RifeConfig = { headHidden: 4, headChannels: 4, blockWidths: [6, 6, 4, 4, 2] };
  async function write(
    edit: (t: Record<string, { dtype: string; shape: number[]; data: Float32Array }>) => void = () => undefined,
    prefix = 'module.',
  ): Promise<string> {
    const tensors: Record<string, { dtype: string; shape: number[]; data: Float32Array }> = {};
    for (const { name, shape } of expectedRifeTensors(config)) {
      tensors[prefix + name] = { dtype: 'F32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) };
    }
    edit(tensors);
    const dir = await mkdtemp(join(tmpdir(), 'wan-rife-plan-'));
    dirs.push(dir);
    const file = join(dir, 'flownet.safetensors');
    await writeSafetensors(file, tensors);
    return file;
  }

  it('reads the widths off the weights, strips "module." and ignores training leftovers', async () => {
    const file = await write((t) => {
      t['module.teacher.conv0.0.0.weight'] = { dtype: 'F32', shape: [2], data: new Float32Array(2) };
    });
    const plan = await planRife(file);
    expect(plan.config).toEqual(config);
    expect(plan.variant).toBe('custom widths');
    expect(plan.ignored).toEqual(['module.teacher.conv0.0.0.weight']);
    expect(plan.tensors.find((t) => t.name === 'block0.conv0.0.0.weight')).toMatchObject({ storedName: 'module.block0.conv0.0.0.weight', shape: [3, 15, 3, 3] });
    expect(plan.tensors.find((t) => t.name === 'block1.conv0.0.0.weight')?.shape).toEqual([3, 28, 3, 3]);
    expect((await planRife(await write(undefined, ''))).tensors).toHaveLength(plan.tensors.length);
  });

  it('reads the four-block layout of 4.21-4.23 (block inputs from the head width)', async () => {
    const four: RifeConfig = { headHidden: 32, headChannels: 8, blockWidths: [256, 192, 96, 48] };
    const tensors: Record<string, { dtype: string; shape: number[]; data: Float32Array }> = {};
    for (const { name, shape } of expectedRifeTensors(four)) tensors[name] = { dtype: 'BF16', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) };
    const dir = await mkdtemp(join(tmpdir(), 'wan-rife-plan-'));
    dirs.push(dir);
    await writeSafetensors(join(dir, 'flownet.safetensors'), tensors);
    const plan = await planRife(join(dir, 'flownet.safetensors'));
    expect(plan.config).toEqual(four);
    expect(plan.variant).toBe('4.21 / 4.22 / 4.23');
    expect(plan.tensors.find((t) => t.name === 'block0.conv0.0.0.weight')?.shape).toEqual([128, 23, 3, 3]);
    expect(plan.tensors.find((t) => t.name === 'block3.conv0.0.0.weight')?.shape).toEqual([24, 36, 3, 3]);
  });

  it('names the file and the tensor of a broken checkpoint', async () => {
    const missing = await write((t) => {
      delete t['module.block2.convblock.3.beta'];
    });
    await expect(planRife(missing)).rejects.toMatchObject({ code: 'E_MODEL_FORMAT', tensor: 'block2.convblock.3.beta' });
    const wrong = await write((t) => {
      t['module.block1.lastconv.0.weight'] = { dtype: 'F32', shape: [6, 50, 4, 4], data: new Float32Array(6 * 50 * 16) };
    });
    await expect(planRife(wrong)).rejects.toThrow(/tensor "module\.block1\.lastconv\.0\.weight" has shape \[6,50,4,4\], expected \[6,52,4,4\]/);
    // A width read off the weights past RIFE_LIMITS (4096) is refused by name.
    const wide = await write((t) => {
      t['module.encode.cnn0.weight'] = { dtype: 'F32', shape: [5000, 3, 1, 1], data: new Float32Array(5000 * 3) };
    });
    await expect(planRife(wide)).rejects.toMatchObject({
      code: 'E_MODEL_FORMAT', tensor: 'encode.cnn0.weight', message: expect.stringContaining('width 5000 must be an integer from 1 to 4096'),
    });
    const gap = await write((t) => {
      for (const k of Object.keys(t)) if (k.startsWith('module.block3.')) delete t[k];
    });
    await expect(planRife(gap)).rejects.toMatchObject({ code: 'E_UNSUPPORTED', message: expect.stringMatching(/flow blocks 0, 1, 2, 4; .*4\.21-4\.26/) });
    const three = await write((t) => {
      for (const k of Object.keys(t)) if (/^module\.block[34]\./.test(k)) delete t[k];
    });
    await expect(planRife(three)).rejects.toMatchObject({ code: 'E_UNSUPPORTED' });
    const noHead = await write((t) => {
      for (const k of Object.keys(t)) if (k.startsWith('module.encode.')) delete t[k];
    });
    await expect(planRife(noHead)).rejects.toThrow(/no tensor "encode\.cnn0\.weight": not the IFNet of Practical-RIFE 4\.21-4\.26/);
    await expect(planRife('train_log/flownet.pkl')).rejects.toThrow(/convert the release's flownet\.pkl first: python scripts\/convert-rife\.py/);
  });
});
