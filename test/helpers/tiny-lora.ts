// Tiny LoRA files in each key style, written with the repository's safetensors writer.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { type TensorToWrite, writeSafetensors } from '../../lib/model/safetensors-writer.js';
import type { TransformerConfig } from '../../lib/model/types.js';

/** The tiny transformer of makeTinyPipeline and of the fixtures' dit-t2v-tiny: dim 48, ffn 64, 2 blocks. */
export const TINY_CONFIG: TransformerConfig = {
  patchSize: [1, 2, 2], numHeads: 2, headDim: 24, inChannels: 16, outChannels: 16, textDim: 32, freqDim: 256,
  ffnDim: 64, numLayers: 2, crossAttnNorm: true, eps: 1e-6, imageDim: null, addedKvProjDim: null, ropeMaxSeqLen: 1024, posEmbedSeqLen: null,
};

export type LoraStyle = 'original' | 'underscore' | 'lightx2v' | 'peft';

/** One low-rank pair per module, in the original Wan names (`blocks.0.self_attn.q`) and diffusers names. */
export const TINY_MODULES: ReadonlyArray<{ original: string; diffusers: string; out: number; in: number }> = [
  { original: 'blocks.0.self_attn.q', diffusers: 'blocks.0.attn1.to_q', out: 48, in: 48 },
  { original: 'blocks.1.cross_attn.o', diffusers: 'blocks.1.attn2.to_out.0', out: 48, in: 48 },
  { original: 'blocks.0.ffn.0', diffusers: 'blocks.0.ffn.net.0.proj', out: 64, in: 48 },
];

export const tmpDir = () => mkdtempSync(join(tmpdir(), 'wan-lora-'));

export function seeded(seed: number): (n: number, amp?: number) => Float32Array {
  let s = seed;
  return (n, amp = 0.1) =>
    Float32Array.from({ length: n }, () => {
      s = (s * 1103515245 + 12345) % 2 ** 31;
      return (s / 2 ** 31 - 0.5) * amp;
    });
}

/** Low-rank pairs (rank 3, alpha 1.5 unless null) for TINY_MODULES in one style; the values depend on `seed` only. */
export async function writeStyledLora(file: string, style: LoraStyle, opts: { seed?: number; alpha?: number | null; extra?: Record<string, TensorToWrite> } = {}): Promise<void> {
  const rand = seeded(opts.seed ?? 7);
  const rank = 3;
  const t: Record<string, TensorToWrite> = {};
  for (const m of TINY_MODULES) {
    const down = rand(rank * m.in);
    const up = rand(m.out * rank);
    const name =
      style === 'original' ? `diffusion_model.${m.original}` :
      style === 'underscore' ? `lora_unet_${m.original.replaceAll('.', '_')}` :
      style === 'lightx2v' ? `diffusion_model.${m.original}` : `transformer.${m.diffusers}`;
    const [d, u] = style === 'original' || style === 'underscore' ? ['lora_down', 'lora_up'] : ['lora_A', 'lora_B'];
    t[`${name}.${d}.weight`] = { dtype: 'F32', shape: [rank, m.in], data: down };
    t[`${name}.${u}.weight`] = { dtype: 'F32', shape: [m.out, rank], data: up };
    if (opts.alpha !== null && style !== 'peft') t[`${name}.alpha`] = { dtype: 'F32', shape: [], data: Float32Array.of(opts.alpha ?? 1.5) };
  }
  await writeSafetensors(file, { ...t, ...opts.extra });
}
