// The request's conditioning images, made ready before any model runs: loaded (file, URL, data
// URI, base64, raw RGB) and checked against what the loaded transformer takes, the video size taken
// from the image when the request names none, and (Wan2.1 I2V/FLF2V) the CLIP image features.
import { join } from 'node:path';

import type { NativeImageEncoder, NativeTensor } from '../bindings/native.js';
import { WanError } from '../errors.js';
import { type LoadImageOptions, type LoadedImage, loadImage } from '../image/load.js';
import { clipPixelValues } from '../image/preprocess.js';
import { isDirectory } from '../model/component-plan.js';
import { planImageEncoder } from '../model/image-encoder-plan.js';
import type { ImageEncoderPlan, ImageProcessorConfig, TransformerConfig } from '../model/types.js';
import type { ImageSource } from '../schemas/request.js';

export interface RequestImages {
  image?: LoadedImage;
  lastImage?: LoadedImage;
}

/**
 * Loads `image` and `lastImage`; `fields` maps canonical names to the ones the caller wrote
 * (`image` -> `image_url`), so errors name the field the user sent.
 */
export async function loadRequestImages(
  request: { image?: ImageSource; lastImage?: ImageSource },
  fields: Record<string, string>,
  opts: LoadImageOptions = {},
): Promise<RequestImages> {
  const out: RequestImages = {};
  if (request.image !== undefined) out.image = await loadImage(request.image, fields.image ?? 'image', opts);
  if (request.lastImage !== undefined) out.lastImage = await loadImage(request.lastImage, fields.lastImage ?? 'lastImage', opts);
  return out;
}

/** Python's round(): halves to even. */
const roundHalfEven = (x: number): number => {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

/**
 * The video size for an image when the request gives none, as diffusers' Wan image-to-video
 * examples compute it: the model's default area at the image's aspect ratio,
 * round(sqrt(area * h / w)) floored to a multiple of the VAE scale x patch, likewise the width.
 */
export function sizeFromImage(img: { width: number; height: number }, area: number, multiple: number): { width: number; height: number } {
  const aspect = img.height / img.width;
  const height = Math.floor(roundHalfEven(Math.sqrt(area * aspect)) / multiple) * multiple;
  const width = Math.floor(roundHalfEven(Math.sqrt(area / aspect)) / multiple) * multiple;
  return { width: Math.max(width, multiple), height: Math.max(height, multiple) };
}

/** What conditioning a transformer takes, told from its config (and the pipeline's expand_timesteps). */
export type ImageConditioningKind = 'none' | 'ti2v' | 'i2v-2.2' | 'i2v-2.1' | 'flf2v-2.1' | 'unknown';

export function imageConditioningKind(c: TransformerConfig, latentChannels: number, expandTimesteps: boolean): ImageConditioningKind {
  if (expandTimesteps) return 'ti2v';
  if (c.inChannels === latentChannels) return 'none';
  if (c.inChannels !== latentChannels * 2 + 4) return 'unknown';
  if (c.imageDim === null) return 'i2v-2.2';
  return c.posEmbedSeqLen !== null ? 'flf2v-2.1' : 'i2v-2.1';
}

/** Refuses image fields the loaded model cannot take, naming them. */
export function checkImagesForModel(kind: ImageConditioningKind, images: RequestImages, fields: Record<string, string>, description: string): void {
  const image = fields.image ?? 'image';
  const last = fields.lastImage ?? 'lastImage';
  if (kind === 'unknown') {
    throw new WanError('E_UNSUPPORTED', `this transformer (${description}) takes neither the VAE's latent channels alone (text-to-video) nor latents + mask + condition (image-to-video)`);
  }
  if (kind === 'none' && images.image) throw new WanError('E_INVALID_ARGUMENT', `${image}: this transformer (${description}) takes no image condition`);
  if (kind !== 'none' && kind !== 'ti2v' && !images.image) throw new WanError('E_INVALID_ARGUMENT', `${image}: this transformer (${description}) needs an image`);
  if (kind === 'ti2v' && images.lastImage) throw new WanError('E_INVALID_ARGUMENT', `${last}: TI2V conditions on a first frame only`);
  if (kind === 'i2v-2.1' && images.lastImage) {
    throw new WanError('E_INVALID_ARGUMENT', `${last}: Wan2.1 I2V conditions on a first frame only (a first and a last frame need the Wan2.1 FLF2V model or Wan2.2 I2V)`);
  }
  if (kind === 'flf2v-2.1' && !images.lastImage) {
    throw new WanError('E_INVALID_ARGUMENT', `${last}: the Wan2.1 FLF2V transformer needs a last frame as well (its image embedding takes the CLIP features of both)`);
  }
}

/**
 * The CLIP image features the Wan2.1 I2V/FLF2V transformer takes as encoder_hidden_states_image:
 * hidden_states[-2] of the image encoder for [image] or [image, lastImage] (FLF2V), each image
 * prepared by the CLIP processor from the image as given (not the VAE-side resize).
 */
export async function clipImageFeatures(encoder: NativeImageEncoder, processor: ImageProcessorConfig, images: LoadedImage[]): Promise<NativeTensor> {
  const pixels = images.map((img) => clipPixelValues(img, processor));
  const { height, width } = pixels[0];
  const data = new Float32Array(pixels.length * 3 * height * width);
  pixels.forEach((p, i) => data.set(p.data, i * p.data.length));
  const { penultimate } = await encoder.encode({ pixelValues: { data, shape: [pixels.length, 3, height, width] } });
  return penultimate;
}

/** A loaded CLIP image encoder with the processor its inputs are prepared with. */
export interface PipelineImageEncoder {
  native: NativeImageEncoder;
  processor: ImageProcessorConfig;
  plan: ImageEncoderPlan;
}

/**
 * The image encoder a Wan2.1 I2V/FLF2V transformer needs (image_dim set): `path` (a folder or a
 * single file such as ComfyUI's clip_vision_h.safetensors) or the pipeline folder's
 * image_encoder/ + image_processor/. Planned and checked against the transformer before loading.
 */
export async function planPipelineImageEncoder(dir: string, transformer: TransformerConfig, path?: string): Promise<ImageEncoderPlan | null> {
  if (transformer.imageDim === null) return null;
  if (path === undefined && !(await isDirectory(join(dir, 'image_encoder')))) {
    throw new WanError(
      'E_MODEL_FORMAT',
      `${join(dir, 'image_encoder')}: missing; this transformer (Wan2.1 I2V/FLF2V, image_dim ${transformer.imageDim}) needs its CLIP image encoder (a diffusers image_encoder/ folder, or LoadOptions.imageEncoder naming e.g. clip_vision_h.safetensors)`,
    );
  }
  const plan = await planImageEncoder(path ?? dir);
  if (plan.config.hiddenSize !== transformer.imageDim) {
    throw new WanError(
      'E_MODEL_FORMAT',
      `${plan.source}: the image encoder gives ${plan.config.hiddenSize}-wide features but the transformer's image_dim is ${transformer.imageDim}`,
    );
  }
  return plan;
}
