// Conditioning images: every form a request may give (path, URL, data URI, base64, raw RGB),
// decoded with sharp, resized and normalised exactly as the reference pipelines do.
export type { RgbImage } from './types.js';
export { IMAGE_LIMITS, type ImageLimits } from './limits.js';
export { classifyImageString, BASE64_IMAGE_MAGIC, type ImageStringKind } from './source.js';
export { decodeImage, sniffImageFormat, IMAGE_FORMATS, type DecodedImage, type ImageFormat } from './decode.js';
export { fetchImageBytes, isNonPublicAddress, type FetchImageOptions } from './fetch.js';
export { loadImage, type ImageInput, type LoadImageOptions, type LoadedImage, type RawRgb } from './load.js';
export { resizeImage, type Image8, type ResampleFilter } from './resample.js';
export {
  vaeImagePlanes, resizeForVae, clipPixelValues, clipResizeSize, OPENAI_CLIP_PROCESSOR, type ClipProcessorConfig,
} from './preprocess.js';
export { parseClipProcessorConfig, loadClipProcessorConfig } from './processor-config.js';
