import { mkdir, open, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSafetensorsF32, readSafetensorsHeader } from '../../lib/model/safetensors.js';
import {
  encodeSafetensors, floatToBf16Bits, floatToF16Bits, floatToF8E4M3Bits, writeSafetensors,
} from '../../lib/model/safetensors-writer.js';
import { MODELS, cleanup, copyWritable, expectModelError, mutateFile, rawBytes, tensorOf, tmp } from './model-helpers.js';

afterAll(cleanup);
const T2V = join(MODELS, 'dit-t2v-tiny', 'diffusion_pytorch_model.safetensors');

async function brokenCopy(): Promise<string> {
  const f = join(await tmp(), 'diffusion_pytorch_model.safetensors');
  await copyWritable(T2V, f);
  return f;
}

describe('readSafetensorsHeader', () => {
  it('parses a fixture header with absolute offsets', async () => {
    const h = await readSafetensorsHeader(T2V);
    expect(h.metadata).toEqual({ format: 'pt' });
    expect(h.dataStart).toBe(8 + 6352);
    expect(h.tensors).toHaveLength(69);
    const q = h.byName.get('blocks.0.attn1.to_q.weight')!;
    expect(q).toEqual({ name: 'blocks.0.attn1.to_q.weight', dtype: 'F32', shape: [48, 48], offset: 8 + 6352 + 19392, length: 9216 });
  });

  it('reads tensors as float32, all or by name', async () => {
    const all = await readSafetensorsF32(T2V);
    expect(all.size).toBe(69);
    const some = await readSafetensorsF32(T2V, ['patch_embedding.bias']);
    expect([...some.keys()]).toEqual(['patch_embedding.bias']);
    expect(some.get('patch_embedding.bias')!.data).toEqual(all.get('patch_embedding.bias')!.data);
    expect(some.get('patch_embedding.bias')!.shape).toEqual([48]);
  });

  it('rejects a file shorter than 8 bytes', async () => {
    const f = join(await tmp(), 'tiny.safetensors');
    await writeFile(f, Buffer.from([1, 2, 3]));
    await expectModelError(readSafetensorsHeader(f), [f, 'file is 3 bytes'], { file: f });
  });

  it('rejects a header length beyond the file', async () => {
    const f = await brokenCopy();
    await truncate(f, 100);
    await expectModelError(readSafetensorsHeader(f), [f, 'header length 6352 runs past the end of the file (100 bytes)']);
  });

  it('rejects a header that is not JSON', async () => {
    const f = join(await tmp(), 'bad.safetensors');
    await writeFile(f, rawBytes({}, Buffer.alloc(0)).fill(0x7b, 8));
    await expectModelError(readSafetensorsHeader(f), [f, 'header is not valid JSON']);
  });

  it('truncated file: names the file and the first tensor that does not fit', async () => {
    const f = await brokenCopy();
    await truncate(f, 8 + 6352 + 361536 - 100); // cut inside the last tensor, scale_shift_table
    const e = await expectModelError(
      readSafetensorsHeader(f),
      [f, 'file is truncated', 'first tensor that does not fit is "scale_shift_table"'],
      { file: f, tensor: 'scale_shift_table' },
    );
    expect(e.message).toBe(
      `${f}: file is truncated: ${8 + 6352 + 361536 - 100} bytes but the header describes ${8 + 6352 + 361536}; first tensor that does not fit is "scale_shift_table"`,
    );
  });

  it('data_offsets out of range: a tensor placed past the data section', async () => {
    const f = await brokenCopy();
    await mutateFile(f, (h) => {
      tensorOf(h, 'patch_embedding.bias').data_offsets = [400000, 400192];
    });
    await expectModelError(
      readSafetensorsHeader(f),
      [f, 'tensor "patch_embedding.bias" data_offsets [400000,400192] lie outside the data section'],
      { file: f, tensor: 'patch_embedding.bias' },
    );
  });

  it('data_offsets whose span does not match shape x dtype', async () => {
    const f = await brokenCopy();
    await mutateFile(f, (h) => {
      tensorOf(h, 'proj_out.bias').data_offsets = [348608, 348800];
    });
    await expectModelError(
      readSafetensorsHeader(f),
      [f, 'tensor "proj_out.bias": data_offsets [348608,348800] span 192 bytes but shape [64] of F32 needs 256'],
      { tensor: 'proj_out.bias' },
    );
  });

  it('overlapping data_offsets: names both tensors', async () => {
    const f = await brokenCopy();
    await mutateFile(f, (h) => {
      // blocks.0.attn1.norm_q.weight is [192,384]; move to_k.bias (192 bytes) onto its second half.
      tensorOf(h, 'blocks.0.attn1.to_k.bias').data_offsets = [288, 480];
    });
    await expectModelError(
      readSafetensorsHeader(f),
      [f, 'tensor "blocks.0.attn1.to_k.bias" data_offsets [288,480] overlap tensor "blocks.0.attn1.norm_q.weight" [192,384]'],
      { tensor: 'blocks.0.attn1.to_k.bias' },
    );
  });

  it('rejects negative dims and non-integer offsets', async () => {
    const f = await brokenCopy();
    await mutateFile(f, (h) => {
      tensorOf(h, 'patch_embedding.bias').shape = [-48];
    });
    await expectModelError(readSafetensorsHeader(f), ['tensor "patch_embedding.bias": shape must be an array of non-negative integers (got [-48])']);
    await mutateFile(f, (h) => {
      tensorOf(h, 'patch_embedding.bias').shape = [48];
      (tensorOf(h, 'patch_embedding.bias') as unknown as { data_offsets: unknown }).data_offsets = [336128.5, 336320];
    });
    await expectModelError(readSafetensorsHeader(f), ['tensor "patch_embedding.bias": data_offsets must be [begin, end] non-negative integers']);
  });

  // The format requires the tensors to cover the data section end to end; a file that does not is
  // read misaligned or has bytes no tensor accounts for.
  const two = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } };
  async function rawFile(header: object, data: Buffer, pad = ''): Promise<string> {
    const f = join(await tmp(), 'raw.safetensors');
    const json = Buffer.from(JSON.stringify(header) + pad, 'utf8');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    await writeFile(f, Buffer.concat([len, json, data]));
    return f;
  }

  it('a header length a few bytes short (the JSON still parses, its padding cut) is refused, naming the last tensor', async () => {
    const good = await rawFile(two, Buffer.alloc(12), '    ');
    expect((await readSafetensorsHeader(good)).tensors.map((t) => t.offset - 8 - JSON.stringify(two).length - 4)).toEqual([0, 8]);
    for (const k of [1, 2, 3, 4]) {
      const f = await rawFile(two, Buffer.alloc(12), '    ');
      const fh = await open(f, 'r+');
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(JSON.stringify(two).length + 4 - k));
      await fh.write(len, 0, 8, 0);
      await fh.close();
      const e = await expectModelError(readSafetensorsHeader(f), [f, `${k} bytes follow the last tensor "b" (ends at 12 of a ${12 + k}-byte data section)`], { file: f, tensor: 'b' });
      expect(e.message).toContain('the header length field or the data_offsets are wrong');
    }
    // On the fixture too: its header is padded with spaces to a multiple of 8.
    const f = await brokenCopy();
    const buf = await readFile(f);
    buf.writeBigUInt64LE(buf.readBigUInt64LE(0) - 1n, 0);
    await writeFile(f, buf);
    await expectModelError(readSafetensorsHeader(f), [f, '1 bytes follow the last tensor'], { file: f });
  });

  it('a hole between tensors, unused bytes before the first, bytes after the last, or an empty tensor inside another', async () => {
    const hole = await rawFile({ a: two.a, b: { ...two.b, data_offsets: [12, 16] } }, Buffer.alloc(16));
    await expectModelError(readSafetensorsHeader(hole), [hole, 'tensor "b" data_offsets [12,16] leave a hole of 4 bytes after tensor "a" (ends at 8)'], { file: hole, tensor: 'b' });
    const start = await rawFile({ a: { ...two.a, data_offsets: [4, 12] } }, Buffer.alloc(12));
    await expectModelError(readSafetensorsHeader(start), ['tensor "a" data_offsets [4,12] leave 4 bytes unused at the start of the data section'], { tensor: 'a' });
    const extra = await rawFile(two, Buffer.alloc(20));
    await expectModelError(readSafetensorsHeader(extra), ['8 bytes follow the last tensor "b" (ends at 12 of a 20-byte data section)'], { tensor: 'b' });
    const none = await rawFile({ __metadata__: { format: 'pt' } }, Buffer.alloc(3));
    await expectModelError(readSafetensorsHeader(none), ['header lists no tensors but 3 data bytes follow it']);
    const inside = await rawFile({ ...two, e: { dtype: 'F32', shape: [0], data_offsets: [4, 4] } }, Buffer.alloc(12));
    await expectModelError(readSafetensorsHeader(inside), ['tensor "e" data_offsets [4,4] lie inside tensor "a" (which ends at 8)'], { tensor: 'e' });
    // An empty tensor where the next one begins, and an empty file of no tensors, are well formed.
    const empty = await rawFile({ ...two, e: { dtype: 'F32', shape: [0], data_offsets: [8, 8] } }, Buffer.alloc(12));
    expect((await readSafetensorsHeader(empty)).tensors).toHaveLength(3);
    expect((await readSafetensorsHeader(await rawFile({}, Buffer.alloc(0)))).tensors).toHaveLength(0);
  });

  it('a folder where a .safetensors file is expected: a coded error naming it, not EISDIR', async () => {
    const d = join(await tmp(), 'model.safetensors');
    await mkdir(d);
    await expectModelError(readSafetensorsHeader(d), [`${d}: is a folder; expected a .safetensors file`], { file: d });
  });

  it('checks the byte length of non-loadable dtypes too (I64)', async () => {
    const f = join(await tmp(), 'i64.safetensors');
    await writeFile(f, rawBytes({ ids: { dtype: 'I64', shape: [3], data_offsets: [0, 16] } }, Buffer.alloc(16)));
    await expectModelError(readSafetensorsHeader(f), ['tensor "ids": data_offsets [0,16] span 16 bytes but shape [3] of I64 needs 24']);
  });
});

describe('writeSafetensors', () => {
  const values = new Float32Array([0, 1, -2.5, 0.333251953125, 448, -0.015625, 3.0e-5, 1e-3]);

  it('round-trips F32, F16, BF16 and F8_E4M3', async () => {
    const f = join(await tmp(), 'mixed.safetensors');
    await writeSafetensors(
      f,
      {
        a32: { dtype: 'F32', shape: [2, 4], data: values },
        a16: { dtype: 'F16', shape: [8], data: values },
        abf: { dtype: 'BF16', shape: [8], data: values },
        af8: { dtype: 'F8_E4M3', shape: [8], data: values },
      },
      { format: 'pt' },
    );
    const h = await readSafetensorsHeader(f);
    expect(h.metadata).toEqual({ format: 'pt' });
    expect(h.dataStart % 8).toBe(0);
    const t = await readSafetensorsF32(f);
    expect([...t.get('a32')!.data]).toEqual([...values]);
    expect(t.get('a32')!.shape).toEqual([2, 4]);
    // Expected values: round-to-nearest-even into each format (numpy's float16, torch's bf16/e4m3fn casts).
    expect([...t.get('a16')!.data]).toEqual([0, 1, -2.5, 0.333251953125, 448, -0.015625, 2.9981136322021484e-5, 0.0010004043579101562]);
    expect([...t.get('abf')!.data]).toEqual([0, 1, -2.5, 0.333984375, 448, -0.015625, 3.0040740966796875e-5, 0.00099945068359375]);
    expect([...t.get('af8')!.data]).toEqual([0, 1, -2.5, 0.34375, 448, -0.015625, 0, 0.001953125]);
  });

  it('encodes the edge cases of each format', () => {
    expect(floatToF16Bits(65504)).toBe(0x7bff);
    expect(floatToF16Bits(70000)).toBe(0x7c00);
    expect(floatToF16Bits(2 ** -24)).toBe(0x0001);
    expect(floatToF16Bits(-0)).toBe(0x8000);
    expect(floatToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie rounds to even
    expect(floatToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(floatToBf16Bits(1 + 2 ** -8)).toBe(0x3f80);
    expect(floatToBf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(floatToF8E4M3Bits(448)).toBe(0x7e);
    expect(floatToF8E4M3Bits(1000)).toBe(0x7e); // saturates: e4m3fn has no infinity
    expect(floatToF8E4M3Bits(-(2 ** -9))).toBe(0x81);
    expect(floatToF8E4M3Bits(NaN)).toBe(0x7f);
  });

  it('refuses data whose size does not match the shape', () => {
    expect(() => encodeSafetensors({ x: { dtype: 'F32', shape: [3], data: new Uint8Array(8) } })).toThrow(
      'writeSafetensors: "x" has 8 bytes but F32 [3] needs 12',
    );
  });
});
