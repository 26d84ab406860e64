// Shared by the model tests: where the fixtures are, and how to build broken copies of them.

import { chmod, copyFile, cp, mkdtemp, open, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { ModelFormatError } from '../../lib/errors.js';
import { decodeToF32 } from '../../lib/model/safetensors.js';
import type { TensorRef } from '../../lib/model/types.js';

export const FIXTURES = process.env.WAN_FIXTURES ?? resolve(dirname(fileURLToPath(import.meta.url)), '../../../shared/fixtures');
export const MODELS = join(FIXTURES, 'models');
export const DIT_MODELS = [
  'dit-t2v-tiny', 'dit-t2v-tiny-low-noise', 'dit-t2v-tiny-original', 'dit-t2v-head128',
  'dit-i2v21-tiny', 'dit-i2v22-tiny', 'dit-i2v22-tiny-low-noise', 'dit-ti2v-tiny',
];

const made: string[] = [];
export async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'wan-model-test-'));
  made.push(d);
  return d;
}
/** Remove the temp folders this test file made (call from afterAll). */
export async function cleanup(): Promise<void> {
  await Promise.all(made.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

/** Copy a fixture model folder into a temp folder (as `as`, default its own name); returns the copy's path. */
export async function copyModel(name: string, into?: string, as = name): Promise<string> {
  const dst = join(into ?? (await tmp()), as);
  await cp(join(MODELS, name), dst, { recursive: true });
  // The fixtures are read-only; the copies are there to be broken.
  await chmod(dst, 0o755);
  for (const f of await readdir(dst)) await chmod(join(dst, f), 0o644);
  return dst;
}

/** Copy one fixture file to a writable temp path. */
export async function copyWritable(src: string, dst: string): Promise<string> {
  await copyFile(src, dst);
  await chmod(dst, 0o644);
  return dst;
}

export interface RawTensor {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}
export type RawHeader = Record<string, RawTensor | Record<string, string>>;

export async function readRaw(file: string): Promise<{ header: RawHeader; data: Buffer }> {
  const buf = await readFile(file);
  const n = Number(buf.readBigUInt64LE(0));
  return { header: JSON.parse(buf.subarray(8, 8 + n).toString('utf8')), data: buf.subarray(8 + n) };
}

export function rawBytes(header: object, data: Uint8Array): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, data]);
}

/** Rewrite a safetensors file's header (and optionally data) in place. */
export async function mutateFile(file: string, fn: (h: RawHeader, data: Buffer) => Buffer | void): Promise<void> {
  const { header, data } = await readRaw(file);
  const newData = fn(header, data) ?? data;
  await writeFile(file, rawBytes(header, newData));
}

export const tensorOf = (h: RawHeader, name: string) => h[name] as RawTensor;

/** Take a tensor out of a header and its bytes out of the data, moving the later tensors down, so that
 * the file stays well formed (the tensors must cover the data section end to end). */
export function dropTensor(h: RawHeader, data: Buffer, name: string): Buffer {
  const [b, e] = tensorOf(h, name).data_offsets;
  delete h[name];
  for (const [k, v] of Object.entries(h)) {
    if (k === '__metadata__') continue;
    const t = v as RawTensor;
    if (t.data_offsets[0] >= e) t.data_offsets = [t.data_offsets[0] - (e - b), t.data_offsets[1] - (e - b)];
  }
  return Buffer.concat([data.subarray(0, b), data.subarray(e)]);
}

/** Await a rejection and check it is a ModelFormatError whose message names every given fragment. */
export async function expectModelError(p: Promise<unknown>, fragments: string[], where: { file?: string; tensor?: string } = {}) {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a ModelFormatError').toBeInstanceOf(ModelFormatError);
  const e = err as ModelFormatError;
  expect(e.code).toBe('E_MODEL_FORMAT');
  for (const f of fragments) expect(e.message).toContain(f);
  if (where.file !== undefined) expect(e.file).toBe(where.file);
  if (where.tensor !== undefined) expect(e.tensor).toBe(where.tensor);
  return e;
}

/** The float32 values of a planned tensor, read from its file the way the native loader reads them. */
export async function refData(ref: TensorRef): Promise<Float32Array> {
  const fh = await open(ref.file, 'r');
  try {
    const buf = Buffer.alloc(ref.length);
    await fh.read(buf, 0, ref.length, ref.offset);
    return decodeToF32(ref.dtype, buf);
  } finally {
    await fh.close();
  }
}
