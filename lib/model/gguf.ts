// .gguf reading: the header, the metadata key/values and the tensor table are parsed and checked
// here, so that the native side can trust every offset it is given (as for safetensors). The
// result has the shape of a safetensors header: tensors under their stored names, with their torch
// shape (GGUF stores dims innermost first: the reverse), dtype name, absolute offset and length.
//
// Layout (GGUF v2/v3, little-endian): magic "GGUF", u32 version, u64 tensor count, u64 KV count;
// KV pairs (string key, u32 value type, value); tensor infos (string name, u32 n_dims, u64 dims,
// u32 ggml type, u64 offset relative to the data section); padding to `general.alignment` (32 when
// absent); the data section. Strings are a u64 length and UTF-8 bytes.

import { open, stat } from 'node:fs/promises';
import { ModelFormatError } from '../errors.js';
import type { SafetensorsEntry, SafetensorsHeader } from './safetensors.js';
import { fmtShape } from './safetensors.js';

/** ggml's tensor types by id: name, elements per block, bytes per block (ggml's type traits).
 * Every type is listed so that a file's layout can be checked whole; which of them the runtime
 * loads is STORED_DTYPES' business. */
export const GGML_TYPES: ReadonlyMap<number, { name: string; elems: number; bytes: number }> = new Map([
  [0, { name: 'F32', elems: 1, bytes: 4 }],
  [1, { name: 'F16', elems: 1, bytes: 2 }],
  [2, { name: 'Q4_0', elems: 32, bytes: 18 }],
  [3, { name: 'Q4_1', elems: 32, bytes: 20 }],
  [6, { name: 'Q5_0', elems: 32, bytes: 22 }],
  [7, { name: 'Q5_1', elems: 32, bytes: 24 }],
  [8, { name: 'Q8_0', elems: 32, bytes: 34 }],
  [9, { name: 'Q8_1', elems: 32, bytes: 40 }],
  [10, { name: 'Q2_K', elems: 256, bytes: 84 }],
  [11, { name: 'Q3_K', elems: 256, bytes: 110 }],
  [12, { name: 'Q4_K', elems: 256, bytes: 144 }],
  [13, { name: 'Q5_K', elems: 256, bytes: 176 }],
  [14, { name: 'Q6_K', elems: 256, bytes: 210 }],
  [15, { name: 'Q8_K', elems: 256, bytes: 292 }],
  [16, { name: 'IQ2_XXS', elems: 256, bytes: 66 }],
  [17, { name: 'IQ2_XS', elems: 256, bytes: 74 }],
  [18, { name: 'IQ3_XXS', elems: 256, bytes: 98 }],
  [19, { name: 'IQ1_S', elems: 256, bytes: 50 }],
  [20, { name: 'IQ4_NL', elems: 32, bytes: 18 }],
  [21, { name: 'IQ3_S', elems: 256, bytes: 110 }],
  [22, { name: 'IQ2_S', elems: 256, bytes: 82 }],
  [23, { name: 'IQ4_XS', elems: 256, bytes: 136 }],
  [24, { name: 'I8', elems: 1, bytes: 1 }],
  [25, { name: 'I16', elems: 1, bytes: 2 }],
  [26, { name: 'I32', elems: 1, bytes: 4 }],
  [27, { name: 'I64', elems: 1, bytes: 8 }],
  [28, { name: 'F64', elems: 1, bytes: 8 }],
  [29, { name: 'IQ1_M', elems: 256, bytes: 56 }],
  [30, { name: 'BF16', elems: 1, bytes: 2 }],
  [34, { name: 'TQ1_0', elems: 256, bytes: 54 }],
  [35, { name: 'TQ2_0', elems: 256, bytes: 66 }],
  [39, { name: 'MXFP4', elems: 32, bytes: 17 }],
]);

/** GGUF metadata value types. */
const VT = { U8: 0, I8: 1, U16: 2, I16: 3, U32: 4, I32: 5, F32: 6, BOOL: 7, STRING: 8, ARRAY: 9, U64: 10, I64: 11, F64: 12 } as const;
const SCALAR_BYTES: Record<number, number> = {
  [VT.U8]: 1, [VT.I8]: 1, [VT.U16]: 2, [VT.I16]: 2, [VT.U32]: 4, [VT.I32]: 4, [VT.F32]: 4, [VT.BOOL]: 1,
  [VT.U64]: 8, [VT.I64]: 8, [VT.F64]: 8,
};

/** A metadata value; arrays longer than ARRAY_KEEP (tokenizer vocabularies) keep their length only. */
export type GgufValue = number | bigint | boolean | string | GgufValue[] | { arrayOf: number; length: number };

export interface GgufHeader extends SafetensorsHeader {
  format: 'gguf';
  version: number;
  /** Data alignment in bytes (general.alignment, 32 when absent). */
  alignment: number;
  kv: Map<string, GgufValue>;
  /** general.architecture, when the file says. */
  architecture: string | null;
}

const MAGIC = 0x46554747; // "GGUF" little-endian
const DEFAULT_ALIGNMENT = 32;
/** A header (metadata + tensor table) bigger than this is a corrupt count, not a model. */
const MAX_HEADER_BYTES = 512 * 1024 * 1024;
const MAX_DIMS = 8;
const MAX_NAME_BYTES = 4096;
const MAX_NESTING = 4;
const ARRAY_KEEP = 64;

/** The header's bytes ran out before the parse finished: read more of the file and retry. */
class NeedMore extends Error {
  constructor(readonly upTo: number) {
    super('need more bytes');
  }
}

/** Is this file a GGUF (by its first four bytes)? */
export async function isGgufFile(file: string): Promise<boolean> {
  try {
    const fh = await open(file, 'r');
    try {
      const b = Buffer.alloc(4);
      const { bytesRead } = await fh.read(b, 0, 4, 0);
      return bytesRead === 4 && b.readUInt32LE(0) === MAGIC;
    } finally {
      await fh.close();
    }
  } catch {
    return false;
  }
}

export interface ReadGgufOptions {
  /** How to name the file in messages (defaults to the path given). */
  displayName?: string;
}

export async function readGgufHeader(file: string, opts: ReadGgufOptions = {}): Promise<GgufHeader> {
  const shown = opts.displayName ?? file;
  const fail = (msg: string, tensor?: string): never => {
    throw new ModelFormatError(`${shown}: ${msg}`, { file, tensor });
  };
  let fileSize: number;
  try {
    const st = await stat(file);
    if (st.isDirectory()) fail('is a folder, not a .gguf file');
    fileSize = st.size;
  } catch (e) {
    if (e instanceof ModelFormatError) throw e;
    return fail(`cannot read file (${(e as Error).message})`);
  }
  if (fileSize < 24) fail(`file is ${fileSize} bytes, too short for a GGUF header (needs at least 24)`);
  const fh = await open(file, 'r');
  try {
    let size = Math.min(fileSize, 1 << 20);
    for (;;) {
      const buf = Buffer.alloc(size);
      const { bytesRead } = await fh.read(buf, 0, size, 0);
      if (bytesRead !== size) fail(`short read of the header (${bytesRead} of ${size} bytes)`);
      try {
        return parseGguf(buf, fileSize, file, fail);
      } catch (e) {
        if (!(e instanceof NeedMore)) throw e;
        if (size >= MAX_HEADER_BYTES) fail(`header is larger than ${MAX_HEADER_BYTES / 2 ** 20} MB: a corrupt count or length`);
        size = Math.min(fileSize, MAX_HEADER_BYTES, Math.max(size * 4, e.upTo));
      }
    }
  } finally {
    await fh.close();
  }
}

/** Parse a header held in `buf` (the first buf.length bytes of a file of fileSize bytes). */
export function parseGguf(buf: Buffer, fileSize: number, file: string, fail: (msg: string, tensor?: string) => never): GgufHeader {
  let pos = 0;
  let where = 'the header';
  // Bounds: past the buffer but within the file -> read more; past the file -> truncated/corrupt.
  const need = (n: number) => {
    if (pos + n <= buf.length) return;
    if (pos + n > fileSize) fail(`${where} runs past the end of the file (${fileSize} bytes): truncated or corrupt`);
    throw new NeedMore(pos + n);
  };
  const u32 = () => {
    need(4);
    const v = buf.readUInt32LE(pos);
    pos += 4;
    return v;
  };
  const u64 = (what: string): number => {
    need(8);
    const v = buf.readBigUInt64LE(pos);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${what} ${v} is out of range`);
    return Number(v);
  };
  const str = (what: string, max = Infinity): string => {
    const len = u64(`${what} length`);
    if (len > max) fail(`${what} is ${len} bytes long (at most ${max})`);
    if (pos + len > fileSize) fail(`${what} (${len} bytes) runs past the end of the file (${fileSize} bytes): truncated or corrupt`);
    need(len);
    const s = buf.toString('utf8', pos, pos + len);
    pos += len;
    return s;
  };
  const scalar = (type: number): GgufValue => {
    const n = SCALAR_BYTES[type];
    need(n);
    let v: GgufValue;
    switch (type) {
      case VT.U8: v = buf.readUInt8(pos); break;
      case VT.I8: v = buf.readInt8(pos); break;
      case VT.U16: v = buf.readUInt16LE(pos); break;
      case VT.I16: v = buf.readInt16LE(pos); break;
      case VT.U32: v = buf.readUInt32LE(pos); break;
      case VT.I32: v = buf.readInt32LE(pos); break;
      case VT.F32: v = buf.readFloatLE(pos); break;
      case VT.BOOL: v = buf.readUInt8(pos) !== 0; break;
      case VT.F64: v = buf.readDoubleLE(pos); break;
      case VT.U64: {
        const b = buf.readBigUInt64LE(pos);
        v = b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
        break;
      }
      default: {
        const b = buf.readBigInt64LE(pos);
        v = b <= BigInt(Number.MAX_SAFE_INTEGER) && b >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(b) : b;
      }
    }
    pos += n;
    return v;
  };
  const value = (type: number, depth: number): GgufValue => {
    if (type in SCALAR_BYTES) return scalar(type);
    if (type === VT.STRING) return str('string value');
    if (type !== VT.ARRAY) return fail(`${where} has unknown value type ${type}`);
    if (depth >= MAX_NESTING) fail(`${where} nests arrays more than ${MAX_NESTING} deep`);
    const elemType = u32();
    const count = u64('array length');
    // Every element takes at least one byte (eight for a string's length): a count the rest of
    // the file cannot hold is corrupt, and is refused before looping over it.
    const minBytes = elemType in SCALAR_BYTES ? SCALAR_BYTES[elemType] : 8;
    if (count * minBytes > fileSize - pos) fail(`${where}: array of ${count} elements does not fit in the file`);
    if (elemType in SCALAR_BYTES && count > ARRAY_KEEP) {
      need(count * minBytes);
      pos += count * minBytes;
      return { arrayOf: elemType, length: count };
    }
    const out: GgufValue[] = [];
    for (let i = 0; i < count; i++) {
      const v = value(elemType, depth + 1);
      if (count <= ARRAY_KEEP) out.push(v);
    }
    return count <= ARRAY_KEEP ? out : { arrayOf: elemType, length: count };
  };

  need(4);
  if (buf.readUInt32LE(0) !== MAGIC) fail('not a GGUF file (the first four bytes are not "GGUF")');
  pos = 4;
  const version = u32();
  if (version !== 2 && version !== 3) fail(`GGUF version ${version} is not supported (2 and 3 are)`);
  const tensorCount = u64('tensor count');
  const kvCount = u64('metadata count');
  // A tensor info takes at least 8 (name) + 4 + 8 + 4 + 8 bytes, a KV pair 8 + 4 + 1.
  if (tensorCount * 32 > fileSize || kvCount * 13 > fileSize) fail(`header counts (${tensorCount} tensors, ${kvCount} metadata keys) do not fit in the file`);

  const kv = new Map<string, GgufValue>();
  for (let i = 0; i < kvCount; i++) {
    where = `metadata entry ${i}`;
    const key = str('metadata key', MAX_NAME_BYTES);
    where = `metadata "${key}"`;
    if (kv.has(key)) fail(`metadata key "${key}" appears twice`);
    kv.set(key, value(u32(), 0));
  }
  let alignment = DEFAULT_ALIGNMENT;
  if (kv.has('general.alignment')) {
    const a = kv.get('general.alignment');
    if (typeof a !== 'number' || a <= 0 || (a & (a - 1)) !== 0) fail(`general.alignment ${String(a)} is not a power of two`);
    alignment = a as number;
  }
  const arch = kv.get('general.architecture');
  if (arch !== undefined && typeof arch !== 'string') fail('general.architecture is not a string');

  interface Raw { name: string; dims: number[]; type: number; rel: number }
  const raws: Raw[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    where = `tensor info ${i}`;
    const name = str('tensor name', MAX_NAME_BYTES);
    where = `tensor "${name}"`;
    if (names.has(name)) fail(`tensor "${name}" appears twice in the tensor table`, name);
    names.add(name);
    const nDims = u32();
    if (nDims < 1 || nDims > MAX_DIMS) fail(`tensor "${name}" has ${nDims} dims (1 to ${MAX_DIMS} are readable)`, name);
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) dims.push(u64(`tensor "${name}" dim ${d}`));
    const type = u32();
    const rel = u64(`tensor "${name}" offset`);
    raws.push({ name, dims, type, rel });
  }
  const dataStart = Math.ceil(pos / alignment) * alignment;
  if (dataStart > fileSize && tensorCount > 0) fail(`file is truncated: the data section would start at byte ${dataStart} of ${fileSize}`);

  const tensors: SafetensorsEntry[] = [];
  for (const r of raws) {
    const t = GGML_TYPES.get(r.type);
    if (!t) fail(`tensor "${r.name}" has unknown ggml type ${r.type}`, r.name);
    let numel = 1;
    for (const d of r.dims) {
      numel *= d;
      if (!Number.isSafeInteger(numel)) fail(`tensor "${r.name}" dims ${fmtShape(r.dims)} are too large`, r.name);
    }
    if (r.dims[0] % t!.elems !== 0) {
      fail(`tensor "${r.name}" of type ${t!.name} has ${r.dims[0]} elements per row, not a multiple of its ${t!.elems}-element block`, r.name);
    }
    if (r.rel % alignment !== 0) fail(`tensor "${r.name}" offset ${r.rel} is not a multiple of the alignment ${alignment}`, r.name);
    const length = (numel / t!.elems) * t!.bytes;
    tensors.push({ name: r.name, dtype: t!.name, shape: [...r.dims].reverse(), offset: dataStart + r.rel, length });
  }
  checkGgufLayout(tensors, dataStart, fileSize, fail);
  return {
    format: 'gguf',
    file,
    fileSize,
    dataStart,
    metadata: null,
    tensors,
    byName: new Map(tensors.map((t) => [t.name, t])),
    version,
    alignment,
    kv,
    architecture: typeof arch === 'string' ? arch : null,
  };
}

/** Every tensor inside the data section, none overlapping another. */
function checkGgufLayout(tensors: SafetensorsEntry[], dataStart: number, fileSize: number, fail: (m: string, t?: string) => never): void {
  const sorted = [...tensors].sort((a, b) => a.offset - b.offset || a.length - b.length);
  let prev: SafetensorsEntry | null = null;
  for (const t of sorted) {
    const rel = (x: number) => x - dataStart;
    if (t.offset + t.length > fileSize) {
      fail(
        `tensor "${t.name}" bytes [${rel(t.offset)},${rel(t.offset + t.length)}) of the data section run past the end of the file (${fileSize - dataStart} data bytes): truncated or corrupt`,
        t.name,
      );
    }
    if (prev && t.length > 0 && t.offset < prev.offset + prev.length) {
      fail(
        `tensor "${t.name}" bytes [${rel(t.offset)},${rel(t.offset + t.length)}) overlap tensor "${prev.name}" [${rel(prev.offset)},${rel(prev.offset + prev.length)})`,
        t.name,
      );
    }
    if (t.length > 0) prev = t;
  }
}
