// Image conditioning as the Wan pipelines build it (diffusers WanImageToVideoPipeline.prepare_latents):
// each image is resized to the video (Pillow LANCZOS, [-1, 1]: lib/image/preprocess.ts), the
// condition video (first frame, zeros, and the last frame for first-last-frame) is encoded by the
// VAE (posterior mean, normalised with latents_mean/std); Wan2.1 I2V/FLF2V and Wan2.2 I2V add a
// 4-channel frame mask and concatenate both after the latents; TI2V encodes the image alone as the
// clean first frame.
import type { NativeVae } from '../bindings/native-vae.js';
import type { NativeTensor } from '../bindings/native.js';
import { vaeImagePlanes } from '../image/preprocess.js';
import type { RgbImage } from '../image/types.js';
import type { VaeConfig } from '../model/types.js';

export type { RgbImage } from '../image/types.js';

/** RGB 0..255 HWC -> [-1, 1] planes [3, H*W], as the pipelines' video processor does. */
export function imageToPlanes(img: RgbImage): Float32Array {
  const n = img.width * img.height;
  const out = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) out[c * n + i] = img.data[i * 3 + c] / 127.5 - 1;
  return out;
}

/** The pipelines' latent normalisation: (mean - latents_mean) / latents_std, per channel. */
export function normalizeLatents(t: NativeTensor, cfg: VaeConfig): NativeTensor {
  if (!cfg.latentsMean || !cfg.latentsStd) throw new Error('the VAE config has no latents_mean/latents_std');
  const [B, C] = t.shape;
  const per = t.data.length / (B * C);
  const data = new Float32Array(t.data.length);
  for (let b = 0; b < B; b++)
    for (let c = 0; c < C; c++)
      for (let i = 0; i < per; i++) {
        const k = (b * C + c) * per + i;
        data[k] = (t.data[k] - cfg.latentsMean[c]) * (1 / cfg.latentsStd[c]);
      }
  return { data, shape: t.shape };
}

/** Encodes a condition video [1, 3, frames, H, W] holding the given frames (the others zero), each
 * resized to width x height as the pipelines' video processor does. */
export async function encodeCondition(
  vae: NativeVae,
  cfg: VaeConfig,
  frames: number,
  height: number,
  width: number,
  placed: Array<[number, RgbImage]>,
  opts: { cancelFlag?: Int32Array } = {},
): Promise<NativeTensor> {
  const n = height * width;
  const video = new Float32Array(3 * frames * n);
  for (const [f, img] of placed) {
    const planes = img.width === width && img.height === height ? imageToPlanes(img) : vaeImagePlanes(img, width, height);
    for (let c = 0; c < 3; c++) video.set(planes.subarray(c * n, (c + 1) * n), (c * frames + f) * n);
  }
  const { mean } = await vae.encode({ data: video, shape: [1, 3, frames, height, width] }, { cancelFlag: opts.cancelFlag });
  return normalizeLatents(mean, cfg);
}

/** The 4-channel frame mask of Wan2.2 I2V: 1 on conditioned frames; each latent frame holds 4 video frames (the first frame repeated 4 times). */
export function frameMask(frames: number, latentFrames: number, h: number, w: number, conditioned: number[]): Float32Array {
  const perFrame = new Float32Array(frames);
  for (const f of conditioned) perFrame[f] = 1;
  const expanded = [perFrame[0], perFrame[0], perFrame[0], perFrame[0], ...perFrame.subarray(1)];
  const mask = new Float32Array(4 * latentFrames * h * w);
  for (let lf = 0; lf < latentFrames; lf++)
    for (let k = 0; k < 4; k++) mask.fill(expanded[lf * 4 + k], (k * latentFrames + lf) * h * w, (k * latentFrames + lf + 1) * h * w);
  return mask;
}

/** The transformer inputs for an image-conditioned request: TI2V's clean first frame, or Wan2.2 I2V/FLF2V's mask + condition channels. */
export async function imageConditioning(
  vae: NativeVae,
  cfg: VaeConfig,
  opts: { ti2v: boolean; frames: number; height: number; width: number; latentShape: number[]; image: RgbImage; lastImage?: RgbImage; cancelFlag?: Int32Array },
): Promise<{ firstFrameCondition?: NativeTensor; channelCondition?: NativeTensor }> {
  const { frames, height, width, cancelFlag } = opts;
  if (opts.ti2v) return { firstFrameCondition: await encodeCondition(vae, cfg, 1, height, width, [[0, opts.image]], { cancelFlag }) };
  const [, , T, h, w] = opts.latentShape;
  const placed: Array<[number, RgbImage]> = [[0, opts.image]];
  if (opts.lastImage) placed.push([frames - 1, opts.lastImage]);
  const cond = await encodeCondition(vae, cfg, frames, height, width, placed, { cancelFlag });
  const mask = frameMask(frames, T, h, w, placed.map(([f]) => f));
  const data = new Float32Array(mask.length + cond.data.length);
  data.set(mask);
  data.set(cond.data, mask.length);
  return { channelCondition: { data, shape: [1, 4 + cond.shape[1], T, h, w] } };
}
