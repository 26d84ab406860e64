// The GGUF reader: the fixtures' files as city96's tools write them, files built with the writer,
// and broken copies of both. Every rejection is an E_MODEL_FORMAT naming the file (and the tensor
// when one is at fault).
import { copyFile, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { readGgufHeader } from '../../lib/model/gguf.js';
import { type GgufTensorToWrite, encodeGgufHeader, ggufTensorBytes, writeGguf } from '../../lib/model/gguf-writer.js';
import { planTransformer } from '../../lib/model/transformer-plan.js';
import { MODELS, cleanup, expectModelError, tmp } from './model-helpers.js';
import { haveFixtures } from '../helpers/paths.js';

afterAll(cleanup);

const D128 = join(MODELS, 'dit-t2v-gguf-d128');
const D256 = join(MODELS, 'dit-t2v-gguf-d256');

const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 131 + seed * 17) & 0xff);
/** A tensor of the given type and shape with arbitrary bytes. */
const tensor = (name: string, dtype: string, shape: number[]): GgufTensorToWrite => ({ name, dtype, shape, data: bytes(ggufTensorBytes(dtype, shape)) });

const SMALL: GgufTensorToWrite[] = [
  tensor('a.weight', 'Q4_K', [3, 512]),
  tensor('b.bias', 'F32', [5]),
  tensor('c.weight', 'Q8_0', [2, 64]),
  tensor('d.weight', 'F32', [4, 3, 1, 2, 2]),
];
const KV = { 'general.architecture': 'wan', 'general.quantization_version': 2, 'general.file_type': 8 };

async function small(kv: Record<string, Parameters<typeof writeGguf>[1][string]> = KV, tensors = SMALL): Promise<string> {
  const f = join(await tmp(), 'model.gguf');
  await writeGguf(f, kv, tensors);
  return f;
}

/** Overwrite bytes of a file at `pos`. */
async function patch(file: string, pos: number, b: Buffer): Promise<void> {
  const buf = await readFile(file);
  b.copy(buf, pos);
  await writeFile(file, buf);
}

/** Byte position just after a tensor's name in the tensor table (where n_dims starts). */
async function afterName(file: string, name: string): Promise<number> {
  const buf = await readFile(file);
  const at = buf.indexOf(Buffer.from(name, 'utf8'));
  if (at < 0) throw new Error(`${name} not in ${file}`);
  return at + Buffer.byteLength(name);
}

const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
};
const u64 = (v: number | bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b;
};

describe('readGgufHeader on files the writer made', () => {
  it('gives torch shapes (dims reversed), dtypes, absolute 32-byte-aligned offsets and exact lengths', async () => {
    const f = await small();
    const h = await readGgufHeader(f);
    const { header, offsets } = encodeGgufHeader(KV, SMALL);
    expect(h.version).toBe(3);
    expect(h.alignment).toBe(32);
    expect(h.architecture).toBe('wan');
    expect(h.kv.get('general.quantization_version')).toBe(2);
    expect(h.dataStart).toBe(header.length);
    expect(h.dataStart % 32).toBe(0);
    expect(h.tensors.map((t) => [t.name, t.dtype, t.shape, t.offset, t.length])).toEqual([
      ['a.weight', 'Q4_K', [3, 512], header.length + offsets[0], 3 * 2 * 144],
      ['b.bias', 'F32', [5], header.length + offsets[1], 20],
      ['c.weight', 'Q8_0', [2, 64], header.length + offsets[2], 2 * 2 * 34],
      ['d.weight', 'F32', [4, 3, 1, 2, 2], header.length + offsets[3], 4 * 48],
    ]);
    const data = await readFile(f);
    const a = h.byName.get('a.weight')!;
    expect(Buffer.compare(data.subarray(a.offset, a.offset + a.length), Buffer.from(SMALL[0].data as Uint8Array))).toBe(0);
  });

  it('reads metadata of every kind and summarises long arrays by length', async () => {
    const vocab = Array.from({ length: 300 }, (_, i) => `tok${i}`);
    const f = await small({ ...KV, 'x.flag': true, 'x.scale': 0.5, 'x.big': 5n, 'x.small': ['a', 'b'], 'x.vocab': vocab, 'x.neg': { type: 'i32', value: -3 } });
    const h = await readGgufHeader(f);
    expect(h.kv.get('x.flag')).toBe(true);
    expect(h.kv.get('x.scale')).toBe(0.5);
    expect(h.kv.get('x.big')).toBe(5);
    expect(h.kv.get('x.small')).toEqual(['a', 'b']);
    expect(h.kv.get('x.vocab')).toEqual({ arrayOf: 8, length: 300 });
    expect(h.kv.get('x.neg')).toBe(-3);
  });

  it('reads a header larger than its first read (1 MiB) whole', async () => {
    const vocab = Array.from({ length: 120_000 }, (_, i) => `token-${i}-${'x'.repeat(8)}`);
    const f = await small({ ...KV, 'tokenizer.ggml.tokens': vocab });
    const h = await readGgufHeader(f);
    expect(h.dataStart).toBeGreaterThan(2 ** 21);
    expect(h.tensors).toHaveLength(4);
  });

  it('honours general.alignment', async () => {
    const f = await small({ ...KV, 'general.alignment': 64 });
    await expectModelError(readGgufHeader(f), ['tensor "b.bias" offset', 'not a multiple of the alignment 64'], { tensor: 'b.bias' });
  });
});

describe('readGgufHeader rejects broken files by name', () => {
  it('a file that is not GGUF, or of another version', async () => {
    const f = await small();
    await patch(f, 0, Buffer.from('GGML'));
    await expectModelError(readGgufHeader(f), [f, 'not a GGUF file'], { file: f });
    const g = await small();
    await patch(g, 4, u32(1));
    await expectModelError(readGgufHeader(g), [g, 'GGUF version 1 is not supported']);
  });

  it('a file cut inside the header, or inside the data', async () => {
    const f = await small();
    const { header } = encodeGgufHeader(KV, SMALL);
    await truncate(f, header.length - 40);
    await expectModelError(readGgufHeader(f), [f, 'runs past the end of the file', 'truncated']);
    const g = await small();
    const h = await readGgufHeader(g);
    const last = h.tensors[h.tensors.length - 1];
    await truncate(g, last.offset + 10);
    await expectModelError(readGgufHeader(g), [g, `tensor "${last.name}"`, 'run past the end of the file'], { file: g, tensor: last.name });
  });

  it('counts and lengths the file cannot hold', async () => {
    const f = await small();
    await patch(f, 8, u64(2n ** 40n));
    await expectModelError(readGgufHeader(f), ['header counts', 'do not fit in the file']);
    const g = await small();
    await patch(g, 24, u64(2n ** 62n)); // the first key's length
    await expectModelError(readGgufHeader(g), ['metadata key length', 'out of range']);
    const k = await small();
    await patch(k, 24, u64(1e9));
    await expectModelError(readGgufHeader(k), ['metadata key is 1000000000 bytes long']);
  });

  it('a tensor with no dims, too many dims, or an unknown type', async () => {
    for (const [nDims, msg] of [[0, 'has 0 dims'], [9, 'has 9 dims']] as const) {
      const f = await small();
      await patch(f, await afterName(f, 'b.bias'), u32(nDims));
      await expectModelError(readGgufHeader(f), [`tensor "b.bias" ${msg}`], { file: f, tensor: 'b.bias' });
    }
    const f = await small();
    await patch(f, (await afterName(f, 'b.bias')) + 4 + 8, u32(77));
    await expectModelError(readGgufHeader(f), ['tensor "b.bias" has unknown ggml type 77'], { tensor: 'b.bias' });
  });

  it('a block-type row that is not whole blocks', async () => {
    const f = await small();
    // a.weight: Q4_K [3, 512] -> stored dims [512, 3]; make the row 500 wide.
    await patch(f, (await afterName(f, 'a.weight')) + 4, u64(500));
    await expectModelError(readGgufHeader(f), ['tensor "a.weight" of type Q4_K has 500 elements per row', '256-element block'], { tensor: 'a.weight' });
  });

  it('a misaligned offset, overlapping tensors, or data past the end', async () => {
    const offsetOf = async (f: string, name: string, nDims: number) => (await afterName(f, name)) + 4 + 8 * nDims + 4;
    const f = await small();
    await patch(f, await offsetOf(f, 'c.weight', 2), u64(8));
    await expectModelError(readGgufHeader(f), ['tensor "c.weight" offset 8 is not a multiple of the alignment 32'], { tensor: 'c.weight' });
    const g = await small();
    await patch(g, await offsetOf(g, 'c.weight', 2), u64(0));
    await expectModelError(readGgufHeader(g), ['"a.weight" bytes [0,864) overlap tensor "c.weight" [0,136)'], { file: g });
    const k = await small();
    await patch(k, await offsetOf(k, 'd.weight', 5), u64(2 ** 20));
    await expectModelError(readGgufHeader(k), ['tensor "d.weight"', 'run past the end of the file'], { tensor: 'd.weight' });
  });

  it('a name or a key that appears twice', async () => {
    const f = await small(KV, [SMALL[1], { ...SMALL[1] }]).catch(() => null);
    expect(f).not.toBeNull();
    await expectModelError(readGgufHeader(f!), ['tensor "b.bias" appears twice'], { tensor: 'b.bias' });
    const g = await small({ ...KV, 'general.name': 'x', 'general.namf': 'y' });
    const buf = await readFile(g);
    buf.write('general.name', buf.indexOf('general.namf'));
    await writeFile(g, buf);
    await expectModelError(readGgufHeader(g), ['metadata key "general.name" appears twice']);
  });

  it('an alignment that is not a power of two, and a folder', async () => {
    const f = await small({ ...KV, 'general.alignment': 48 });
    await expectModelError(readGgufHeader(f), ['general.alignment 48 is not a power of two']);
    const d = await tmp();
    await expectModelError(readGgufHeader(d), [d, 'is a folder'], { file: d });
  });
});

describe.runIf(haveFixtures)('the fixtures\' GGUF transformers', () => {
  it('parses city96-style files: 5-D patch embedding, 3-D modulation, official names, arch "wan"', async () => {
    const h = await readGgufHeader(join(D128, 'dit-t2v-gguf-d128-mixed32.gguf'));
    expect(h.architecture).toBe('wan');
    expect(h.kv.get('general.quantization_version')).toBe(2);
    expect(h.byName.get('patch_embedding.weight')).toMatchObject({ dtype: 'F32', shape: [128, 16, 1, 2, 2] });
    expect(h.byName.get('blocks.0.modulation')).toMatchObject({ dtype: 'F32', shape: [1, 6, 128] });
    expect(h.byName.get('head.modulation')).toMatchObject({ dtype: 'F32', shape: [1, 2, 128] });
    expect(h.byName.get('blocks.0.self_attn.k.weight')).toMatchObject({ dtype: 'Q4_0', shape: [128, 128], length: 128 * 4 * 18 });
  });

  it('plans a transformer from the shapes alone (no config.json) with the config the case states', async () => {
    const dir = await tmp();
    const f = join(dir, 'wan.gguf');
    await copyFile(join(D256, 'dit-t2v-gguf-d256-mixedK.gguf'), f);
    const plan = await planTransformer(f);
    const manifest = JSON.parse(await readFile(join(MODELS, '..', 'cases', 'gguf', 't2v-d256-mixedk', 'manifest.json'), 'utf8'));
    const d = manifest.params.diffusers_config;
    expect(plan.config).toMatchObject({
      patchSize: d.patch_size, numHeads: d.num_attention_heads, headDim: d.attention_head_dim, inChannels: d.in_channels,
      outChannels: d.out_channels, textDim: d.text_dim, freqDim: d.freq_dim, ffnDim: d.ffn_dim, numLayers: d.num_layers,
    });
    expect(plan.dtypes).toEqual(['F32', 'F16', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K']);
    const q = plan.tensors.find((t) => t.name === 'blocks.0.attn2.to_q.weight')!;
    expect(q).toMatchObject({ storedName: 'blocks.0.cross_attn.q.weight', dtype: manifest.params.tensor_types.Q6_K.includes('blocks.0.cross_attn.q.weight') ? 'Q6_K' : q.dtype, shape: [256, 256] });
  });

  it('refuses another architecture, and a type the runtime does not read, by name', async () => {
    const src = await readGgufHeader(join(D128, 'dit-t2v-gguf-d128-F16.gguf'));
    const dir = await tmp();
    const f = join(dir, 'flux.gguf');
    const data = await readFile(src.file);
    const tensors: GgufTensorToWrite[] = src.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: data.subarray(t.offset, t.offset + t.length) }));
    await writeGguf(f, { 'general.architecture': 'flux' }, tensors);
    await expectModelError(planTransformer(f), ['general.architecture is "flux"', 'expected "wan"'], { file: f });
    const g = join(dir, 'iq.gguf');
    const i = tensors.findIndex((t) => t.name === 'blocks.0.ffn.0.weight');
    const iq = [...tensors];
    iq[i] = tensor('blocks.0.ffn.0.weight', 'IQ4_NL', iq[i].shape);
    await writeGguf(g, { 'general.architecture': 'wan' }, iq);
    await expectModelError(planTransformer(g), ['"blocks.0.ffn.0.weight"', 'has dtype IQ4_NL', 'Q4_K'], { tensor: 'blocks.0.ffn.0.weight' });
  });
});
