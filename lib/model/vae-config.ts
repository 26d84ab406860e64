// Wan VAE configuration: diffusers' AutoencoderKLWan config.json, or (for a single file, e.g. the
// official Wan2.1_VAE / Wan2.2_VAE weights as ComfyUI ships them) what the weights themselves say.

import { z } from 'zod';
import { ModelFormatError } from '../errors.js';
import type { VaeConfig, VaeVersion } from './types.js';
import { readConfigJson, zodFailure } from './config.js';
import { fmtShape } from './safetensors.js';
import { VAE_LIMITS, checkParamTotal, describeLimit, limited, limitedOrNull } from './config-limits.js';

export const VAE_CLASS = 'AutoencoderKLWan';

/** The latent statistics the Wan2.1 pipelines normalise with (diffusers' AutoencoderKLWan defaults). */
export const WAN21_LATENTS_MEAN = [
  -0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508, 0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497,
  0.2503, -0.2921,
];
export const WAN21_LATENTS_STD = [
  2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743, 3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251,
  1.916,
];
/** Wan2.2's (the official Wan2_2_VAE's scale, as the diffusers Wan2.2 VAE config states it). */
export const WAN22_LATENTS_MEAN = [
  -0.2289, -0.0052, -0.1323, -0.2339, -0.2799, 0.0174, 0.1838, 0.1557, -0.1382, 0.0542, 0.2813, 0.0891, 0.157, -0.0098,
  0.0375, -0.1825, -0.2246, -0.1207, -0.0698, 0.5109, 0.2665, -0.2108, -0.2158, 0.2502, -0.2055, -0.0322, 0.1109, 0.1567,
  -0.0729, 0.0899, -0.2799, -0.123, -0.0313, -0.1649, 0.0117, 0.0723, -0.2839, -0.2083, -0.052, 0.3748, 0.0152, 0.1957,
  0.1433, -0.2944, 0.3573, -0.0548, -0.1681, -0.0667,
];
export const WAN22_LATENTS_STD = [
  0.4765, 1.0364, 0.4514, 1.1677, 0.5313, 0.499, 0.4818, 0.5013, 0.8158, 1.0344, 0.5894, 1.0901, 0.6885, 0.6165, 0.8454,
  0.4978, 0.5759, 0.3523, 0.7135, 0.6804, 0.5833, 1.4146, 0.8986, 0.5659, 0.7069, 0.5338, 0.4889, 0.4917, 0.4069, 0.4999,
  0.6866, 0.4093, 0.5709, 0.6065, 0.6415, 0.4944, 0.5726, 1.2042, 0.5458, 1.6887, 0.3971, 1.06, 0.3943, 0.5537, 0.5444,
  0.4089, 0.7468, 0.7744,
];

const L = VAE_LIMITS;
const numbers = () =>
  z.array(z.number({ error: 'must be an array of numbers' }), { error: 'must be an array of numbers' })
    .max(L.latent_stats.max, { error: `must have at most ${L.latent_stats.max} entries (one per latent channel)` });

// diffusers fills absent fields from AutoencoderKLWan.__init__ (the Wan2.1 VAE); so do we, and the
// tensor shapes then say whether the weights agree.
const DiffusersVaeSchema = z.looseObject({
  _class_name: z.literal(VAE_CLASS, { error: `must be "${VAE_CLASS}"` }).optional(),
  base_dim: limited(L.base_dim).default(96),
  decoder_base_dim: limitedOrNull(L.decoder_base_dim).default(null),
  z_dim: limited(L.z_dim).default(16),
  dim_mult: z
    .array(limited(L.dim_mult), { error: `must be an array of ${L.levels.min} to ${L.levels.max} entries, each ${describeLimit(L.dim_mult)}` })
    .min(L.levels.min, { error: `must have ${L.levels.min} to ${L.levels.max} entries` })
    .max(L.levels.max, { error: `must have ${L.levels.min} to ${L.levels.max} entries` })
    .default([1, 2, 4, 4]),
  num_res_blocks: limited(L.num_res_blocks).default(2),
  attn_scales: z.array(z.number()).max(0, { error: 'must be empty (the Wan VAEs have no attention inside their levels)' }).default([]),
  temperal_downsample: z
    .array(z.boolean({ error: 'must be an array of booleans' }), { error: 'must be an array of booleans' })
    .max(L.levels.max, { error: `must have at most ${L.levels.max} entries` })
    .default([false, true, true]),
  is_residual: z.boolean({ error: 'must be true or false' }).default(false),
  in_channels: limited(L.in_channels).default(3),
  out_channels: limited(L.out_channels).default(3),
  patch_size: limitedOrNull(L.patch_size).default(null),
  latents_mean: numbers().nullable().optional(),
  latents_std: numbers().nullable().optional(),
});

/** About how many parameters the encoder and decoder of these widths hold (two 3x3x3 convolutions
 * per residual block, num_res_blocks + 1 blocks per level on the way up): a bound, not exact. */
export function vaeParamCount(width: number, dimMult: readonly number[], numResBlocks: number): number {
  return dimMult.reduce((sum, m) => sum + 2 * (2 * numResBlocks + 1) * 2 * 27 * (width * m) ** 2, 0);
}

export function vaeScaleFactors(dimMult: readonly number[], temperalDownsample: readonly boolean[], patchSize: number) {
  const levels = dimMult.length;
  return {
    scaleFactorSpatial: 2 ** (levels - 1) * patchSize,
    scaleFactorTemporal: 2 ** temperalDownsample.slice(0, levels - 1).filter(Boolean).length,
  };
}

/** The statistics a config leaves out: the known Wan VAE's when the latent width says which, else none. */
function defaultLatentStats(zDim: number): { mean: number[] | null; std: number[] | null } {
  if (zDim === WAN21_LATENTS_MEAN.length) return { mean: WAN21_LATENTS_MEAN, std: WAN21_LATENTS_STD };
  if (zDim === WAN22_LATENTS_MEAN.length) return { mean: WAN22_LATENTS_MEAN, std: WAN22_LATENTS_STD };
  return { mean: null, std: null };
}

export function vaeVersion(c: VaeConfig): VaeVersion {
  if (!c.isResidual && c.zDim === 16 && c.patchSize === 1) return 'wan2.1';
  if (c.isResidual && c.zDim === 48 && c.patchSize === 2) return 'wan2.2';
  return 'custom';
}

/** Normalise a parsed AutoencoderKLWan config.json; `shown` names the file in messages. */
export function parseVaeConfig(json: unknown, file: string, shown = file): VaeConfig {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new ModelFormatError(`${shown}: expected a JSON object`, { file });
  }
  const r = DiffusersVaeSchema.safeParse(json);
  if (!r.success) throw zodFailure(file, shown, json, r.error);
  const c = r.data;
  const fail = (msg: string): never => {
    throw new ModelFormatError(`${shown}: ${msg}`, { file });
  };
  const levels = c.dim_mult.length;
  if (c.temperal_downsample.length < levels - 1) {
    fail(`field "temperal_downsample" has ${c.temperal_downsample.length} entries; dim_mult ${fmtShape(c.dim_mult)} needs ${levels - 1}`);
  }
  const patchSize = c.patch_size ?? 1;
  for (const [field, v] of [['in_channels', c.in_channels], ['out_channels', c.out_channels]] as const) {
    if (v % (patchSize * patchSize) !== 0) fail(`field "${field}" ${v} is not a whole number of ${patchSize}x${patchSize} patches`);
  }
  const stat = (field: 'latents_mean' | 'latents_std', fallback: number[] | null): number[] | null => {
    const v = c[field];
    if (v === undefined) return fallback;
    if (v === null) return null;
    if (v.length !== c.z_dim) fail(`field "${field}" has ${v.length} values; z_dim is ${c.z_dim}`);
    return v;
  };
  const widest = Math.max(c.base_dim, c.decoder_base_dim ?? c.base_dim);
  checkParamTotal(
    'vae', vaeParamCount(widest, c.dim_mult, c.num_res_blocks),
    `base_dim ${c.base_dim}, decoder_base_dim ${c.decoder_base_dim ?? c.base_dim}, dim_mult [${c.dim_mult.join(', ')}], num_res_blocks ${c.num_res_blocks}`,
    file, shown,
  );
  const defaults = defaultLatentStats(c.z_dim);
  return {
    baseDim: c.base_dim,
    decoderBaseDim: c.decoder_base_dim ?? c.base_dim,
    zDim: c.z_dim,
    dimMult: c.dim_mult,
    numResBlocks: c.num_res_blocks,
    temperalDownsample: c.temperal_downsample,
    isResidual: c.is_residual,
    inChannels: c.in_channels,
    outChannels: c.out_channels,
    patchSize,
    ...vaeScaleFactors(c.dim_mult, c.temperal_downsample, patchSize),
    latentsMean: stat('latents_mean', defaults.mean),
    latentsStd: stat('latents_std', defaults.std),
  };
}

export async function loadVaeConfig(file: string, shown = file): Promise<VaeConfig> {
  return parseVaeConfig(await readConfigJson(file, shown), file, shown);
}

/** Config fields a tensor shape follows from. */
export type VaeConfigField = 'baseDim' | 'decoderBaseDim' | 'zDim' | 'dimMult' | 'numResBlocks' | 'inChannels' | 'outChannels' | 'temperalDownsample' | 'isResidual';

/** How config.json spells a field, with its value, for messages that point at the field to check. */
export function describeVaeField(field: VaeConfigField, c: VaeConfig): string {
  const names: Record<VaeConfigField, [string, unknown]> = {
    baseDim: ['base_dim', c.baseDim],
    decoderBaseDim: ['decoder_base_dim', c.decoderBaseDim],
    zDim: ['z_dim', c.zDim],
    dimMult: ['dim_mult', c.dimMult],
    numResBlocks: ['num_res_blocks', c.numResBlocks],
    inChannels: ['in_channels', c.inChannels],
    outChannels: ['out_channels', c.outChannels],
    temperalDownsample: ['temperal_downsample', c.temperalDownsample],
    isResidual: ['is_residual', c.isResidual],
  };
  const [name, v] = names[field];
  return `${name} ${Array.isArray(v) ? `[${v.join(', ')}]` : String(v)}`;
}

// ---- inference from weights (diffusers names) ----------------------------------------------------

/** Config of a single file with no config.json: sizes from the canonical (diffusers-named) shapes,
 * latent statistics from the known Wan VAE of that latent width. `file` goes into errors. */
export function inferVaeConfig(shapes: ReadonlyMap<string, readonly number[]>, file = 'weights', shown = file): VaeConfig {
  const fail = (msg: string, tensor?: string): never => {
    throw new ModelFormatError(`${shown}: ${msg}`, { file, tensor });
  };
  const need = (tensor: string, rank: number): readonly number[] => {
    const s = shapes.get(tensor);
    if (s === undefined) return fail(`cannot infer the VAE's configuration without a config.json: tensor "${tensor}" is missing`, tensor);
    if (s.length !== rank) fail(`tensor "${tensor}" has shape ${fmtShape(s)}; expected ${rank} dims`, tensor);
    return s;
  };
  const keys = [...shapes.keys()];
  const indices = (re: RegExp) => [...new Set(keys.map((k) => re.exec(k)).filter((m) => m !== null).map((m) => Number(m![1])))].sort((a, b) => a - b);

  const [zDim] = need('post_quant_conv.weight', 5);
  const [baseDim, inChannels] = need('encoder.conv_in.weight', 5);
  const [outChannels, decoderLast] = need('decoder.conv_out.weight', 5);
  const levels = indices(/^decoder\.up_blocks\.(\d+)\./).length;
  if (levels === 0) fail('cannot infer the VAE levels: no "decoder.up_blocks.N." tensors', 'decoder.up_blocks.0');
  const isResidual = keys.some((k) => /^decoder\.up_blocks\.\d+\.upsampler\./.test(k) || /^encoder\.down_blocks\.\d+\.resnets\./.test(k));
  const numResBlocks = indices(/^decoder\.up_blocks\.0\.resnets\.(\d+)\./).length - 1;
  if (numResBlocks < 1) fail('cannot infer num_res_blocks: "decoder.up_blocks.0" has fewer than 2 resnets', 'decoder.up_blocks.0.resnets.0');

  // Widths per decoder level, last level first in dim_mult order; the last level is decoder_base_dim x dim_mult[0] with dim_mult[0] = 1.
  const dimMult: number[] = [];
  for (let i = levels - 1; i >= 0; i--) {
    const [width] = need(`decoder.up_blocks.${i}.resnets.0.conv2.weight`, 5);
    if (width % decoderLast !== 0) fail(`decoder level ${i} is ${width} wide, not a multiple of the last level's ${decoderLast}`);
    dimMult.push(width / decoderLast);
  }
  const temperalDownsample: boolean[] = [];
  for (let i = 0; i < levels - 1; i++) {
    const name = isResidual
      ? `encoder.down_blocks.${i}.downsampler.time_conv.weight`
      : `encoder.down_blocks.${i * (numResBlocks + 1) + numResBlocks}.time_conv.weight`;
    temperalDownsample.push(shapes.has(name));
  }
  const patchSize = Math.round(Math.sqrt(inChannels / 3));
  const patch = patchSize > 1 && patchSize * patchSize * 3 === inChannels && outChannels === inChannels ? patchSize : 1;
  const stats = defaultLatentStats(zDim);
  return {
    baseDim, decoderBaseDim: decoderLast, zDim, dimMult, numResBlocks, temperalDownsample, isResidual, inChannels, outChannels,
    patchSize: patch, ...vaeScaleFactors(dimMult, temperalDownsample, patch), latentsMean: stats.mean, latentsStd: stats.std,
  };
}
