// The two ways the Wan image-to-video pipelines prepare a conditioning image, as diffusers and
// transformers do (fixture family `image`):
//  - for the VAE (WanImageToVideoPipeline.__call__ -> VideoProcessor.preprocess): Pillow LANCZOS to
//    exactly the video's width x height (stretched), /255, 2x - 1;
//  - for the CLIP image encoder (encode_image -> CLIPImageProcessor): the shorter side to
//    `shortest_edge` and the longer to int(shortest_edge * long / short), Pillow BICUBIC, a center
//    crop (top (h - crop) // 2; zero-padded where the crop is larger), x * rescale_factor,
//    (x - mean) / std per channel.
import type { ImageProcessorConfig } from '../model/types.js';
import { type Image8, resizeImage } from './resample.js';
import type { RgbImage } from './types.js';

/** The fields of `image_processor/preprocessor_config.json` the CLIP path uses. */
export type ClipProcessorConfig = ImageProcessorConfig;

/** OpenAI CLIP's processor, which the Wan2.1 I2V image encoders (ViT-H/14) ship with. */
export const OPENAI_CLIP_PROCESSOR: Readonly<ClipProcessorConfig> = Object.freeze<ClipProcessorConfig>({
  shortestEdge: 224,
  cropHeight: 224,
  cropWidth: 224,
  doCenterCrop: true,
  rescaleFactor: 1 / 255,
  mean: [0.48145466, 0.4578275, 0.40821073],
  std: [0.26862954, 0.26130258, 0.27577711],
  resample: 'bicubic',
});

function asImage8(img: RgbImage): Image8 {
  const data = img.data instanceof Uint8Array ? img.data : Uint8Array.from(img.data, (v) => Math.max(0, Math.min(255, Math.round(v))));
  return { data, width: img.width, height: img.height, channels: 3 };
}

/** The conditioning frame for the VAE: [3, height * width] planes in [-1, 1]. */
export function vaeImagePlanes(img: RgbImage, width: number, height: number): Float32Array {
  const r = resizeImage(asImage8(img), width, height, 'lanczos');
  const n = width * height;
  const out = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) out[c * n + i] = (r.data[i * 3 + c] / 255) * 2 - 1;
  return out;
}

/** The image resized to width x height as the VAE path does (Pillow LANCZOS), still RGB uint8. */
export function resizeForVae(img: RgbImage, width: number, height: number): RgbImage {
  const r = resizeImage(asImage8(img), width, height, 'lanczos');
  return { data: r.data, width, height };
}

/** transformers' get_resize_output_image_size for `shortest_edge` (default_to_square False). */
export function clipResizeSize(width: number, height: number, shortestEdge: number): { width: number; height: number } {
  const short = Math.min(width, height);
  const long = Math.max(width, height);
  const newLong = Math.trunc((shortestEdge * long) / short);
  return width <= height ? { width: shortestEdge, height: newLong } : { width: newLong, height: shortestEdge };
}

/** CLIPImageProcessor's pixel_values for one image: [3, cropHeight, cropWidth], normalised. */
export function clipPixelValues(img: RgbImage, cfg: ClipProcessorConfig = OPENAI_CLIP_PROCESSOR): { data: Float32Array; height: number; width: number } {
  const size = clipResizeSize(img.width, img.height, cfg.shortestEdge);
  const r = resizeImage(asImage8(img), size.width, size.height, cfg.resample);
  let top = 0;
  let left = 0;
  let h = r.height;
  let w = r.width;
  if (cfg.doCenterCrop) {
    // transformers' center_crop: top = (h - crop) // 2 (floored); a crop larger than the image is
    // taken from the image zero-padded around it, so rows and columns outside it read 0.
    top = Math.floor((r.height - cfg.cropHeight) / 2);
    left = Math.floor((r.width - cfg.cropWidth) / 2);
    h = cfg.cropHeight;
    w = cfg.cropWidth;
  }
  const n = h * w;
  const out = new Float32Array(3 * n);
  for (let y = 0; y < h; y++) {
    const sy = y + top;
    for (let x = 0; x < w; x++) {
      const sx = x + left;
      const inside = sy >= 0 && sy < r.height && sx >= 0 && sx < r.width;
      const src = (sy * r.width + sx) * 3;
      for (let c = 0; c < 3; c++) {
        const v = inside ? Math.fround(r.data[src + c] * cfg.rescaleFactor) : 0;
        out[c * n + y * w + x] = (v - cfg.mean[c]) / cfg.std[c];
      }
    }
  }
  return { data: out, height: h, width: w };
}
