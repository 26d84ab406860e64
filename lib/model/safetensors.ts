// .safetensors reading: the header is parsed and checked here so that the native side can trust
// every offset it is given. Only the header bytes are read for a plan; whole tensors are read only
// by readSafetensorsF32 (test inputs, small files).

import { open, stat } from 'node:fs/promises';
import { ModelFormatError } from '../errors.js';

/** Byte size per element of every fixed-width safetensors dtype (loadable or not). */
export const SAFETENSORS_DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E4M3: 1, F8_E5M2: 1, F8_E8M0: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8,
};

/** The safetensors format caps the header at 100 MB; anything bigger is a corrupt length field. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface SafetensorsEntry {
  name: string;
  /** dtype string as stored; may be one the runtime cannot load. */
  dtype: string;
  shape: number[];
  /** Absolute byte offset of the tensor's first byte in the file. */
  offset: number;
  length: number;
}

export interface SafetensorsHeader {
  file: string;
  fileSize: number;
  /** Bytes before the data section: 8 + header length. */
  dataStart: number;
  metadata: Record<string, string> | null;
  /** Entries in header order. */
  tensors: SafetensorsEntry[];
  byName: Map<string, SafetensorsEntry>;
}

export interface ReadHeaderOptions {
  /** How to name the file in messages (defaults to the path given). */
  displayName?: string;
}

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
export const fmtShape = (shape: readonly number[]): string => `[${shape.join(',')}]`;

export async function readSafetensorsHeader(file: string, opts: ReadHeaderOptions = {}): Promise<SafetensorsHeader> {
  const shown = opts.displayName ?? file;
  const fail = failFor(file, shown);
  let fileSize: number;
  try {
    const st = await stat(file);
    if (st.isDirectory()) fail('is a folder; expected a .safetensors file');
    fileSize = st.size;
  } catch (e) {
    if (e instanceof ModelFormatError) throw e;
    return fail(`cannot read file (${(e as Error).message})`);
  }
  if (fileSize < 8) fail(`file is ${fileSize} bytes, too short for a safetensors header (needs at least 8)`);

  const fh = await open(file, 'r');
  let head: Buffer;
  try {
    const lenBuf = Buffer.alloc(8);
    await fh.read(lenBuf, 0, 8, 0);
    // Checked before the header is read, so that a corrupt length never sizes an allocation.
    const headerLen = safetensorsHeaderLength(lenBuf, fileSize, fail);
    head = Buffer.alloc(8 + headerLen);
    lenBuf.copy(head);
    const { bytesRead } = await fh.read(head, 8, headerLen, 8);
    if (bytesRead !== headerLen) fail(`short read of the header (${bytesRead} of ${headerLen} bytes)`);
  } finally {
    await fh.close();
  }
  return parseSafetensors(head, fileSize, file, fail);
}

/** The fail function every header check throws through: a ModelFormatError naming the file (and tensor). */
export function failFor(file: string, shown = file): (msg: string, tensor?: string) => never {
  return (msg, tensor) => {
    throw new ModelFormatError(`${shown}: ${msg}`, { file, tensor });
  };
}

/** The header length from the file's first 8 bytes, checked against the file size and the format's cap. */
export function safetensorsHeaderLength(first8: Uint8Array, fileSize: number, fail: (m: string) => never): number {
  if (first8.length < 8 || fileSize < 8) fail(`file is ${Math.min(first8.length, fileSize)} bytes, too short for a safetensors header (needs at least 8)`);
  const len = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (len > BigInt(fileSize - 8)) {
    fail(`header length ${len} runs past the end of the file (${fileSize} bytes): truncated or not a safetensors file`);
  }
  if (len > BigInt(MAX_HEADER_BYTES)) fail(`header length ${len} exceeds the 100 MB safetensors limit`);
  return Number(len);
}

/**
 * Parse and check a safetensors header from the file's first bytes (`head`: at least the 8-byte
 * length and the header; a whole file will do) and the file's size. Pure over bytes, so that it can
 * be fuzzed; every rejection goes through `fail`.
 */
export function parseSafetensors(head: Uint8Array, fileSize: number, file: string, fail: (msg: string, tensor?: string) => never): SafetensorsHeader {
  const headerLen = safetensorsHeaderLength(head, fileSize, fail);
  if (head.length < 8 + headerLen) throw new RangeError(`parseSafetensors: given ${head.length} bytes, the header needs ${8 + headerLen}`);
  const headerText = Buffer.from(head.buffer, head.byteOffset + 8, headerLen).toString('utf8');

  let json: unknown;
  try {
    json = JSON.parse(headerText);
  } catch (e) {
    return fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail('header is not a JSON object');

  const dataStart = 8 + headerLen;
  const dataSize = fileSize - dataStart;
  let metadata: Record<string, string> | null = null;
  const tensors: SafetensorsEntry[] = [];

  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(raw, fail);
      continue;
    }
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    if (e === null || typeof e !== 'object' || Array.isArray(e)) fail(`tensor "${name}": header entry is not an object`, name);
    if (typeof e!.dtype !== 'string') fail(`tensor "${name}": dtype must be a string`, name);
    const dtype = e!.dtype as string;
    const shape = e!.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`tensor "${name}": shape must be an array of non-negative integers (got ${JSON.stringify(shape)})`, name);
    }
    const offs = e!.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      fail(`tensor "${name}": data_offsets must be [begin, end] non-negative integers (got ${JSON.stringify(offs)})`, name);
    }
    const [begin, end] = offs as [number, number];
    if (end < begin) fail(`tensor "${name}": data_offsets [${begin},${end}] end before begin`, name);
    const itemBytes = SAFETENSORS_DTYPE_BYTES[dtype];
    const dims = shape as number[];
    const elems = numel(dims);
    if (itemBytes !== undefined && (!Number.isSafeInteger(elems * itemBytes) || end - begin !== elems * itemBytes)) {
      fail(
        `tensor "${name}": data_offsets [${begin},${end}] span ${end - begin} bytes but shape ${fmtShape(dims)} of ${dtype} needs ${elems * itemBytes}`,
        name,
      );
    }
    tensors.push({ name, dtype, shape: dims, offset: dataStart + begin, length: end - begin });
  }

  checkLayout(tensors, dataStart, dataSize, fileSize, fail);
  checkCoverage(tensors, dataStart, dataSize, fail);
  return { file, fileSize, dataStart, metadata, tensors, byName: new Map(tensors.map((t) => [t.name, t])) };
}

function parseMetadata(raw: unknown, fail: (m: string) => never): Record<string, string> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail('__metadata__ is not an object');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof v !== 'string') fail(`__metadata__ value "${k}" is not a string`);
    out[k] = v as string;
  }
  return out;
}

/** Overlap and bounds, in data order. Truncation is told apart from a bad offset by contiguity:
 * writers lay tensors end to end from 0, so a gapless layout that runs past the file means the
 * file was cut short, while a tensor past a gap means its offsets are wrong. */
function checkLayout(
  tensors: SafetensorsEntry[],
  dataStart: number,
  dataSize: number,
  fileSize: number,
  fail: (m: string, t?: string) => never,
): void {
  const sorted = [...tensors].sort((a, b) => a.offset - b.offset || a.length - b.length);
  let prevEnd = dataStart;
  let prev: SafetensorsEntry | null = null;
  let contiguous = true;
  for (const t of sorted) {
    const rel = (x: number) => x - dataStart;
    if (prev && t.offset < prevEnd && t.length > 0) {
      fail(
        `tensor "${t.name}" data_offsets [${rel(t.offset)},${rel(t.offset + t.length)}] overlap tensor "${prev.name}" [${rel(prev.offset)},${rel(prevEnd)}]`,
        t.name,
      );
    }
    if (t.offset !== prevEnd) contiguous = false;
    if (t.offset + t.length > fileSize) {
      const described = Math.max(...tensors.map((x) => x.offset + x.length)) - dataStart;
      if (contiguous) {
        fail(
          `file is truncated: ${fileSize} bytes but the header describes ${dataStart + described}; first tensor that does not fit is "${t.name}"`,
          t.name,
        );
      }
      fail(
        `tensor "${t.name}" data_offsets [${rel(t.offset)},${rel(t.offset + t.length)}] lie outside the data section (${dataSize} bytes)`,
        t.name,
      );
    }
    if (t.length > 0 || !prev) {
      prevEnd = Math.max(prevEnd, t.offset + t.length);
      prev = t;
    }
  }
}

/** The format requires the tensors to cover the data section end to end, with no hole and nothing
 * after the last one. A header length a few bytes short (its JSON still parses, the padding spaces
 * cut off) shifts every offset and shows up here as bytes left over at the end. */
function checkCoverage(tensors: SafetensorsEntry[], dataStart: number, dataSize: number, fail: (m: string, t?: string) => never): void {
  const sorted = [...tensors].sort((a, b) => a.offset - b.offset || a.length - b.length);
  let end = 0;
  let prev: SafetensorsEntry | null = null;
  for (const t of sorted) {
    const begin = t.offset - dataStart;
    if (begin < end) {
      fail(`tensor "${t.name}" data_offsets [${begin},${begin + t.length}] lie inside tensor "${prev!.name}" (which ends at ${end})`, t.name);
    }
    if (begin !== end) {
      fail(
        prev
          ? `tensor "${t.name}" data_offsets [${begin},${begin + t.length}] leave a hole of ${begin - end} bytes after tensor "${prev.name}" (ends at ${end}); the tensors must cover the data section end to end`
          : `tensor "${t.name}" data_offsets [${begin},${begin + t.length}] leave ${begin} bytes unused at the start of the data section; the first tensor must begin at 0`,
        t.name,
      );
    }
    end = begin + t.length;
    prev = t;
  }
  if (end !== dataSize) {
    fail(
      prev
        ? `${dataSize - end} bytes follow the last tensor "${prev.name}" (ends at ${end} of a ${dataSize}-byte data section): the header length field or the data_offsets are wrong`
        : `header lists no tensors but ${dataSize} data bytes follow it`,
      prev?.name,
    );
  }
}

// ---- decoding -------------------------------------------------------------------------------

const F8_E4M3_TABLE: Float32Array = (() => {
  const t = new Float32Array(256);
  for (let b = 0; b < 256; b++) {
    const sign = b & 0x80 ? -1 : 1;
    const exp = (b >> 3) & 0xf;
    const man = b & 0x7;
    // e4m3fn has no infinities: only S.1111.111 is NaN, the rest of the top binade is finite.
    if (exp === 0xf && man === 0x7) t[b] = NaN;
    else if (exp === 0) t[b] = sign * (man / 8) * 2 ** -6;
    else t[b] = sign * (1 + man / 8) * 2 ** (exp - 7);
  }
  return t;
})();

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const man = h & 0x3ff;
  if (exp === 0) return sign * man * 2 ** -24;
  if (exp === 0x1f) return man ? NaN : sign * Infinity;
  return sign * (1 + man / 1024) * 2 ** (exp - 15);
}

/** Decode raw little-endian bytes of a float dtype to float32 (no scale applied). */
export function decodeToF32(dtype: string, bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32': {
      const out = new Float32Array(bytes.byteLength / 4);
      for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    }
    case 'F16': {
      const out = new Float32Array(bytes.byteLength / 2);
      for (let i = 0; i < out.length; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
      return out;
    }
    case 'BF16': {
      const out = new Float32Array(bytes.byteLength / 2);
      const u32 = new Uint32Array(out.buffer);
      for (let i = 0; i < out.length; i++) u32[i] = view.getUint16(i * 2, true) << 16;
      return out;
    }
    case 'F8_E4M3': {
      const out = new Float32Array(bytes.byteLength);
      for (let i = 0; i < out.length; i++) out[i] = F8_E4M3_TABLE[bytes[i]];
      return out;
    }
    default:
      throw new Error(`decodeToF32: dtype ${dtype} is not a float dtype this package decodes`);
  }
}

export const FLOAT_DTYPES = ['F32', 'F16', 'BF16', 'F8_E4M3'] as const;

/** Read raw bytes of header entries (small reads; used for fp8 scales). */
export async function readTensorBytes(file: string, entries: SafetensorsEntry[]): Promise<Uint8Array[]> {
  const fh = await open(file, 'r');
  try {
    const out: Uint8Array[] = [];
    for (const e of entries) {
      const buf = Buffer.alloc(e.length);
      const { bytesRead } = await fh.read(buf, 0, e.length, e.offset);
      if (bytesRead !== e.length) throw new ModelFormatError(`${file}: short read of tensor "${e.name}"`, { file, tensor: e.name });
      out.push(buf);
    }
    return out;
  } finally {
    await fh.close();
  }
}

/** Read whole tensors as float32 (all of them, or the named ones). */
export async function readSafetensorsF32(
  file: string,
  names?: readonly string[],
): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
  const header = await readSafetensorsHeader(file);
  const entries = names
    ? names.map((n) => {
        const e = header.byName.get(n);
        if (!e) throw new ModelFormatError(`${file}: no tensor "${n}"`, { file, tensor: n });
        return e;
      })
    : header.tensors;
  for (const e of entries) {
    if (!(FLOAT_DTYPES as readonly string[]).includes(e.dtype)) {
      throw new ModelFormatError(
        `${file}: tensor "${e.name}" has dtype ${e.dtype}; readable dtypes are ${FLOAT_DTYPES.join(', ')}`,
        { file, tensor: e.name },
      );
    }
  }
  const bytes = await readTensorBytes(file, entries);
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  entries.forEach((e, i) => out.set(e.name, { shape: e.shape, data: decodeToF32(e.dtype, bytes[i]) }));
  return out;
}
