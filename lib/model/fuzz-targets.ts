// Fuzz targets for the weight-file readers: pure functions over bytes (the parsers the file readers
// call, given a whole file's bytes), and a seeded mutator that makes inputs from valid seed files.
// They live in lib so that the benchmark (bench/fuzz/fuzz-loaders.mjs, over dist/) and the short
// deterministic fuzz in `npm test` (over lib/) run the same code.
//
// An outcome is "accepted", "rejected" (a WanError whose message and `file` name the input file), or
// a crash: any other exception (a TypeError, a RangeError, an uncoded Error) or a coded error that
// does not name the file. A crash is a bug: the readers must refuse every malformed input by code.

import { WanError } from '../errors.js';
import { parseJsonText } from './config.js';
import { parseShardIndex } from './component-plan.js';
import { parseGguf } from './gguf.js';
import { encodeGgufHeader } from './gguf-writer.js';
import { failFor, parseSafetensors } from './safetensors.js';
import { encodeSafetensors } from './safetensors-writer.js';

/** The name every target gives its input; a rejection must carry it. */
export const FUZZ_FILE = '/fuzz/input.bin';
const INDEX_FILE = '/fuzz/diffusion_pytorch_model.safetensors.index.json';

export type FuzzOutcome = { kind: 'accepted' } | { kind: 'rejected'; code: string } | { kind: 'crash'; error: string };

export interface FuzzTarget {
  name: string;
  /** Valid inputs the mutator starts from. */
  seeds: Uint8Array[];
  /** Parse the bytes; throws what the reader would throw. */
  run(bytes: Uint8Array): void;
  /** The file a rejection must name. */
  file: string;
  /** Format-aware mutations on top of the byte-level ones. */
  structured?: (bytes: Uint8Array, rng: Rng) => Uint8Array;
}

/** Run one input through a target and classify what happened. */
export function runFuzzInput(target: FuzzTarget, bytes: Uint8Array): FuzzOutcome {
  try {
    target.run(bytes);
    return { kind: 'accepted' };
  } catch (e) {
    if (e instanceof WanError) {
      const file = (e as WanError & { file?: string }).file;
      if (file === target.file && e.message.includes(target.file)) return { kind: 'rejected', code: e.code };
      return { kind: 'crash', error: `${e.code} not naming the file (file: ${String(file)}): ${e.message.slice(0, 300)}` };
    }
    return { kind: 'crash', error: e instanceof Error ? `${e.name}: ${e.message.slice(0, 300)}` : String(e) };
  }
}

// ---- seeded randomness ---------------------------------------------------------------------------

/** xorshift128+-style 32-bit generator (sfc32): fast, seedable, the same sequence on every machine. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 12; i++) this.u32();
  }
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : Math.floor((this.u32() / 2 ** 32) * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.u32() / 2 ** 32 < p;
  }
}

// ---- mutations -----------------------------------------------------------------------------------

/** Integers that sit on the edges length and count fields get wrong. */
const EDGE_U64 = [0n, 1n, 7n, 8n, 0x7fn, 0xffn, 0x7fffn, 0xffffn, 0x7fffffffn, 0xffffffffn, 0x100000000n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n];

function writeU64(b: Uint8Array, at: number, v: bigint): void {
  new DataView(b.buffer, b.byteOffset, b.byteLength).setBigUint64(at, BigInt.asUintN(64, v), true);
}
function readU64(b: Uint8Array, at: number): bigint {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(at, true);
}

/** One byte-level mutation: bit flips, byte sets, truncation, insertion, deletion, duplication,
 * integer edits at a position (lengths and counts), all positions biased to the header. */
function mutateBytes(input: Uint8Array, rng: Rng, headerEnd: number): Uint8Array {
  const b = Uint8Array.from(input);
  const pos = (n = b.length) => (rng.chance(0.8) ? rng.int(Math.min(n, Math.max(headerEnd, 1))) : rng.int(n));
  switch (rng.int(8)) {
    case 0: {
      for (let i = 1 + rng.int(8); i > 0 && b.length; i--) b[pos()] ^= 1 << rng.int(8);
      return b;
    }
    case 1: {
      if (b.length) b[pos()] = rng.pick([0, 0xff, 0x7f, 0x80, 0x20, 0x22, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x2d, 0x30, 0x39]);
      return b;
    }
    case 2:
      return b.subarray(0, rng.chance(0.5) ? pos() : rng.int(b.length + 1));
    case 3: {
      const at = pos(b.length + 1);
      const extra = Uint8Array.from({ length: 1 + rng.int(16) }, () => rng.u32() & 0xff);
      return concat(b.subarray(0, at), extra, b.subarray(at));
    }
    case 4: {
      const at = pos();
      return concat(b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + rng.int(16))));
    }
    case 5: {
      const at = pos();
      const len = 1 + rng.int(64);
      return concat(b.subarray(0, at), b.subarray(at, at + len), b.subarray(at));
    }
    case 6: {
      // An integer field: overwrite 8 (or 4) bytes at a position with an edge value or a nudge.
      if (b.length < 8) return b;
      const at = rng.int(Math.min(b.length - 7, Math.max(headerEnd, 1)));
      const old = readU64(b, at);
      const v = rng.chance(0.5) ? rng.pick(EDGE_U64) : old + BigInt(rng.int(17) - 8);
      if (rng.chance(0.3)) new DataView(b.buffer, b.byteOffset).setUint32(at, Number(BigInt.asUintN(32, v)), true);
      else writeU64(b, at, v);
      return b;
    }
    default: {
      // Append or cut whole chunks of the data section.
      return rng.chance(0.5) ? concat(b, new Uint8Array(1 + rng.int(64))) : b.subarray(0, Math.max(0, b.length - 1 - rng.int(64)));
    }
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Values JSON edits put in place of a field's. */
function randomJsonValue(rng: Rng): unknown {
  return rng.pick<() => unknown>([
    () => -1, () => 0, () => 1, () => 2 ** 53, () => 2 ** 64, () => 1e308, () => -0.5, () => 3.5, () => rng.int(1 << 20),
    () => 'F32', () => 'BF16', () => 'Q4_0', () => '', () => 'x'.repeat(rng.int(40)), () => null, () => true,
    () => [], () => [rng.int(100)], () => [rng.int(100), rng.int(100)], () => [-1, 4], () => [2 ** 53, 2 ** 53 + 8],
    () => [1, 2, 3], () => ({}), () => ({ dtype: 'F32', shape: [1], data_offsets: [0, 4] }),
  ])();
}

/** One random edit somewhere in a JSON value (replace, delete, add, duplicate), in place. */
function editJson(v: unknown, rng: Rng, depth = 0): unknown {
  if (v === null || typeof v !== 'object' || depth > 4 || rng.chance(0.15)) return randomJsonValue(rng);
  if (Array.isArray(v)) {
    if (v.length === 0 || rng.chance(0.2)) {
      v.push(randomJsonValue(rng));
      return v;
    }
    const i = rng.int(v.length);
    if (rng.chance(0.15)) v.splice(i, 1);
    else if (rng.chance(0.2)) v[i] = typeof v[i] === 'number' ? (v[i] as number) + rng.int(9) - 4 : randomJsonValue(rng);
    else v[i] = editJson(v[i], rng, depth + 1);
    return v;
  }
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 0 || rng.chance(0.1)) {
    o[rng.pick(['__metadata__', 'x', 'dtype', 'shape', 'data_offsets', 'weight_map', 'metadata', keys[0] ?? 'y'])] = randomJsonValue(rng);
    return o;
  }
  const k = rng.pick(keys);
  const r = rng.int(10);
  if (r === 0) delete o[k];
  else if (r === 1) o[`${k}.copy`] = structuredClone(o[k]);
  else o[k] = editJson(o[k], rng, depth + 1);
  return o;
}

/** A safetensors input with its header JSON edited; the length field is fixed up most of the time
 * (else the edit is usually just a bad length), and the JSON sometimes padded with spaces. */
function mutateSafetensorsJson(input: Uint8Array, rng: Rng): Uint8Array {
  if (input.length < 8) return input;
  const len = Number(readU64(input, 0));
  if (len > input.length - 8) return input;
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(input.buffer, input.byteOffset + 8, len).toString('utf8'));
  } catch {
    return input;
  }
  for (let i = 1 + rng.int(3); i > 0; i--) json = editJson(json, rng);
  const text = Buffer.from(JSON.stringify(json) + ' '.repeat(rng.chance(0.5) ? rng.int(8) : 0), 'utf8');
  const head = new Uint8Array(8);
  writeU64(head, 0, BigInt(rng.chance(0.85) ? text.length : text.length + rng.int(9) - 4));
  return concat(head, text, input.subarray(8 + len));
}

/** Stack 1-4 mutations: byte-level ones and, where the target has them, structured ones. */
export function mutate(target: FuzzTarget, seed: Uint8Array, rng: Rng): Uint8Array {
  let b = seed;
  for (let n = 1 + rng.int(4); n > 0; n--) {
    const headerEnd = headerEndOf(target, b);
    b = target.structured && rng.chance(0.4) ? target.structured(b, rng) : mutateBytes(b, rng, headerEnd);
  }
  return b;
}

function headerEndOf(target: FuzzTarget, b: Uint8Array): number {
  if (target.name === 'safetensors' && b.length >= 8) return Math.min(b.length, 8 + Number(readU64(b, 0) & 0xffffffn));
  return b.length;
}

// ---- seeds and targets ---------------------------------------------------------------------------

function safetensorsSeeds(): Uint8Array[] {
  const f = (n: number) => new Float32Array(n).map((_, i) => i * 0.25 - 1);
  return [
    encodeSafetensors({ a: { dtype: 'F32', shape: [2, 3], data: f(6) }, b: { dtype: 'BF16', shape: [4], data: f(4) } }, { format: 'pt' }),
    encodeSafetensors({
      'blocks.0.attn1.to_q.weight': { dtype: 'F16', shape: [4, 4], data: f(16) },
      'blocks.0.attn1.to_q.bias': { dtype: 'F32', shape: [4], data: f(4) },
      'blocks.0.attn1.to_q.scale_weight': { dtype: 'F32', shape: [], data: f(1) },
      'proj_out.weight': { dtype: 'F8_E4M3', shape: [8, 2], data: f(16) },
      empty: { dtype: 'F32', shape: [0, 3], data: f(0) },
      ids: { dtype: 'I64', shape: [2], data: new Uint8Array(16) },
    }),
    encodeSafetensors({}),
  ];
}

function ggufSeeds(): Uint8Array[] {
  const file = (kv: Parameters<typeof encodeGgufHeader>[0], tensors: Array<{ name: string; dtype: string; shape: number[] }>) => {
    const { header, dataBytes } = encodeGgufHeader(kv, tensors);
    const data = new Uint8Array(dataBytes);
    for (let i = 0; i < data.length; i++) data[i] = (i * 37) & 0xff;
    return concat(header, data);
  };
  return [
    file({ 'general.architecture': 'wan', 'general.alignment': 32 }, [
      { name: 'blocks.0.ffn.0.weight', dtype: 'Q8_0', shape: [4, 64] },
      { name: 'blocks.0.ffn.0.bias', dtype: 'F32', shape: [4] },
      { name: 'patch_embedding.weight', dtype: 'F16', shape: [2, 3, 1, 2, 2] },
    ]),
    file({ 'general.name': 'tiny', 'tokenizer.ggml.tokens': ['a', 'b', 'c'], 'x.ids': [1, 2, 3], 'x.big': { type: 'u64', value: 5n } }, [
      { name: 'w', dtype: 'Q4_K', shape: [2, 256] },
      { name: 'n', dtype: 'BF16', shape: [8] },
    ]),
    file({}, []),
  ];
}

function indexSeeds(): Uint8Array[] {
  const idx = (map: Record<string, string>) => Buffer.from(JSON.stringify({ metadata: { total_size: 123 }, weight_map: map }, null, 2));
  return [
    idx({ 'blocks.0.attn1.to_q.weight': 'diffusion_pytorch_model-00001-of-00002.safetensors', 'proj_out.weight': 'diffusion_pytorch_model-00002-of-00002.safetensors' }),
    idx({ a: 'model.safetensors' }),
  ];
}

export function loaderFuzzTargets(): FuzzTarget[] {
  const failSt = failFor(FUZZ_FILE);
  const failGguf = failFor(FUZZ_FILE);
  return [
    {
      name: 'safetensors',
      file: FUZZ_FILE,
      seeds: safetensorsSeeds(),
      run: (b) => void parseSafetensors(b, b.length, FUZZ_FILE, failSt),
      structured: mutateSafetensorsJson,
    },
    {
      name: 'safetensors-index',
      file: INDEX_FILE,
      seeds: indexSeeds(),
      run: (b) => void parseShardIndex(parseJsonText(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8'), INDEX_FILE), INDEX_FILE, (f) => f),
      structured: (b, rng) => {
        try {
          const json = editJson(JSON.parse(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8')), rng);
          return Buffer.from(JSON.stringify(json));
        } catch {
          return b;
        }
      },
    },
    {
      name: 'gguf',
      file: FUZZ_FILE,
      seeds: ggufSeeds(),
      run: (b) => void parseGguf(Buffer.from(b.buffer, b.byteOffset, b.byteLength), b.length, FUZZ_FILE, failGguf),
    },
  ];
}

export interface FuzzStats {
  target: string;
  seed: number;
  inputs: number;
  accepted: number;
  rejected: Record<string, number>;
  crashes: number;
  /** The first crashes: the error and the input (base64), to reproduce. */
  crashSamples: Array<{ error: string; input: string }>;
  ms: number;
}

/** Run `count` mutated inputs (seeds included first) through a target. */
export function fuzzTarget(target: FuzzTarget, count: number, seed: number, onProgress?: (done: number) => void): FuzzStats {
  const rng = new Rng(seed);
  const stats: FuzzStats = { target: target.name, seed, inputs: 0, accepted: 0, rejected: {}, crashes: 0, crashSamples: [], ms: 0 };
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const input = i < target.seeds.length ? target.seeds[i] : mutate(target, rng.pick(target.seeds), rng);
    const out = runFuzzInput(target, input);
    stats.inputs++;
    if (out.kind === 'accepted') stats.accepted++;
    else if (out.kind === 'rejected') stats.rejected[out.code] = (stats.rejected[out.code] ?? 0) + 1;
    else {
      stats.crashes++;
      if (stats.crashSamples.length < 10) stats.crashSamples.push({ error: out.error, input: Buffer.from(input).toString('base64') });
    }
    if (onProgress && (i + 1) % 100000 === 0) onProgress(i + 1);
  }
  stats.ms = Math.round(performance.now() - t0);
  return stats;
}
