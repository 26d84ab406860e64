// Previews of the denoising trajectory: the initial noise and the loop's clean-sample predictions
// (x0 = x_t - sigma_t * v at chosen steps) decoded by the VAE, first latent frame only (the causal
// VAE turns it into exactly one video frame), so a preview costs one small decode.
import type { NativeVae } from '../bindings/native-vae.js';
import type { NativeTensor } from '../bindings/native.js';
import { frameViews } from '../video/frames.js';
import { decodeFrames } from '../video/vae-decode.js';

export interface TrajectoryPreview {
  /** 'noise': the latents the loop started from; 'x0': the model's prediction of the finished latents at `step`. */
  kind: 'noise' | 'x0';
  /** 0-based step whose prediction this is (-1 for the noise). */
  step: number;
  /** The first frame, decoded: RGB bytes, width x height x 3. */
  frame: Buffer;
  width: number;
  height: number;
}

/** The first latent frame [B, C, 1, H, W] of latents [B, C, F, H, W] (sample 0). */
export function firstLatentFrame(t: NativeTensor): NativeTensor {
  const [, C, F, H, W] = t.shape;
  const plane = H * W;
  const data = new Float32Array(C * plane);
  for (let c = 0; c < C; c++) data.set(t.data.subarray(c * F * plane, c * F * plane + plane), c * plane);
  return { data, shape: [1, C, 1, H, W] };
}

/** Decodes the first frame of normalised latents through the VAE. */
export async function decodePreview(vae: NativeVae, latents: NativeTensor, kind: TrajectoryPreview['kind'], step: number, opts: { cancelFlag?: Int32Array } = {}): Promise<TrajectoryPreview> {
  for await (const chunk of decodeFrames(vae, firstLatentFrame(latents), { cancelFlag: opts.cancelFlag })) {
    return { kind, step, frame: Buffer.from(frameViews(chunk)[0]), width: chunk.width, height: chunk.height };
  }
  throw new Error('the VAE decoded no frame');
}
