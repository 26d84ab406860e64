// The tolerance a conformance case is held to on the CUDA backend, stated once per family.
//
// The fixtures' tolerances (manifest.json) are for float32 arithmetic, which the CPU backend keeps.
// The CUDA backend stores weight matrices and rounds the operands of every matrix product (linear,
// conv3d, attention's two products) to bf16: 8 significant bits, a relative rounding error of at
// most 2^-8 per operand and 1.5e-3 rms. One product with both operands rounded has a relative L2
// error of sqrt(2) x 1.5e-3 = 2.1e-3 (E_PRODUCT below; bench/cuda/parity_bounds.py measures it at
// 2.0-2.3e-3), independent of its accumulation depth K for inputs of random sign (the K rounding
// errors are independent and grow as sqrt(K), like the sum itself). A forward passes through n such
// products in series; their errors add in quadrature: E_PRODUCT x sqrt(n). Classifier-free guidance
// (v_u + g (v_c - v_u)) multiplies the error of two nearly equal predictions by up to
// sqrt(2g^2 - 2g + 1) (6.4 at g = 5, the largest guidance of the public pipeline cases). The bound
// is twice that estimate (BF16_MARGIN), and never below the manifest's own tolerance:
//
//   tolerance = max(manifest rel_l2, BF16_MARGIN x E_PRODUCT x amplification x sqrt(products))
//
// Families whose work never meets a bf16 product (tokenizer, scheduler arithmetic, seeded noise,
// image preprocessing) keep the manifest tolerance. A family missing from this table fails on CUDA
// naming it, so that a new family gets its derivation here rather than a silent f32 bound.
import type { CaseManifest } from './manifest.js';

/** Relative L2 error of one matrix product with both operands rounded to bf16 (measured 2.0-2.3e-3). */
export const E_PRODUCT = 2.1e-3;
/** The bound over the estimate: a correct kernel stays under it, a wrong tile or row does not. */
export const BF16_MARGIN = 2;

export interface FamilyPrecision {
  /** `f32`: no bf16 product on this family's path (the manifest tolerance holds on CUDA). */
  precision: 'bf16' | 'f32';
  /** bf16 products in series on the longest path of the family's largest fixture. */
  products?: number;
  /** Error amplification after the products (classifier-free guidance), 1 without. */
  amplification?: number;
  /** How `products` and `amplification` were counted. */
  derivation: string;
}

// Counts for the public fixtures (../shared/fixtures/models): the transformers have at most 2 layers,
// each 10 products in series (self-attention q/k/v, QK^T, PV, output; cross-attention q, QK^T, PV,
// output; ffn in, ffn out) plus patch embedding, text embedding (2) and head; the tiny VAE decoders
// (dim_mult 1,2,4,4, 2 res blocks) pass 41 convolutions in series (conv_in, the middle block's 4 and
// its attention's 3 products, per level 3 res blocks of 2 convs plus the upsampling convs, head).
const DIT = 1 + 2 + 2 * 10 + 1;
const VAE = 41;
const GUIDANCE_5 = Math.sqrt(2 * 25 - 2 * 5 + 1);

// The repository's own fixtures (test/fixtures/models). DBCache runs 10-layer transformers. The
// Wan2.1 I2V inputs encode the image with a VAE encoder (base 4, dim_mult 1,2,2,2, 1 res block, no
// attention levels): conv_in 1, per level 1 res block of 2 convs (4 levels: 8), downsampling convs
// 3 plus 2 time convs, the middle block's 2 + 4 (attention) + 2, conv_out 1, quant conv 1 = 24; the
// condition then enters a 1-layer transformer (patch 1, 10, head 1); the CLIP path (patch 1, 1 layer
// of 6 to the penultimate state, image embedder 2, the image K projection, QK^T, PV, output, ffn 2,
// head 1 = 16) is shorter. RIFE 4.25 (five IFBlocks) passes the head's 3 convolutions and each
// block's 2 + 8, in series through the flow (the transposed convolutions run in float32 on CUDA);
// its frames warp the inputs by that flow: a flow error e moves each sample by e x |flow| pixels,
// and the largest fixture's max |grad I| x rms(flow) / rms(frame) is 0.61, so the frames' error stays
// under the flow's.
const DIT_10 = 1 + 2 + 10 * 10 + 1;
const I2V_INPUTS = 24 + 1 + 10 + 1;
const RIFE = 3 + 5 * (2 + 8);

export const FAMILY_PRECISION: Record<string, FamilyPrecision> = {
  dit: { precision: 'bf16', products: DIT, derivation: 'transformer forward, 2 layers: patch 1 + text 2 + 2 x 10 + head 1' },
  gguf: {
    precision: 'bf16',
    products: DIT,
    derivation: 'transformer forward from GGUF weights (dequantized exactly, then as dit): at most 2 layers',
  },
  layout: { precision: 'bf16', products: VAE, derivation: 'the dit and vae cases under original key names: the VAE is the deeper' },
  lora: {
    precision: 'bf16',
    products: DIT + VAE,
    amplification: Math.sqrt(2 * 9 - 2 * 3 + 1),
    derivation: 'transformer forwards with merged LoRAs, and a pipeline case (guidance 3, then the VAE decode)',
  },
  pipeline: {
    precision: 'bf16',
    products: DIT + VAE,
    amplification: GUIDANCE_5,
    derivation:
      'denoising loop (the final latent carries one forward\'s error: the step sizes sum to 1) with guidance up to 5, then the VAE decode',
  },
  teacache: {
    precision: 'bf16',
    products: DIT,
    amplification: GUIDANCE_5,
    derivation: 'denoising loop with guidance 5 and the cache deciding on the time embedding; no VAE',
  },
  umt5: { precision: 'bf16', products: 1 + 3 * 6, derivation: 'bf16 embedding table 1 + 3 layers x (q/k/v, QK^T, PV, output, gated ffn in, ffn out)' },
  vae21: { precision: 'bf16', products: VAE, derivation: 'Wan2.1 VAE decode/encode, tiny: 41 convolutions and attention products in series' },
  vae22: { precision: 'bf16', products: VAE, derivation: 'Wan2.2 VAE decode/encode, tiny: as vae21 (its shortcuts add no products)' },
  clip: { precision: 'bf16', products: 1 + 3 * 6 + 1, derivation: 'CLIP vision encoder: patch 1 + 3 layers x (q/k/v, QK^T, PV, output, mlp 2) + projection 1' },
  dbcache: {
    precision: 'bf16',
    products: DIT_10,
    amplification: GUIDANCE_5,
    derivation:
      'denoising loop with DBCache over 10-layer transformers, guidance up to 5, no VAE: patch 1 + text 2 + 10 x 10 + head 1. ' +
      'The skip decisions are compared too (out.computed): the fixtures keep every measured difference >= 0.5% of its threshold ' +
      'away from it (scripts/fixtures/dbcache.py); a decision the bf16 error moves across fails the case by that name',
  },
  'gguf-blocks': {
    precision: 'bf16',
    products: 1,
    derivation: 'each block type decoded to the bf16 operand of a linear (one rounding) and one product with the input',
  },
  i2v: {
    precision: 'bf16',
    products: I2V_INPUTS,
    derivation: 'Wan2.1 I2V inputs: VAE encode of the image 24 (tiny encoder, counted above), then one 1-layer transformer forward 12',
  },
  rife: {
    precision: 'bf16',
    products: RIFE,
    derivation: 'RIFE 4.25, 5 IFBlocks: head 3 + 5 x (conv0 2 + convblock 8) convolutions in series to the flow and mask; the warp keeps the frames under it (0.61)',
  },
  image: { precision: 'f32', derivation: 'image preprocessing on the host' },
  rng: { precision: 'f32', derivation: 'seeded noise on the host' },
  scheduler: { precision: 'f32', derivation: 'scheduler arithmetic in float32 (linear combinations)' },
  tokenizer: { precision: 'f32', derivation: 'text processing in TypeScript, exact' },
};

/** The rel_l2 bound a family's bf16 path is held to (before the max with the manifest's). */
export function bf16Bound(p: FamilyPrecision): number {
  if (p.precision === 'f32') return 0;
  return BF16_MARGIN * E_PRODUCT * (p.amplification ?? 1) * Math.sqrt(p.products ?? 1);
}

/**
 * The tolerance of a case of `family` on a backend: the manifest's on the CPU; on CUDA the larger of
 * it and the family's bf16 bound. Throws for a CUDA run of a family this table does not state.
 */
export function caseTolerance(family: string, manifest: CaseManifest, backend: 'cpu' | 'cuda'): number {
  const own = manifest.tolerance.rel_l2;
  if (backend !== 'cuda') return own;
  const p = FAMILY_PRECISION[family];
  if (!p) throw new Error(`no bf16 tolerance is stated for family "${family}" (lib/conformance/tolerances.ts)`);
  return Math.max(own, bf16Bound(p));
}
