// Encoded image bytes (JPEG, PNG, WebP) -> RGB pixels, with sharp (libvips). What the reference
// pipelines get from diffusers' `load_image`: the EXIF orientation applied, the image converted to
// RGB (an alpha channel dropped, not composited; greyscale and palettes expanded), and no colour
// management (Pillow ignores embedded ICC profiles, so sharp is told to as well).
import sharp from 'sharp';

import { WanError } from '../errors.js';
import { IMAGE_LIMITS, type ImageLimits, fmtBytes } from './limits.js';
import type { RgbImage } from './types.js';

export const IMAGE_FORMATS = ['jpeg', 'png', 'webp'] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

/** The format told by the first bytes, or null. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | null {
  const b = bytes;
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 && b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a) return 'png';
  if (b.length >= 12 && b[0] === 0x52 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x46 && b[8] === 0x57 && b[9] === 0x45 && b[10] === 0x42 && b[11] === 0x50) return 'webp';
  return null;
}

/** An RGB image with its pixels as bytes. */
export interface DecodedImage extends RgbImage {
  data: Uint8Array;
  format: ImageFormat;
}

/**
 * Decodes a JPEG, PNG or WebP. `field` names the request field in every error (E_INVALID_ARGUMENT:
 * not an image of those formats, too many bytes or pixels, corrupt data).
 */
export async function decodeImage(bytes: Uint8Array, field: string, limits: ImageLimits = IMAGE_LIMITS): Promise<DecodedImage> {
  const bad = (msg: string, cause?: unknown): never => {
    throw new WanError('E_INVALID_ARGUMENT', `${field}: ${msg}`, { cause });
  };
  if (bytes.length === 0) bad('the image is empty (0 bytes)');
  if (bytes.length > limits.maxBytes) bad(`the image is ${fmtBytes(bytes.length)}, more than the limit of ${fmtBytes(limits.maxBytes)}`);
  const format = sniffImageFormat(bytes);
  if (!format) bad(`not a JPEG, PNG or WebP image (the data starts with ${hexStart(bytes)})`);
  let meta: sharp.Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    return bad(`the ${format!.toUpperCase()} image cannot be read (${reason(err)})`, err);
  }
  const width = meta.autoOrient?.width ?? meta.width;
  const height = meta.autoOrient?.height ?? meta.height;
  if (!width || !height) bad(`the ${format!.toUpperCase()} image has no size`);
  if (width! * height! > limits.maxPixels) {
    bad(`the image is ${width}x${height} = ${width! * height!} pixels, more than the limit of ${limits.maxPixels} (${Math.floor(Math.sqrt(limits.maxPixels))}^2)`);
  }
  let out: { data: Buffer; info: sharp.OutputInfo };
  try {
    out = await sharp(bytes, { limitInputPixels: limits.maxPixels, autoOrient: true, ignoreIcc: true, failOn: 'error', pages: 1 })
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    return bad(`the ${format!.toUpperCase()} image cannot be decoded (${reason(err)})`, err);
  }
  if (out.info.channels !== 3) bad(`the image decoded to ${out.info.channels} channels, expected RGB`);
  const data = new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.length);
  return { data, width: out.info.width, height: out.info.height, format: format! };
}

function hexStart(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ') || 'nothing';
}

function reason(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0].replace(/^Input (buffer|file) /, '');
}
