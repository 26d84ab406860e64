// A request's image, in any form it may take (lib/image/source.ts), to RGB pixels. Every failure
// is a WanError naming the request field: a missing or unreadable file, a refused or failed
// download, base64 that is not an image, an image over the byte or pixel limits, undecodable data.
import { open, stat } from 'node:fs/promises';

import { WanError } from '../errors.js';
import { decodeImage } from './decode.js';
import { type FetchImageOptions, fetchImageBytes } from './fetch.js';
import { IMAGE_LIMITS, type ImageLimits, fmtBytes } from './limits.js';
import { SERVER_FILE_REFUSED, base64DecodedLength, classifyImageString } from './source.js';
import type { RgbImage } from './types.js';

/** Raw pixels, as the canonical request takes them. */
export interface RawRgb {
  data: Uint8Array;
  width: number;
  height: number;
}

export type ImageInput = string | RawRgb;

export interface LoadImageOptions extends FetchImageOptions {
  limits?: ImageLimits;
  /** false: a string naming a file (a path or a file: URL) is refused; a server's jobs read no local files. */
  allowFiles?: boolean;
}

/** A loaded image: RGB bytes and where they came from (for messages and results). */
export interface LoadedImage extends RgbImage {
  data: Uint8Array;
  /** `file`, `url`, `data-uri`, `base64` or `raw`. */
  from: 'file' | 'url' | 'data-uri' | 'base64' | 'raw';
}

async function readLimited(path: string, field: string, limits: ImageLimits): Promise<Uint8Array> {
  let size: number;
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new WanError('E_INVALID_ARGUMENT', `${field}: ${path} is not a file`);
    size = s.size;
  } catch (err) {
    if (err instanceof WanError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new WanError('E_INVALID_ARGUMENT', `${field}: ${code === 'ENOENT' ? 'no such file' : `cannot read (${code ?? String(err)})`}: ${path}`, { cause: err });
  }
  if (size > limits.maxBytes) throw new WanError('E_INVALID_ARGUMENT', `${field}: ${path} is ${fmtBytes(size)}, more than the image limit of ${fmtBytes(limits.maxBytes)}`);
  const fh = await open(path, 'r');
  try {
    const buf = new Uint8Array(size);
    const { bytesRead } = await fh.read(buf, 0, size, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

function fromBase64(b64: string, field: string, what: string, limits: ImageLimits): Uint8Array {
  const n = base64DecodedLength(b64);
  if (n > limits.maxBytes) throw new WanError('E_INVALID_ARGUMENT', `${field}: the ${what} holds ${fmtBytes(n)}, more than the image limit of ${fmtBytes(limits.maxBytes)}`);
  const bytes = Buffer.from(b64, 'base64');
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}

/** Loads and decodes one image; `field` names it in every error. */
export async function loadImage(input: ImageInput, field: string, opts: LoadImageOptions = {}): Promise<LoadedImage> {
  const limits = opts.limits ?? IMAGE_LIMITS;
  if (typeof input !== 'string') {
    const { data, width, height } = input;
    if (!(data instanceof Uint8Array) || !Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
      throw new WanError('E_INVALID_ARGUMENT', `${field}: raw pixels must be {data: Uint8Array of RGB bytes, width, height}`);
    }
    if (data.length !== width * height * 3) {
      throw new WanError('E_INVALID_ARGUMENT', `${field}: width x height x 3 = ${width * height * 3} bytes of RGB expected, got ${data.length}`);
    }
    if (width * height > limits.maxPixels) {
      throw new WanError('E_INVALID_ARGUMENT', `${field}: the image is ${width}x${height} = ${width * height} pixels, more than the limit of ${limits.maxPixels}`);
    }
    return { data, width, height, from: 'raw' };
  }
  const c = classifyImageString(input);
  switch (c.kind) {
    case 'invalid':
      throw new WanError('E_INVALID_ARGUMENT', `${field}: expected ${c.expected}`);
    case 'url': {
      const bytes = await fetchImageBytes(c.url, field, { ...opts, limits });
      return { ...(await decodeImage(bytes, field, limits)), from: 'url' };
    }
    case 'data-uri':
      return { ...(await decodeImage(fromBase64(c.base64, field, 'data URI', limits), field, limits)), from: 'data-uri' };
    case 'base64':
      return { ...(await decodeImage(fromBase64(c.base64, field, 'base64 image', limits), field, limits)), from: 'base64' };
    case 'path':
      if (opts.allowFiles === false) throw new WanError('E_INVALID_ARGUMENT', `${field}: ${SERVER_FILE_REFUSED}`);
      return { ...(await decodeImage(await readLimited(c.path, field, limits), field, limits)), from: 'file' };
  }
}
