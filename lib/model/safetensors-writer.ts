// Minimal .safetensors writer for tests and the tiny-model generator. Float32Array data is encoded
// to the target float dtype here; Uint8Array data is taken as the raw stored bytes.

import { writeFile } from 'node:fs/promises';
import { SAFETENSORS_DTYPE_BYTES, fmtShape, numel } from './safetensors.js';

export interface TensorToWrite {
  dtype: string;
  shape: number[];
  data: Uint8Array | Float32Array;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 -> bfloat16 bits, round to nearest even (as torch does). */
export function floatToBf16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  if (Number.isNaN(x)) return 0x7fc0;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** float32 -> IEEE half bits, round to nearest even, overflow to infinity. */
export function floatToF16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  if (Number.isNaN(x)) return 0x7e00;
  const a = Math.abs(f32[0]);
  if (a >= 65520) return sign | 0x7c00; // rounds past the largest half (65504)
  if (a < 2 ** -25) return sign; // below half the smallest subnormal
  if (a < 2 ** -14) return sign | roundEven(a / 2 ** -24); // subnormal; may round up into normal
  const exp = Math.floor(Math.log2(a));
  const e = a >= 2 ** (exp + 1) ? exp + 1 : a < 2 ** exp ? exp - 1 : exp;
  const man = roundEven((a / 2 ** e - 1) * 1024);
  return sign | (((e + 15) << 10) + man); // a mantissa carry rolls into the exponent
}

/** float32 -> float8 e4m3fn bits, round to nearest even, saturating at +-448 (e4m3fn has no inf). */
export function floatToF8E4M3Bits(x: number): number {
  if (Number.isNaN(x)) return 0x7f;
  const sign = x < 0 || Object.is(x, -0) ? 0x80 : 0;
  const a = Math.min(Math.abs(x), 448);
  if (a < 2 ** -6) return sign | roundEven(a / 2 ** -9); // subnormal step is 2^-9
  let e = Math.floor(Math.log2(a));
  if (a < 2 ** e) e -= 1;
  if (a >= 2 ** (e + 1)) e += 1;
  const man = roundEven((a / 2 ** e - 1) * 8);
  return sign | (((e + 7) << 3) + man);
}

function roundEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Encode float32 values into the bytes of a float dtype. */
export function encodeFromF32(dtype: string, data: Float32Array): Uint8Array {
  const size = SAFETENSORS_DTYPE_BYTES[dtype];
  const out = new Uint8Array(data.length * size);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) {
    switch (dtype) {
      case 'F32': view.setFloat32(i * 4, data[i], true); break;
      case 'F16': view.setUint16(i * 2, floatToF16Bits(data[i]), true); break;
      case 'BF16': view.setUint16(i * 2, floatToBf16Bits(data[i]), true); break;
      case 'F8_E4M3': out[i] = floatToF8E4M3Bits(data[i]); break;
      default: throw new Error(`encodeFromF32: cannot encode float32 data as ${dtype}; pass raw bytes`);
    }
  }
  return out;
}

/** Serialise tensors (in the order given) into safetensors bytes. */
export function encodeSafetensors(tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const bytes = t.data instanceof Float32Array ? encodeFromF32(t.dtype, t.data) : t.data;
    const size = SAFETENSORS_DTYPE_BYTES[t.dtype];
    if (size !== undefined && bytes.length !== numel(t.shape) * size) {
      throw new Error(`writeSafetensors: "${name}" has ${bytes.length} bytes but ${t.dtype} ${fmtShape(t.shape)} needs ${numel(t.shape) * size}`);
    }
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    blobs.push(bytes);
    offset += bytes.length;
  }
  // Pad the header with spaces to 8 bytes, as the reference writer does, so the data is aligned.
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, ...blobs]);
}

export async function writeSafetensors(
  file: string,
  tensors: Record<string, TensorToWrite>,
  metadata?: Record<string, string>,
): Promise<void> {
  await writeFile(file, encodeSafetensors(tensors, metadata));
}
