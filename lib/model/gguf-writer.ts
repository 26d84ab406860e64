// Writing .gguf files (version 3, 32-byte alignment), streaming: each tensor's bytes come from a
// source called when its turn comes, so a 15 GB file never sits in memory (the benchmarks write
// random Q8_0 / Q4_K transformers this way). Tests build small and deliberately broken files with it.

import { open } from 'node:fs/promises';
import { GGML_TYPES } from './gguf.js';
import { fmtShape, numel } from './safetensors.js';

/** A metadata value: strings, booleans, numbers (u32 when a non-negative integer below 2^32, else
 * f32, unless `type` says), u64 as bigint, and arrays of strings or u32. */
export type GgufWriteValue = string | boolean | number | bigint | string[] | number[] | { type: 'u32' | 'i32' | 'f32' | 'u64'; value: number | bigint };

export interface GgufTensorToWrite {
  name: string;
  /** ggml type name ('F32', 'Q8_0', ...). */
  dtype: string;
  /** Torch shape; the file stores it reversed (innermost first). */
  shape: number[];
  /** The tensor's bytes: all at once, or chunks in order (a generator). */
  data: Uint8Array | (() => Iterable<Uint8Array>);
}

const ALIGN = 32;
const TYPE_IDS = new Map([...GGML_TYPES].map(([id, t]) => [t.name, id]));

/** Bytes of a tensor of `dtype` and torch `shape`. */
export function ggufTensorBytes(dtype: string, shape: readonly number[]): number {
  const id = TYPE_IDS.get(dtype);
  if (id === undefined) throw new Error(`unknown ggml type ${dtype}`);
  const t = GGML_TYPES.get(id)!;
  const n = numel(shape);
  if (shape.length === 0 || shape[shape.length - 1] % t.elems !== 0) {
    throw new Error(`${dtype} ${fmtShape(shape)}: the last dimension must be a multiple of ${t.elems}`);
  }
  return (n / t.elems) * t.bytes;
}

class Bytes {
  private chunks: Buffer[] = [];
  length = 0;
  push(b: Buffer) {
    this.chunks.push(b);
    this.length += b.length;
  }
  u32(v: number) {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.push(b);
  }
  i32(v: number) {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    this.push(b);
  }
  f32(v: number) {
    const b = Buffer.alloc(4);
    b.writeFloatLE(v);
    this.push(b);
  }
  u64(v: number | bigint) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  str(s: string) {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.push(b);
  }
  concat(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

function writeValue(out: Bytes, v: GgufWriteValue): void {
  if (typeof v === 'string') {
    out.u32(8);
    out.str(v);
  } else if (typeof v === 'boolean') {
    out.u32(7);
    out.push(Buffer.from([v ? 1 : 0]));
  } else if (typeof v === 'bigint') {
    out.u32(10);
    out.u64(v);
  } else if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= 0 && v < 2 ** 32) {
      out.u32(4);
      out.u32(v);
    } else {
      out.u32(6);
      out.f32(v);
    }
  } else if (Array.isArray(v)) {
    out.u32(9);
    const strings = v.length > 0 && typeof v[0] === 'string';
    out.u32(strings ? 8 : 4);
    out.u64(v.length);
    for (const e of v) {
      if (strings) out.str(e as string);
      else out.u32(e as number);
    }
  } else {
    const ids = { u32: 4, i32: 5, f32: 6, u64: 10 } as const;
    out.u32(ids[v.type]);
    if (v.type === 'u32') out.u32(Number(v.value));
    else if (v.type === 'i32') out.i32(Number(v.value));
    else if (v.type === 'f32') out.f32(Number(v.value));
    else out.u64(v.value);
  }
}

/** The header (everything before the data section, padded to the alignment) and each tensor's
 * offset relative to the data section. */
export function encodeGgufHeader(kv: Record<string, GgufWriteValue>, tensors: ReadonlyArray<Pick<GgufTensorToWrite, 'name' | 'dtype' | 'shape'>>): { header: Buffer; offsets: number[]; dataBytes: number } {
  const out = new Bytes();
  out.u32(0x46554747);
  out.u32(3);
  out.u64(tensors.length);
  out.u64(Object.keys(kv).length);
  for (const [k, v] of Object.entries(kv)) {
    out.str(k);
    writeValue(out, v);
  }
  const offsets: number[] = [];
  let rel = 0;
  for (const t of tensors) {
    const id = TYPE_IDS.get(t.dtype);
    if (id === undefined) throw new Error(`unknown ggml type ${t.dtype}`);
    out.str(t.name);
    out.u32(t.shape.length);
    for (const d of [...t.shape].reverse()) out.u64(d);
    out.u32(id);
    out.u64(rel);
    offsets.push(rel);
    rel += Math.ceil(ggufTensorBytes(t.dtype, t.shape) / ALIGN) * ALIGN;
  }
  const pad = (ALIGN - (out.length % ALIGN)) % ALIGN;
  out.push(Buffer.alloc(pad));
  return { header: out.concat(), offsets, dataBytes: rel };
}

/** Write a .gguf file; tensor data is streamed from each tensor's source in turn. */
export async function writeGguf(file: string, kv: Record<string, GgufWriteValue>, tensors: readonly GgufTensorToWrite[]): Promise<void> {
  const { header } = encodeGgufHeader(kv, tensors);
  const fh = await open(file, 'w');
  try {
    await fh.write(header);
    for (const t of tensors) {
      const expected = ggufTensorBytes(t.dtype, t.shape);
      let written = 0;
      const chunks = t.data instanceof Uint8Array ? [t.data] : t.data();
      for (const c of chunks) {
        await fh.write(c);
        written += c.length;
      }
      if (written !== expected) throw new Error(`tensor "${t.name}": ${written} bytes written, ${expected} expected for ${t.dtype} ${fmtShape(t.shape)}`);
      const pad = (ALIGN - (written % ALIGN)) % ALIGN;
      if (pad) await fh.write(Buffer.alloc(pad));
    }
  } finally {
    await fh.close();
  }
}
