// What a request needs in memory on the CPU backend (float32), estimated before anything loads so a
// too-large job can be refused early. Weights are exact (4 bytes per parameter); activations are
// the peak buffers of the transformer forward and of one VAE decode chunk, as the runtime allocates
// them. It is an estimate: allocator overhead and the OS are not in it.
import type { ImageEncoderPlan, TextEncoderPlan, TransformerPlan, VaePlan } from './types.js';

const F32 = 4;
const paramsOf = (tensors: Array<{ shape: number[] }>) => tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);

export interface MemoryEstimate {
  weightsBytes: number;
  transformerActivationsBytes: number;
  vaeDecodeBytes: number;
  textEncoderActivationsBytes: number;
  /** Weights plus the largest of the phases (they run one after another). */
  totalBytes: number;
}

export function estimateMemory(
  plans: { transformers: TransformerPlan[]; vae: VaePlan; textEncoder?: TextEncoderPlan; imageEncoder?: ImageEncoderPlan | null },
  request: { width: number; height: number; numFrames: number; textLength?: number },
): MemoryEstimate {
  const weights =
    plans.transformers.reduce((n, p) => n + paramsOf(p.tensors), 0) + paramsOf(plans.vae.tensors) + (plans.textEncoder ? paramsOf(plans.textEncoder.tensors) : 0) +
    (plans.imageEncoder ? paramsOf(plans.imageEncoder.tensors) : 0);
  const vae = plans.vae.config;
  const s = vae.scaleFactorSpatial;
  const latentFrames = Math.floor((request.numFrames - 1) / vae.scaleFactorTemporal) + 1;
  const L = request.textLength ?? 512;

  // Transformer: residual, norm, q, k, v, attention, out (7 x dim) and the FFN hidden per token, the
  // text K/V, two model outputs for guidance, and one block of attention scores (at most 4M floats).
  const c = plans.transformers[0].config;
  const dim = c.numHeads * c.headDim;
  const [pt, ph, pw] = c.patchSize;
  const tokens = Math.ceil(latentFrames / pt) * Math.ceil(request.height / s / ph) * Math.ceil(request.width / s / pw);
  const latent = vae.zDim * latentFrames * (request.height / s) * (request.width / s);
  const transformer = F32 * (tokens * (7 * dim + c.ffnDim) + 2 * L * dim + 4 * latent + Math.min(4 * 2 ** 20, tokens * Math.max(tokens, L)));

  // VAE decode: one chunk of 4 frames; at each level the feature maps of its width and size (12 of
  // them: calibrated on the measured 240x416 Wan2.1 decode, ~1.8 GiB above its weights), and the
  // convolution's ~40 MiB im2col tile.
  const levels = vae.dimMult.length;
  let vaePeak = 0;
  for (let l = 0; l < levels; l++) {
    const channels = vae.decoderBaseDim * vae.dimMult[levels - 1 - l];
    const pixels = (request.height / s) * (request.width / s) * 4 ** l;
    vaePeak = Math.max(vaePeak, 12 * 4 * pixels * channels);
  }
  const vaeBytes = F32 * vaePeak + 40 * 2 ** 20 + 3 * request.width * request.height * request.numFrames;

  const t = plans.textEncoder?.config;
  const text = t ? F32 * 2 * L * (6 * t.numHeads * t.dKv + 2 * t.dFf + L * t.numHeads / 8) : 0;
  return {
    weightsBytes: weights * F32,
    transformerActivationsBytes: transformer,
    vaeDecodeBytes: vaeBytes,
    textEncoderActivationsBytes: text,
    totalBytes: weights * F32 + Math.max(transformer, vaeBytes, text),
  };
}
