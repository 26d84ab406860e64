// Reads back the 8-bit RGB PNGs wan-video writes (filter type 0 rows), for tests.
import { readFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';

export function readPng(file: string): { width: number; height: number; rgb: Buffer } {
  const buf = readFileSync(file);
  let off = 8;
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('ascii', off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      if (data[8] !== 8 || data[9] !== 2) throw new Error(`${file}: not 8-bit RGB`);
    }
    if (type === 'IDAT') idat.push(data);
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const rgb = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    if (raw[y * (width * 3 + 1)] !== 0) throw new Error(`${file}: row ${y} uses a filter`);
    raw.copy(rgb, y * width * 3, y * (width * 3 + 1) + 1, (y + 1) * (width * 3 + 1));
  }
  return { width, height, rgb };
}

/** Standard deviation of the byte values of a region [x, y, w, h] (whole image by default). */
export function spreadOf(img: { width: number; rgb: Buffer }, region?: [number, number, number, number]): number {
  const [x0, y0, w, h] = region ?? [0, 0, img.width, img.rgb.length / 3 / img.width];
  let n = 0;
  let sum = 0;
  let sq = 0;
  for (let y = y0; y < y0 + h; y++) {
    for (let x = x0; x < x0 + w; x++) {
      for (let c = 0; c < 3; c++) {
        const v = img.rgb[(y * img.width + x) * 3 + c];
        n++;
        sum += v;
        sq += v * v;
      }
    }
  }
  return Math.sqrt(sq / n - (sum / n) ** 2);
}
