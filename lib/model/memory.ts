// What a request needs in memory, estimated before anything loads so a too-large job can be refused
// early. Weights are exact for the backend and the stored dtypes (as the native load_weight keeps
// them: see residentBytes); activations are the peak buffers of the transformer forward and of one
// VAE decode chunk, as the runtime allocates them (float32). It is an estimate: allocator overhead
// and the OS are not in it.
import type { ImageEncoderPlan, TensorRef, TextEncoderPlan, TransformerPlan, VaePlan } from './types.js';
import { storedBytes } from './types.js';

const F32 = 4;
const BF16 = 2;
const numelOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

export type MemoryBackend = 'cpu' | 'cuda';

/** How a model uses a weight (the native WeightUse): the weight of a linear() product, an
 * embedding table / relative position bias read by rows, or anything else (float32 everywhere). */
export type WeightUse = 'matrix' | 'table' | 'dense';

/** The use of each tensor as the native models bind them: the text encoder's token embedding is a
 * table, its relative position biases dense; every other 2-D transformer or text-encoder weight is
 * a linear() matrix; the VAE's are all dense (conv kernels). */
export function weightUse(kind: 'transformer' | 'text_encoder' | 'vae' | 'image_encoder', ref: Pick<TensorRef, 'name' | 'shape'>): WeightUse {
  if (kind === 'vae') return 'dense';
  // The CLIP encoder: its layers' linear() weights; the position table and patch kernel stay float32.
  if (kind === 'image_encoder') return ref.shape.length === 2 && !/position_embedding/.test(ref.name) ? 'matrix' : 'dense';
  if (kind === 'text_encoder' && /(^|\.)embed_tokens\.weight$/.test(ref.name)) return 'table';
  if (kind === 'text_encoder' && /relative_attention_bias\.weight$/.test(ref.name)) return 'dense';
  return ref.shape.length === 2 ? 'matrix' : 'dense';
}

/** Bytes a weight occupies once loaded, as the backends choose (Backend::load_weight):
 *  - CPU: matrices and tables keep their stored dtype unless F32 (widened per GEMM tile, per row
 *    read); everything else F32.
 *  - CUDA: bf16 matrices stay bf16, F16/F32 ones become bf16, fp8 and GGUF blocks stay as stored
 *    (dequantized per product into a shared bf16 scratch, see weightBytes); tables bf16; the rest F32. */
export function residentBytes(ref: Pick<TensorRef, 'dtype' | 'shape'>, use: WeightUse, backend: MemoryBackend): number {
  const n = numelOf(ref.shape);
  const matrix = use === 'matrix' && ref.shape.length === 2;
  const table = use === 'table' && ref.shape.length === 2;
  if (backend === 'cpu') return (matrix || table) && ref.dtype !== 'F32' ? storedBytes(ref.dtype, n) : n * F32;
  if (matrix) return ['BF16', 'F16', 'F32'].includes(ref.dtype) ? n * BF16 : storedBytes(ref.dtype, n);
  if (table) return n * BF16;
  return n * F32;
}

type AnyPlan = TransformerPlan | TextEncoderPlan | VaePlan | ImageEncoderPlan;

/** The weights of a plan on a backend. On CUDA a plan with compressed matrices also holds the bf16
 * scratch they are dequantized into (the largest of them). */
export function weightBytes(plan: AnyPlan, backend: MemoryBackend = 'cpu'): number {
  let total = 0;
  let scratch = 0;
  for (const t of plan.tensors) {
    const use = weightUse(plan.kind, t);
    total += residentBytes(t, use, backend);
    if (backend === 'cuda' && use === 'matrix' && t.shape.length === 2 && !['BF16', 'F16', 'F32'].includes(t.dtype)) {
      scratch = Math.max(scratch, numelOf(t.shape) * BF16);
    }
  }
  return total + scratch;
}

/** The working memory of a request, by what holds it (float32 buffers, as the runtime allocates them). */
export interface ActivationBytes {
  /** Video tokens of one transformer forward at the request's size. */
  tokens: number;
  textLength: number;
  /** Self- and cross-attention: q, k, v and the attention output per token, the text K/V, one block of scores. */
  attentionBytes: number;
  /** The FFN's hidden layer per token. */
  ffnBytes: number;
  /** The block's residual stream, its normed input and its output per token. */
  blockIoBytes: number;
  /** Latents the loop keeps: the sample, the noise and two model outputs for guidance. */
  latentsBytes: number;
  /** All of the above: the peak of one transformer forward. */
  transformerBytes: number;
  textEncoderBytes: number;
  /** One VAE decode chunk (one latent frame, as the causal decoder runs) plus the decoded RGB frames. */
  vaeDecodeBytes: number;
}

type EstimatePlans = { transformers: TransformerPlan[]; vae: VaePlan; textEncoder?: TextEncoderPlan | null; imageEncoder?: ImageEncoderPlan | null };
type EstimateRequest = { width: number; height: number; numFrames: number; textLength?: number };

/** Latent frames of a request (the VAE keeps the first frame alone, then compresses by its temporal factor). */
export const latentFramesOf = (vae: VaePlan['config'], numFrames: number) => Math.floor((numFrames - 1) / vae.scaleFactorTemporal) + 1;

export function activationBytes(plans: Omit<EstimatePlans, 'imageEncoder'>, request: EstimateRequest): ActivationBytes {
  const vae = plans.vae.config;
  const s = vae.scaleFactorSpatial;
  const latentFrames = latentFramesOf(vae, request.numFrames);
  const L = request.textLength ?? 512;

  // Transformer: residual, norm, q, k, v, attention, the output projection's product (7 x dim) and
  // one buffer for the FFN hidden or, before it, the stacked Q/K/V product per token, the text K/V,
  // two model outputs for guidance, and one block of attention scores (at most 4M floats).
  const c = plans.transformers[0].config;
  const dim = c.numHeads * c.headDim;
  const [pt, ph, pw] = c.patchSize;
  const tokens = Math.ceil(latentFrames / pt) * Math.ceil(request.height / s / ph) * Math.ceil(request.width / s / pw);
  const latent = vae.zDim * latentFrames * (request.height / s) * (request.width / s);
  const attention = F32 * (4 * tokens * dim + 2 * L * dim + Math.min(4 * 2 ** 20, tokens * Math.max(tokens, L)));
  // The FFN hidden shares its buffer with the stacked Q/K/V product (3 x dim per token).
  const ffn = F32 * tokens * Math.max(c.ffnDim, 3 * dim);
  const blockIo = F32 * 3 * tokens * dim;
  const latents = F32 * 4 * latent;

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
    tokens,
    textLength: L,
    attentionBytes: attention,
    ffnBytes: ffn,
    blockIoBytes: blockIo,
    latentsBytes: latents,
    transformerBytes: attention + ffn + blockIo + latents,
    textEncoderBytes: text,
    vaeDecodeBytes: vaeBytes,
  };
}

export interface MemoryEstimate {
  weightsBytes: number;
  transformerActivationsBytes: number;
  vaeDecodeBytes: number;
  textEncoderActivationsBytes: number;
  /** Weights plus the largest of the phases (they run one after another). */
  totalBytes: number;
}

/** Everything resident at once (the coarse figure; lib/memory/plan.ts decides placements against a budget). */
export function estimateMemory(plans: EstimatePlans, request: EstimateRequest, backend: MemoryBackend = 'cpu'): MemoryEstimate {
  const weights =
    plans.transformers.reduce((n, p) => n + weightBytes(p, backend), 0) + weightBytes(plans.vae, backend) +
    (plans.textEncoder ? weightBytes(plans.textEncoder, backend) : 0) + (plans.imageEncoder ? weightBytes(plans.imageEncoder, backend) : 0);
  const a = activationBytes(plans, request);
  return {
    weightsBytes: weights,
    transformerActivationsBytes: a.transformerBytes,
    vaeDecodeBytes: a.vaeDecodeBytes,
    textEncoderActivationsBytes: a.textEncoderBytes,
    totalBytes: weights + Math.max(a.transformerBytes, a.vaeDecodeBytes, a.textEncoderBytes),
  };
}
