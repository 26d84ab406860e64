// image_preprocess and clip_preprocess: the conditioning image before any model sees it (family
// `image`). in.image is [H, W, 3] with integer values 0..255; the cases say which processor ran.
//  - image_preprocess: diffusers VideoProcessor(vae_scale_factor).preprocess(image, height, width):
//    the size floored to the VAE factor, Pillow LANCZOS, [-1, 1]; out.pixel_values [1, 3, H, W].
//  - clip_preprocess: transformers CLIPImageProcessor with params.config; out.pixel_values [1, 3, 224, 224].
import type { NativeTensor } from '../../bindings/native.js';
import { IMAGE_LIMITS } from '../../image/limits.js';
import { clipPixelValues, vaeImagePlanes } from '../../image/preprocess.js';
import { parseClipProcessorConfig } from '../../image/processor-config.js';
import type { RgbImage } from '../../image/types.js';
import type { CaseManifest } from '../manifest.js';
import type { CaseContext, KindOutputs } from '../types.js';

/** Params that only document the case (versions, sources, sanity figures). */
const DESCRIPTIVE = ['processor', 'call', 'implementation', 'transformers_version', 'pillow_version', 'diffusers_version', 'config_source', 'pipeline', 'resample', 'sanity_rel_l2', 'input_height', 'input_width'];
const IMAGE_PARAMS = [...DESCRIPTIVE, 'config', 'height', 'width', 'vae_scale_factor_spatial'];
const CLIP_PARAMS = [...DESCRIPTIVE, 'config', 'resize_to'];

function extraParams(m: CaseManifest, known: string[]): string | null {
  const extra = Object.keys(m.params).filter((k) => !known.includes(k));
  return extra.length ? `case params not supported yet: ${extra.join(', ')}` : null;
}

/** The VideoProcessor settings this runtime implements; anything else is named. */
function videoProcessorUnsupported(cfg: Record<string, unknown>): string | null {
  const want: Record<string, unknown> = { do_resize: true, resample: 'lanczos', reducing_gap: null, do_normalize: true, do_binarize: false, do_convert_grayscale: false };
  for (const [k, v] of Object.entries(want)) {
    if (k in cfg && cfg[k] !== v) return `params.config.${k} ${JSON.stringify(cfg[k])} is not implemented (only ${JSON.stringify(v)})`;
  }
  const f = cfg.vae_scale_factor;
  if (typeof f !== 'number' || !Number.isInteger(f) || f < 1) return `params.config.vae_scale_factor must be an integer >= 1, got ${JSON.stringify(f)}`;
  return null;
}

export function imagePreprocessUnsupported(m: CaseManifest): string | null {
  const extra = extraParams(m, IMAGE_PARAMS);
  if (extra) return extra;
  const cfg = (m.params.config ?? {}) as Record<string, unknown>;
  const unsupported = videoProcessorUnsupported(cfg);
  if (unsupported) return unsupported;
  // The size is floored to the factor; below one factor it would be empty.
  const factor = cfg.vae_scale_factor as number;
  for (const key of ['height', 'width'] as const) {
    const v = m.params[key];
    if (!Number.isInteger(v) || (v as number) < factor) return `params.${key} must be an integer >= vae_scale_factor (${factor}), got ${JSON.stringify(v)}`;
  }
  const pixels = (m.params.height as number) * (m.params.width as number);
  if (pixels > IMAGE_LIMITS.maxPixels) return `params.height x params.width (${pixels} pixels) is over the image limit of ${IMAGE_LIMITS.maxPixels}`;
  return null;
}

export function clipPreprocessUnsupported(m: CaseManifest): string | null {
  const extra = extraParams(m, CLIP_PARAMS);
  if (extra) return extra;
  try {
    parseClipProcessorConfig(m.params.config ?? {}, 'params.config');
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  return null;
}

function inputImage(ctx: CaseContext): RgbImage {
  const t = ctx.inputs.get('in.image');
  if (!t) throw new Error('case input in.image is required');
  if (t.shape.length !== 3 || t.shape[2] !== 3 || t.shape[0] < 1 || t.shape[1] < 1) {
    throw new Error(`in.image must be [H, W, 3] with H, W >= 1, got [${t.shape}]`);
  }
  if (t.shape[0] * t.shape[1] > IMAGE_LIMITS.maxPixels) throw new Error(`in.image [${t.shape}] is over the image limit of ${IMAGE_LIMITS.maxPixels} pixels`);
  // The processors take 8-bit images: a value they could not have been given is the case's error.
  const bad = t.data.findIndex((v) => !(Number.isInteger(v) && v >= 0 && v <= 255));
  if (bad >= 0) {
    const c = bad % 3;
    const px = (bad - c) / 3;
    throw new Error(`in.image must hold integers 0..255; [${Math.floor(px / t.shape[1])}, ${px % t.shape[1]}, ${c}] is ${t.data[bad]}`);
  }
  return { data: t.data, width: t.shape[1], height: t.shape[0] };
}

export async function runImagePreprocess(ctx: CaseContext): Promise<KindOutputs> {
  const p = ctx.manifest.params;
  const factor = (p.config as { vae_scale_factor: number }).vae_scale_factor;
  // VaeImageProcessor.get_default_height_width floors the size to the VAE factor.
  const height = (p.height as number) - ((p.height as number) % factor);
  const width = (p.width as number) - ((p.width as number) % factor);
  const planes = vaeImagePlanes(inputImage(ctx), width, height);
  const out: NativeTensor = { data: planes, shape: [1, 3, height, width] };
  return new Map([['out.pixel_values', out]]);
}

export async function runClipPreprocess(ctx: CaseContext): Promise<KindOutputs> {
  const cfg = parseClipProcessorConfig(ctx.manifest.params.config ?? {}, 'params.config');
  const px = clipPixelValues(inputImage(ctx), cfg);
  return new Map([['out.pixel_values', { data: px.data, shape: [1, 3, px.height, px.width] }]]);
}
