// NaN or infinite values where a generation hands tensors from one stage to the next. A NaN weight
// (a corrupt file, an fp8 scale of 0, a LoRA that overflowed) otherwise runs to the end and the VAE
// turns the NaN latents into a black video with exit status 0. One pass over each tensor that passes
// through TypeScript anyway (the text embeddings, the denoised latents) is negligible next to the
// forwards that made it.

import { WanError } from '../errors.js';

/** Index of the first NaN or infinity, or -1. */
export function firstNonFinite(data: Float32Array): number {
  for (let i = 0; i < data.length; i++) {
    // x - x is 0 for every finite x and NaN for NaN and +-Infinity: one subtraction, no branches on class.
    if (data[i] - data[i] !== 0) return i;
  }
  return -1;
}

/** Throw E_NONFINITE when `data` holds a NaN or infinity; `stage` says which stage produced it. */
export function assertFinite(data: Float32Array, shape: readonly number[], stage: string, hint: string): void {
  const at = firstNonFinite(data);
  if (at < 0) return;
  let count = 0;
  for (let i = at; i < data.length; i++) if (data[i] - data[i] !== 0) count++;
  throw new WanError(
    'E_NONFINITE',
    `${stage} produced ${count} NaN or infinite value(s) of ${data.length} (the first, ${data[at]}, at element ${at} of [${shape.join(', ')}]); ${hint}`,
  );
}

/** The denoised latents, before the VAE decodes them: which step first went wrong when the loop kept
 * x0 previews (previewSteps) that say so, else after how many steps. */
export function assertDenoisedFinite(
  latents: { data: Float32Array; shape: number[] },
  steps: number,
  previews: ReadonlyArray<{ step: number; latents: { data: Float32Array } }> = [],
  experts: readonly number[] = [],
  sources: { transformer?: string; transformer2?: string } = {},
): void {
  if (firstNonFinite(latents.data) < 0) return;
  const firstBad = previews.find((p) => firstNonFinite(p.latents.data) >= 0);
  const lastGood = [...previews].reverse().find((p) => p.step < (firstBad?.step ?? Infinity) && firstNonFinite(p.latents.data) < 0);
  const files = [sources.transformer, sources.transformer2].filter(Boolean).join(', ');
  const named = (label: string, source: string | undefined) => (source ? `${label} ${source}` : label);
  let when: string;
  if (firstBad) {
    const expert =
      experts[firstBad.step] === 1 ? ` (${named('transformer_2', sources.transformer2)}, the low-noise expert)`
      : experts.length ? ` (${named('transformer', sources.transformer)}, the high-noise expert)` : '';
    when = `the denoising loop, by step ${firstBad.step} of ${steps}${expert}${lastGood ? ` (step ${lastGood.step} was still finite)` : ''},`;
  } else {
    when = `the denoising loop (${steps} step(s)),`;
  }
  assertFinite(
    latents.data, latents.shape, when,
    `the VAE decode was skipped (it would give a black video): check the transformer weights${files ? ` (${files})` : ''}, ` +
      'and any LoRA or fp8 scales, for NaN or infinite values',
  );
}
