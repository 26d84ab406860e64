// A small PNG writer (8-bit RGB, zlib from Node) for frames and contact sheets: no dependency and
// no ffmpeg needed for stills.
import { deflateSync } from 'node:zlib';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'ascii');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** RGB bytes [height, width, 3] -> a PNG file's bytes. */
export function encodePng(rgb: Uint8Array, width: number, height: number): Buffer {
  if (rgb.length !== width * height * 3) throw new RangeError(`encodePng: ${rgb.length} bytes for ${width}x${height} RGB`);
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0; // filter: none
    raw.set(rgb.subarray(y * width * 3, (y + 1) * width * 3), y * (width * 3 + 1) + 1);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/** Frames laid out left to right, top to bottom, `columns` per row (default: a near-square grid). */
export function contactSheet(frames: Uint8Array[], width: number, height: number, columns = Math.ceil(Math.sqrt(frames.length))): { rgb: Uint8Array; width: number; height: number } {
  const rows = Math.ceil(frames.length / columns);
  const W = columns * width;
  const H = rows * height;
  const rgb = new Uint8Array(W * H * 3);
  frames.forEach((f, i) => {
    const x0 = (i % columns) * width;
    const y0 = Math.floor(i / columns) * height;
    for (let y = 0; y < height; y++) rgb.set(f.subarray(y * width * 3, (y + 1) * width * 3), ((y0 + y) * W + x0) * 3);
  });
  return { rgb, width: W, height: H };
}
