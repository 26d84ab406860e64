// image_preprocess and clip_preprocess: the conditioning image before any model sees it (family
// `image`). in.image is [H, W, 3] with integer values 0..255; the cases say which processor ran.
//  - image_preprocess: diffusers VideoProcessor(vae_scale_factor).preprocess(image, height, width):
//    the size floored to the VAE factor, Pillow LANCZOS, [-1, 1]; out.pixel_values [1, 3, H, W].
//  - clip_preprocess: transformers CLIPImageProcessor with params.config; out.pixel_values [1, 3, 224, 224].
import type { NativeTensor } from '../../bindings/native.js';
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
  if (typeof cfg.vae_scale_factor !== 'number') return 'params.config.vae_scale_factor is required';
  return null;
}

export function imagePreprocessUnsupported(m: CaseManifest): string | null {
  const extra = extraParams(m, IMAGE_PARAMS);
  if (extra) return extra;
  if (!Number.isInteger(m.params.height) || !Number.isInteger(m.params.width)) return 'params.height and params.width must be integers';
  return videoProcessorUnsupported((m.params.config ?? {}) as Record<string, unknown>);
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
  if (t.shape.length !== 3 || t.shape[2] !== 3) throw new Error(`in.image must be [H, W, 3], got [${t.shape}]`);
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
