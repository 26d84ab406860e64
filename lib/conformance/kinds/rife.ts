// rife_interpolate: RIFE's IFNet on a pair of frames at the case's timesteps. Inputs are the
// reference's [B, 3, H, W] frames in [0, 1]; out.frames [T*B, 3, H, W] (t-major), and, where a case
// holds them, the last block's flow [T*B, 4, H, W] and mask logit [T*B, 1, H, W].
import { resolve } from 'node:path';

import type { NativeRife } from '../../bindings/native-rife.js';
import type { NativeTensor } from '../../bindings/native.js';
import { planRife } from '../../model/rife-plan.js';
import type { CaseManifest } from '../manifest.js';
import type { CaseContext, KindOutputs } from '../types.js';

const KNOWN_PARAMS = ['timesteps', 'pad_multiple', 'scale', 'reference', 'block_widths', 'head_channels'];

export function rifeUnsupported(m: CaseManifest): string | null {
  if (typeof m.model !== 'string') return 'rife_interpolate needs "model" to name a .safetensors file';
  const extra = Object.keys(m.params).filter((k) => !KNOWN_PARAMS.includes(k));
  if (extra.length) return `case params not supported yet: ${extra.join(', ')}`;
  const ts = m.params.timesteps;
  if (!Array.isArray(ts) || ts.length === 0 || !ts.every((t) => typeof t === 'number')) return 'params.timesteps must be a list of numbers';
  if (m.params.scale !== undefined && m.params.scale !== 1) return `RIFE scale ${String(m.params.scale)} is not implemented (only 1.0)`;
  return null;
}

function input(ctx: CaseContext, name: string): NativeTensor {
  const t = ctx.inputs.get(name);
  if (!t) throw new Error(`case input ${name} is missing`);
  return t;
}

/** [B, C, H, W] sample b -> [H, W, C]. */
function toChannelsLast(t: NativeTensor, b: number, out: Float32Array, at: number): void {
  const [, C, H, W] = t.shape;
  const src = t.data.subarray(b * C * H * W);
  for (let c = 0; c < C; c++) for (let p = 0; p < H * W; p++) out[at + p * C + c] = src[c * H * W + p];
}

/** [H, W, C] -> [C, H, W] into out at `at`. */
function toChannelsFirst(src: Float32Array, C: number, plane: number, out: Float32Array, at: number): void {
  for (let c = 0; c < C; c++) for (let p = 0; p < plane; p++) out[at + c * plane + p] = src[p * C + c];
}

export async function runRifeInterpolate(ctx: CaseContext): Promise<KindOutputs> {
  const file = resolve(ctx.root, ctx.manifest.model as string);
  const rife = await ctx.cache.get<NativeRife>(`rife:${file}`, async () => {
    const plan = await planRife(file);
    const native = await ctx.addon.loadRife({ config: plan.config, tensors: plan.tensors });
    return { value: native, dispose: () => native.dispose() };
  });
  const img0 = input(ctx, 'in.img0');
  const img1 = input(ctx, 'in.img1');
  const [B, , H, W] = img0.shape;
  const timesteps = ctx.manifest.params.timesteps as number[];
  const padMultiple = (ctx.manifest.params.pad_multiple as number | undefined) ?? undefined;
  const T = timesteps.length;
  const plane = H * W;
  const frames = new Float32Array(T * B * 3 * plane);
  const flow = new Float32Array(T * B * 4 * plane);
  const mask = new Float32Array(T * B * plane);
  for (let b = 0; b < B; b++) {
    const pair = new Float32Array(2 * plane * 3);
    toChannelsLast(img0, b, pair, 0);
    toChannelsLast(img1, b, pair, plane * 3);
    const r = await rife.interpolate({ data: pair, shape: [2, H, W, 3] }, { timesteps, format: 'float', debug: true, padMultiple });
    for (let t = 0; t < T; t++) {
      const o = t * B + b;
      toChannelsFirst((r.frames as Float32Array).subarray(t * plane * 3, (t + 1) * plane * 3), 3, plane, frames, o * 3 * plane);
      toChannelsFirst(r.flow!.subarray(t * plane * 4, (t + 1) * plane * 4), 4, plane, flow, o * 4 * plane);
      mask.set(r.mask!.subarray(t * plane, (t + 1) * plane), o * plane);
    }
  }
  return new Map([
    ['out.frames', { data: frames, shape: [T * B, 3, H, W] }],
    ['out.flow', { data: flow, shape: [T * B, 4, H, W] }],
    ['out.mask', { data: mask, shape: [T * B, 1, H, W] }],
  ]);
}
