// GGUF weights on the CPU backend: block decoding and compressed products against gguf-py (the
// repository's own reference case), the public gguf cases with their dequantized tensors bit-exact,
// matrices kept compressed in memory, LoRA merged exactly onto a quantized weight, and the UMT5
// encoder read from llama.cpp's T5 names.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadAddon } from '../../lib/bindings/loader.js';
import type { NativeTensor, NativeTransformer } from '../../lib/bindings/native.js';
import { relL2 } from '../../lib/conformance/compare.js';
import { runConformance } from '../../lib/conformance/runner.js';
import { readGgufHeader } from '../../lib/model/gguf.js';
import { type GgufTensorToWrite, writeGguf } from '../../lib/model/gguf-writer.js';
import { weightBytes } from '../../lib/model/memory.js';
import { readSafetensorsF32, readSafetensorsHeader } from '../../lib/model/safetensors.js';
import { writeSafetensors } from '../../lib/model/safetensors-writer.js';
import { planTextEncoder } from '../../lib/model/text-encoder-plan.js';
import { planTransformer } from '../../lib/model/transformer-plan.js';
import { fixturesRoot, haveFixtures, repoRoot } from '../helpers/paths.js';
import { quantizeQ8_0 } from '../helpers/q8_0.js';

const { addon } = loadAddon('cpu');

describe('GGUF block decoding against gguf-py (test/fixtures)', () => {
  it('decodes every block type bit-exactly and multiplies with it kept compressed', async () => {
    const report = await runConformance(join(repoRoot, 'test', 'fixtures'), addon, { families: ['gguf-blocks'] });
    expect(report.cases.map((c) => [c.case, c.status, c.reason])).toEqual([['gguf-blocks/random-blocks', 'pass', undefined]]);
    const errors = report.cases[0].tensors!;
    const types = ['q8_0', 'q4_0', 'q4_1', 'q5_0', 'q5_1', 'q2_k', 'q3_k', 'q4_k', 'q5_k', 'q6_k'];
    for (const t of types) {
      expect(errors[`out.dequant.${t}`], t).toBe(0);
      expect(errors[`out.linear.${t}`], t).toBeLessThan(1e-6);
    }
  });
});

describe('the panel path (a BLAS build\'s way of widening: per panel of rows, then sgemm)', () => {
  it('gives the same products (WAN_VIDEO_QGEMM=panel, in a child process: the choice is made at load)', () => {
    const cli = join(repoRoot, 'dist', 'cli', 'main.js');
    const r = spawnSync(process.execPath, [cli, 'conformance', join(repoRoot, 'test', 'fixtures'), '--family', 'gguf-blocks', '--json'], {
      encoding: 'utf8', env: { ...process.env, WAN_VIDEO_DEVICE: 'cpu', WAN_VIDEO_QGEMM: 'panel' },
    });
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { cases: Array<{ status: string; tensors: Record<string, number> }> };
    expect(report.cases.map((c) => c.status)).toEqual(['pass']);
    for (const [name, e] of Object.entries(report.cases[0].tensors)) if (name.startsWith('out.linear.')) expect(e, name).toBeLessThan(1e-6);
  });
});

describe.runIf(haveFixtures)('the gguf cases of the shared fixtures', () => {
  it('pass, with every dequantized tensor bit-exact', async () => {
    const report = await runConformance(fixturesRoot, addon, { families: ['gguf'] });
    expect(report.cases.length).toBeGreaterThanOrEqual(4);
    for (const c of report.cases) {
      expect(c.status, `${c.case}: ${c.reason ?? ''}`).toBe('pass');
      for (const [name, e] of Object.entries(c.tensors ?? {})) if (name.startsWith('out.dequant.')) expect(e, `${c.case} ${name}`).toBe(0);
    }
    const dequant = report.cases.flatMap((c) => Object.keys(c.tensors ?? {}).filter((n) => n.startsWith('out.dequant.')));
    expect(dequant.length).toBeGreaterThanOrEqual(12);
  });
});

describe.runIf(haveFixtures)('a quantized transformer in memory', () => {
  const file = join(fixturesRoot, 'models', 'dit-t2v-gguf-d128', 'dit-t2v-gguf-d128-mixed32.gguf');
  let model: NativeTransformer;
  let plan: Awaited<ReturnType<typeof planTransformer>>;
  beforeAll(async () => {
    plan = await planTransformer(file);
    model = await addon.loadTransformer(plan);
  });
  afterAll(() => model?.dispose());

  it('keeps the matrices at their stored size, as the memory estimate says', () => {
    const f32 = plan.tensors.reduce((n, t) => n + 4 * t.shape.reduce((a, b) => a * b, 1), 0);
    expect(model.weightBytes).toBe(weightBytes(plan, 'cpu'));
    expect(model.weightBytes).toBeLessThan(0.45 * f32);
  });

  it('merges a LoRA onto a Q4_0 weight exactly (in float32) and restores the quantized base', async () => {
    const target = 'blocks.0.attn1.to_k.weight'; // Q4_0 in this file
    expect(plan.tensors.find((t) => t.name === target)?.dtype).toBe('Q4_0');
    const base = await model.readWeight(target);
    const dir = mkdtempSync(join(tmpdir(), 'wan-gguf-lora-'));
    const diff = Float32Array.from({ length: base.data.length }, (_, i) => Math.sin(i * 0.37) * 1e-3);
    const loraFile = join(dir, 'diff.safetensors');
    await writeSafetensors(loraFile, { d: { dtype: 'F32', shape: base.shape, data: diff } });
    const h = await readSafetensorsHeader(loraFile);
    const e = h.byName.get('d')!;
    const r = await model.applyLoras({
      tensors: [{ name: 'd', file: loraFile, offset: e.offset, length: e.length, dtype: 'F32', shape: e.shape }],
      updates: [{ target, scale: 0.75, diff: 'd' }],
    });
    expect(r.targets).toBe(1);
    expect(r.widened).toEqual({ Q4_0: 1 }); // the LoRA report says the quantized base was merged in a wider copy
    // The merged copy is float32: a weight re-quantized to Q4_0 would lose the 1e-3 delta.
    expect(r.baseBytes).toBe(base.data.length * 4);
    const merged = await model.readWeight(target);
    const expected = base.data.map((v, i) => v + 0.75 * diff[i]);
    expect(relL2(merged.data, expected)).toBeLessThan(1e-7);
    // The delta survives whole (a Q4_0 step here is ~100x the delta: re-quantizing would erase it).
    const delta = merged.data.map((v, i) => v - base.data[i]);
    expect(relL2(delta, diff.map((v) => 0.75 * v))).toBeLessThan(1e-3);
    await model.clearLoras();
    expect((await model.readWeight(target)).data).toEqual(base.data);
    expect(model.loraBaseBytes).toBe(0);
    // A read called while a merge is still queued is served after it, on the device thread (the
    // slot is not taken on the JS thread while the merge may rebind it).
    const pending = model.applyLoras({
      tensors: [{ name: 'd', file: loraFile, offset: e.offset, length: e.length, dtype: 'F32', shape: e.shape }],
      updates: [{ target, scale: 0.75, diff: 'd' }],
    });
    const racing = model.readWeight(target);
    await pending;
    expect(relL2((await racing).data, expected)).toBeLessThan(1e-7);
    expect(model.loraBaseBytes).toBe(base.data.length * 4);
    await model.clearLoras();
    expect(model.loraBaseBytes).toBe(0);
  });
});

/** HF UMT5EncoderModel names -> llama.cpp's T5 names (gguf-py MODEL_ARCH.T5ENCODER). */
function llamaCppT5Name(n: string): string {
  const rules: Array<[RegExp, string]> = [
    [/^(encoder\.embed_tokens|shared)\.weight$/, 'token_embd.weight'],
    [/^encoder\.final_layer_norm\.weight$/, 'enc.output_norm.weight'],
    [/^encoder\.block\.(\d+)\.layer\.0\.layer_norm\.weight$/, 'enc.blk.$1.attn_norm.weight'],
    [/^encoder\.block\.(\d+)\.layer\.0\.SelfAttention\.relative_attention_bias\.weight$/, 'enc.blk.$1.attn_rel_b.weight'],
    [/^encoder\.block\.(\d+)\.layer\.0\.SelfAttention\.([qkvo])\.weight$/, 'enc.blk.$1.attn_$2.weight'],
    [/^encoder\.block\.(\d+)\.layer\.1\.layer_norm\.weight$/, 'enc.blk.$1.ffn_norm.weight'],
    [/^encoder\.block\.(\d+)\.layer\.1\.DenseReluDense\.wi_0\.weight$/, 'enc.blk.$1.ffn_gate.weight'],
    [/^encoder\.block\.(\d+)\.layer\.1\.DenseReluDense\.wi_1\.weight$/, 'enc.blk.$1.ffn_up.weight'],
    [/^encoder\.block\.(\d+)\.layer\.1\.DenseReluDense\.wo\.weight$/, 'enc.blk.$1.ffn_down.weight'],
  ];
  for (const [re, to] of rules) if (re.test(n)) return n.replace(re, to);
  throw new Error(`no llama.cpp name for ${n}`);
}

describe.runIf(haveFixtures)('the UMT5 encoder from a GGUF file with llama.cpp\'s T5 names', () => {
  const folder = join(fixturesRoot, 'models', 'tiny-umt5', 'text_encoder');
  let ids: { ids: Int32Array; mask: Int32Array; shape: [number, number] };
  let expected: NativeTensor;
  let weights: Map<string, { shape: number[]; data: Float32Array }>;

  beforeAll(async () => {
    const t = await readSafetensorsF32(join(fixturesRoot, 'cases', 'umt5', 'b1-full', 'tensors.safetensors'));
    const i = t.get('in.ids')!;
    ids = { ids: Int32Array.from(i.data), mask: Int32Array.from(t.get('in.mask')!.data), shape: i.shape as [number, number] };
    expected = t.get('out.last_hidden_state')!;
    weights = await readSafetensorsF32(join(folder, 'model.safetensors'));
  });

  async function encodeFrom(matrixDtype: 'F32' | 'Q8_0'): Promise<{ out: NativeTensor; dtypes: string[] }> {
    const dir = mkdtempSync(join(tmpdir(), 'wan-gguf-t5-'));
    const file = join(dir, 'umt5-xxl-encoder.gguf');
    // The tied embedding is stored once (HF files may hold it as shared.weight and/or encoder.embed_tokens).
    const stored = [...weights].filter(([name]) => !(name === 'encoder.embed_tokens.weight' && weights.has('shared.weight')));
    const tensors: GgufTensorToWrite[] = stored.map(([name, t]) => {
      // Matrices and the token embedding quantized (city96's files quantize token_embd too).
      const q = t.shape.length === 2 && !/relative_attention_bias/.test(name) && matrixDtype === 'Q8_0';
      return { name: llamaCppT5Name(name), dtype: q ? 'Q8_0' : 'F32', shape: t.shape, data: q ? quantizeQ8_0(t.data) : new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) };
    });
    await writeGguf(file, { 'general.architecture': 't5encoder' }, tensors);
    expect((await readGgufHeader(file)).architecture).toBe('t5encoder');
    const plan = await planTextEncoder(file);
    const reference = await planTextEncoder(folder);
    expect(plan.config).toEqual(reference.config);
    expect(plan.tensors.map((t) => [t.name, t.shape])).toEqual(reference.tensors.map((t) => [t.name, t.shape]));
    const enc = await addon.loadTextEncoder(plan);
    expect(enc.weightBytes).toBe(weightBytes(plan, 'cpu'));
    try {
      return { out: await enc.encode(ids), dtypes: plan.dtypes };
    } finally {
      enc.dispose();
    }
  }

  it('maps every tensor and matches the reference output with float32 weights', async () => {
    const { out, dtypes } = await encodeFrom('F32');
    expect(dtypes).toEqual(['F32']);
    expect(relL2(out.data, expected.data)).toBeLessThan(1e-4);
  });

  it('runs with Q8_0 matrices kept compressed, within Q8_0\'s rounding of the reference', async () => {
    const { out, dtypes } = await encodeFrom('Q8_0');
    expect(dtypes).toEqual(['F32', 'Q8_0']);
    const e = relL2(out.data, expected.data);
    expect(e).toBeGreaterThan(1e-6); // the weights really are the quantized ones
    expect(e).toBeLessThan(2e-2);
  });
});
