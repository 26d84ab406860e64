// Small test images made with sharp from known RGB pixels, in every encoded form a request takes.
import sharp from 'sharp';

/** A w x h RGB gradient with a hard-edged square: enough structure for a resize to matter. */
export function testPixels(width: number, height: number, seed = 0): Uint8Array {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const inSquare = x > width / 4 && x < width / 2 && y > height / 3 && y < (2 * height) / 3;
      data[i] = (x * 255) / Math.max(width - 1, 1);
      data[i + 1] = inSquare ? 250 : (y * 255) / Math.max(height - 1, 1);
      data[i + 2] = (x * 7 + y * 13 + seed * 41) % 256;
    }
  }
  return data;
}

export type EncodedFormat = 'png' | 'jpeg' | 'webp';

/** The pixels encoded as PNG (lossless), JPEG or WebP (lossless, so decoding gives the pixels back). */
export async function encodeImage(data: Uint8Array, width: number, height: number, format: EncodedFormat): Promise<Buffer> {
  const s = sharp(data, { raw: { width, height, channels: 3 } });
  if (format === 'png') return s.png().toBuffer();
  if (format === 'webp') return s.webp({ lossless: true }).toBuffer();
  return s.jpeg({ quality: 95 }).toBuffer();
}
