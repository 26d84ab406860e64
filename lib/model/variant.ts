// Which Wan model a transformer is. The released models differ in input channels, width and the
// image embedder; the A14B experts of Wan2.2 are only told from Wan2.1 14B by coming in a pair.

import { basename } from 'node:path';
import type { ModelVariant, TransformerConfig, VariantInfo } from './types.js';

export type Expert = 'high-noise' | 'low-noise';

/** The conditioning layout a transformer follows, released or not. */
export type TransformerLayoutKind = 't2v' | 'i2v-2.1' | 'flf2v-2.1' | 'i2v-2.2' | 'ti2v' | 'unknown';

export interface VariantHints {
  /** Set when the caller knows which expert of a pair this is. */
  expert?: Expert;
  /** True when this transformer is one of two in a Wan2.2 pair. */
  pairedWith?: boolean;
  /** File or folder path; a name containing high_noise / low_noise marks the expert. */
  path?: string;
}

/** high_noise / low-noise / HighNoise in the last path component (ComfyUI and official file names). */
export function expertFromName(path: string): Expert | undefined {
  const name = basename(path);
  if (/high[_-]?noise/i.test(name)) return 'high-noise';
  if (/low[_-]?noise/i.test(name)) return 'low-noise';
  return undefined;
}

export function transformerLayoutKind(c: TransformerConfig): TransformerLayoutKind {
  if (c.inChannels === 16) return 't2v';
  if (c.inChannels === 36 && c.imageDim !== null) return c.posEmbedSeqLen !== null ? 'flf2v-2.1' : 'i2v-2.1';
  if (c.inChannels === 36) return 'i2v-2.2';
  if (c.inChannels === 48) return 'ti2v';
  return 'unknown';
}

export function detectVariant(c: TransformerConfig, hints: VariantHints = {}): VariantInfo {
  const dim = c.numHeads * c.headDim;
  const expert = hints.expert ?? (hints.path ? expertFromName(hints.path) : undefined);
  const paired = hints.pairedWith === true || expert !== undefined;
  const kind = transformerLayoutKind(c);
  const shape = `dim ${dim} = ${c.numHeads} heads x ${c.headDim}, ${c.numLayers} layer${c.numLayers === 1 ? '' : 's'}, ffn ${c.ffnDim}, in_channels ${c.inChannels}`;
  const why = expert ? `, ${expert} expert` : paired ? ', one of a pair' : '';

  let variant: ModelVariant = 'custom';
  if (kind === 't2v' && dim === 1536) variant = 'wan2.1-t2v-1.3b';
  else if (kind === 't2v' && dim === 5120) variant = paired ? 'wan2.2-t2v-a14b' : 'wan2.1-t2v-14b';
  else if (kind === 'i2v-2.1' && dim === 5120) variant = 'wan2.1-i2v-14b';
  else if (kind === 'flf2v-2.1' && dim === 5120) variant = 'wan2.1-flf2v-14b';
  else if (kind === 'i2v-2.2' && dim === 5120) variant = 'wan2.2-i2v-a14b';
  else if (kind === 'ti2v' && dim === 3072) variant = 'wan2.2-ti2v-5b';

  const info: VariantInfo = {
    variant,
    description:
      variant === 'custom'
        ? `custom transformer following the ${kind} layout (${shape}${why})`
        : `${variant} (${shape}${why})`,
  };
  if (variant === 'wan2.2-t2v-a14b' || variant === 'wan2.2-i2v-a14b') info.expert = expert ?? 'unknown';
  else if (expert) info.expert = expert;
  return info;
}
