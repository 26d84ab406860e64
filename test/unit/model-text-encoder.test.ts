import { mkdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { WAN_UMT5_KEYMAP, mapKeys } from '../../lib/model/keymap.js';
import { readSafetensorsF32, readSafetensorsHeader } from '../../lib/model/safetensors.js';
import { type TensorToWrite, writeSafetensors } from '../../lib/model/safetensors-writer.js';
import { inferTextEncoderConfig, loadTextEncoderConfig, parseTextEncoderConfig } from '../../lib/model/text-encoder-config.js';
import { planTextEncoder } from '../../lib/model/text-encoder-plan.js';
import { expectedTextEncoderTensors } from '../../lib/model/text-encoder-tensors.js';
import type { TextEncoderConfig, TextEncoderPlan } from '../../lib/model/types.js';
import * as model from '../../lib/model/index.js';
import { MODELS, cleanup, copyModel, copyWritable, expectModelError, tmp, refData } from './model-helpers.js';

afterAll(cleanup);

const HF_DIR = join(MODELS, 'tiny-umt5', 'text_encoder');
const ORIG_DIR = join(MODELS, 'tiny-umt5-original');
const WEIGHTS = 'model.safetensors';

const TINY: TextEncoderConfig = {
  vocabSize: 512, dModel: 64, dKv: 16, numHeads: 4, dFf: 160, numLayers: 3, numBuckets: 32, maxDistance: 128, eps: 1e-6,
  gatedGelu: true,
};
/** embed + 3 x (2 norms, q, k, v, o, bias, wi_0, wi_1, wo) + final norm. */
const COUNT = 1 + 3 * 10 + 1;
const EMBED = 'encoder.embed_tokens.weight';
const LINEARS = ['layer.0.SelfAttention.q', 'layer.0.SelfAttention.k', 'layer.0.SelfAttention.v', 'layer.0.SelfAttention.o',
  'layer.1.DenseReluDense.wi_0', 'layer.1.DenseReluDense.wi_1', 'layer.1.DenseReluDense.wo'];

const namesAndShapes = (p: TextEncoderPlan) => p.tensors.map((t) => [t.name, t.shape] as const);
const byName = (p: TextEncoderPlan, name: string) => p.tensors.find((t) => t.name === name)!;

/** Every tensor of two plans holds the same values (dequantised by `scale` where there is one). */
async function expectSameValues(a: TextEncoderPlan, b: TextEncoderPlan): Promise<void> {
  for (const ref of a.tensors) {
    const x = await refData(ref);
    expect(x.length, ref.name).toBeGreaterThan(0);
    expect(x, ref.name).toEqual(await refData(byName(b, ref.name)));
  }
}

/** Read a file's tensors as float32 for the writer, optionally renamed / dropped by `edit`. */
async function loadAll(file: string): Promise<Record<string, TensorToWrite>> {
  const tensors: Record<string, TensorToWrite> = {};
  for (const [name, t] of await readSafetensorsF32(file)) tensors[name] = { dtype: 'F32', shape: t.shape, data: t.data };
  return tensors;
}
async function rewrite(file: string, edit: (t: Record<string, TensorToWrite>) => void): Promise<void> {
  const tensors = await loadAll(file);
  edit(tensors);
  await writeSafetensors(file, tensors);
}
async function editConfig(dir: string, edit: (c: Record<string, unknown>) => Record<string, unknown>): Promise<void> {
  const file = join(dir, 'config.json');
  await writeFile(file, JSON.stringify(edit(JSON.parse(await readFile(file, 'utf8')))));
}
const hfCopy = () => copyModel('tiny-umt5/text_encoder', undefined, 'text_encoder');

describe('planTextEncoder on the fixture models', () => {
  it('the diffusers text_encoder/ folder: UMT5EncoderModel config and names, shared.weight not planned', async () => {
    const plan = await planTextEncoder(HF_DIR);
    expect(plan.kind).toBe('text_encoder');
    expect(plan.source).toBe(HF_DIR);
    expect(plan.layout).toBe('diffusers');
    expect(plan.config).toEqual(TINY);
    expect(plan.dtypes).toEqual(['F32']);
    expect(plan.tensors).toHaveLength(COUNT);
    const file = join(HF_DIR, WEIGHTS);
    const header = await readSafetensorsHeader(file);
    // The header is the oracle: every stored tensor but the tied shared.weight, at the header's offsets.
    expect(plan.tensors.map((t) => t.storedName).sort()).toEqual(header.tensors.map((t) => t.name).filter((n) => n !== 'shared.weight').sort());
    for (const ref of plan.tensors) {
      const e = header.byName.get(ref.storedName)!;
      expect(ref).toEqual({ name: e.name, storedName: e.name, file, offset: e.offset, length: e.length, dtype: 'F32', shape: e.shape });
    }
    const stored = header.tensors.filter((t) => t.name !== 'shared.weight').map((t) => [t.name, t.shape]).sort(([a], [b]) => String(a).localeCompare(String(b)));
    expect(stored).toEqual([...expectedTextEncoderTensors(TINY)].sort(([a], [b]) => a.localeCompare(b)));
  });

  it('the official-names folder maps to the same canonical tensors, config and values', async () => {
    const hf = await planTextEncoder(HF_DIR);
    const orig = await planTextEncoder(ORIG_DIR);
    expect(orig.layout).toBe('original');
    expect(orig.source).toBe(ORIG_DIR);
    expect(orig.config).toEqual(hf.config);
    expect(namesAndShapes(orig)).toEqual(namesAndShapes(hf));
    const stored = Object.fromEntries(orig.tensors.map((t) => [t.name, t.storedName]));
    expect(stored[EMBED]).toBe('token_embedding.weight');
    expect(stored['encoder.block.0.layer.0.layer_norm.weight']).toBe('blocks.0.norm1.weight');
    expect(stored['encoder.block.1.layer.0.SelfAttention.o.weight']).toBe('blocks.1.attn.o.weight');
    expect(stored['encoder.block.2.layer.0.SelfAttention.relative_attention_bias.weight']).toBe('blocks.2.pos_embedding.embedding.weight');
    expect(stored['encoder.block.0.layer.1.layer_norm.weight']).toBe('blocks.0.norm2.weight');
    expect(stored['encoder.block.0.layer.1.DenseReluDense.wi_0.weight']).toBe('blocks.0.ffn.gate.0.weight');
    expect(stored['encoder.block.0.layer.1.DenseReluDense.wi_1.weight']).toBe('blocks.0.ffn.fc1.weight');
    expect(stored['encoder.block.0.layer.1.DenseReluDense.wo.weight']).toBe('blocks.0.ffn.fc2.weight');
    expect(stored['encoder.final_layer_norm.weight']).toBe('norm.weight');
    await expectSameValues(orig, hf);
  });

  it('a pipeline root resolves to its text_encoder/', async () => {
    const root = join(await tmp(), 'Wan2.1-T2V-tiny-Diffusers');
    await mkdir(root);
    await copyModel('tiny-umt5/text_encoder', root, 'text_encoder');
    await writeFile(join(root, 'model_index.json'), JSON.stringify({ _class_name: 'WanPipeline', text_encoder: ['transformers', 'UMT5EncoderModel'] }));
    const plan = await planTextEncoder(root);
    expect(plan.source).toBe(join(root, 'text_encoder'));
    expect(namesAndShapes(plan)).toEqual(namesAndShapes(await planTextEncoder(HF_DIR)));

    await rm(join(root, 'text_encoder'), { recursive: true });
    await expectModelError(planTextEncoder(root), [`${join(root, 'text_encoder')}: pipeline folder has no text_encoder/ component`]);
  });

  it('a sharded folder (and only shared.weight, as transformers saves tied weights) plans the same tensors and values', async () => {
    const dir = await hfCopy();
    const all = await loadAll(join(dir, WEIGHTS));
    delete all[EMBED];
    const names = Object.keys(all);
    const parts = [names.slice(0, names.length >> 1), names.slice(names.length >> 1)];
    const files = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
    const weightMap: Record<string, string> = {};
    for (const [i, part] of parts.entries()) {
      await writeSafetensors(join(dir, files[i]), Object.fromEntries(part.map((n) => [n, all[n]])), { format: 'pt' });
      for (const n of part) weightMap[n] = files[i];
    }
    await rm(join(dir, WEIGHTS));
    await writeFile(join(dir, `${WEIGHTS}.index.json`), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));

    const plan = await planTextEncoder(dir);
    const base = await planTextEncoder(HF_DIR);
    expect(plan.config).toEqual(TINY);
    expect(namesAndShapes(plan)).toEqual(namesAndShapes(base));
    const embed = byName(plan, EMBED);
    expect(embed.storedName).toBe('shared.weight');
    expect(basename(embed.file)).toBe(files[parts[0].includes('shared.weight') ? 0 : 1]);
    for (const ref of plan.tensors) expect(basename(ref.file)).toBe(files[parts[0].includes(ref.storedName) ? 0 : 1]);
    expect(new Set(plan.tensors.map((t) => basename(t.file)))).toEqual(new Set(files));
    await expectSameValues(plan, base);
  });

  it('a ComfyUI-style fp8 single file (HF names, shared.weight only, scale_weight, scaled_fp8) with no config: inferred', async () => {
    const dir = await tmp();
    const file = join(dir, 'umt5_xxl_fp8_e4m3fn_scaled.safetensors');
    const orig = await readSafetensorsF32(join(HF_DIR, WEIGHTS));
    const scales: Record<string, number> = {};
    const tensors: Record<string, TensorToWrite> = {};
    const quantise = (name: string, module: string) => {
      const data = orig.get(name)!.data;
      const scale = Math.fround(Math.max(...data.map(Math.abs)) / 448);
      scales[name] = scale;
      tensors[name] = { dtype: 'F8_E4M3', shape: orig.get(name)!.shape, data: data.map((x) => x / scale) };
      tensors[`${module}.scale_weight`] = { dtype: 'F32', shape: [], data: new Float32Array([scale]) };
    };
    tensors.scaled_fp8 = { dtype: 'F8_E4M3', shape: [0], data: new Uint8Array(0) };
    quantise('shared.weight', 'shared');
    for (const [name, t] of orig) {
      if (name === 'shared.weight' || name === EMBED) continue;
      const module = name.slice(0, -'.weight'.length);
      if (LINEARS.some((l) => module.endsWith(l))) quantise(name, module);
      else tensors[name] = { dtype: name.includes('relative_attention_bias') ? 'BF16' : 'F16', shape: t.shape, data: t.data };
    }
    tensors['encoder.block.0.layer.0.SelfAttention.q.scale_input'] = { dtype: 'F32', shape: [], data: new Float32Array([1]) };
    await writeSafetensors(file, tensors);

    const plan = await planTextEncoder(file);
    expect(plan.source).toBe(file);
    expect(plan.layout).toBe('diffusers');
    expect(plan.config).toEqual(TINY);
    expect(plan.dtypes).toEqual(['F16', 'BF16', 'F8_E4M3']);
    expect(namesAndShapes(plan)).toEqual(namesAndShapes(await planTextEncoder(HF_DIR)));
    const embed = byName(plan, EMBED);
    expect(embed).toMatchObject({ storedName: 'shared.weight', dtype: 'F8_E4M3', length: 512 * 64, scale: scales['shared.weight'] });
    const q = byName(plan, 'encoder.block.1.layer.0.SelfAttention.q.weight');
    expect(q.scale).toBe(scales['encoder.block.1.layer.0.SelfAttention.q.weight']);
    expect(plan.tensors.filter((t) => t.scale !== undefined)).toHaveLength(1 + 3 * 7);
    expect(byName(plan, 'encoder.final_layer_norm.weight').dtype).toBe('F16');

    // fp8 x scale is within e4m3's relative step (and 2^-9 x scale absolute below 2^-6).
    for (const [ref, name] of [[q, q.name], [embed, EMBED]] as const) {
      const deq = (await refData(ref)).map((x) => x * ref.scale!);
      const want = orig.get(name)!.data;
      for (let i = 0; i < want.length; i++) expect(Math.abs(deq[i] - want[i])).toBeLessThanOrEqual(Math.abs(want[i]) / 16 + ref.scale! * 2 ** -10);
    }
  });

  it('a full-checkpoint prefix (text_encoders.umt5xxl.transformer.) is stripped; a config.json beside the file is used', async () => {
    const dir = await tmp();
    const file = join(dir, 'wan_aio_text_encoder.safetensors');
    await copyWritable(join(HF_DIR, WEIGHTS), file);
    await copyWritable(join(HF_DIR, 'config.json'), join(dir, 'config.json'));
    await rewrite(file, (t) => {
      for (const k of Object.keys(t)) {
        t[`text_encoders.umt5xxl.transformer.${k}`] = t[k];
        delete t[k];
      }
    });
    const plan = await planTextEncoder(file);
    expect(plan.config).toEqual(TINY);
    expect(namesAndShapes(plan)).toEqual(namesAndShapes(await planTextEncoder(HF_DIR)));
    expect(byName(plan, EMBED).storedName).toBe('text_encoders.umt5xxl.transformer.encoder.embed_tokens.weight');
    // The config beside the file is checked against it.
    await editConfig(dir, (c) => ({ ...c, num_heads: 8, d_kv: 8 }));
    await expectModelError(planTextEncoder(file), [
      'wan_aio_text_encoder.safetensors: tensor "text_encoders.umt5xxl.transformer.encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight" (encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight) has shape [32,4] but config.json (relative_attention_num_buckets 32, num_heads 8) implies [32,8]',
    ]);
  });

  it('single files with no config.json: the config is inferred, from either naming', async () => {
    const dir = await tmp();
    const orig = await copyWritable(join(ORIG_DIR, WEIGHTS), join(dir, 'models_t5_umt5-tiny-enc.safetensors'));
    const hf = join(await tmp(), 'umt5-tiny.safetensors');
    await copyWritable(join(HF_DIR, WEIGHTS), hf);
    const a = await planTextEncoder(orig);
    const b = await planTextEncoder(hf);
    expect(a.layout).toBe('original');
    expect(b.layout).toBe('diffusers');
    expect(a.config).toEqual(TINY);
    expect(b.config).toEqual(TINY);
    expect(namesAndShapes(a)).toEqual(namesAndShapes(b));
    await expectSameValues(a, b);
  });
});

describe('text encoder config.json', () => {
  it('normalises both styles of the fixtures to the same config', async () => {
    expect(await loadTextEncoderConfig(join(HF_DIR, 'config.json'))).toEqual({ config: TINY, style: 'diffusers' });
    expect(await loadTextEncoderConfig(join(ORIG_DIR, 'config.json'))).toEqual({ config: TINY, style: 'original' });
  });

  it('defaults the relative position range and epsilon, and requires the sizes', () => {
    const base = { model_type: 'umt5', vocab_size: 256384, d_model: 4096, d_kv: 64, d_ff: 10240, num_heads: 64, num_layers: 24 };
    expect(parseTextEncoderConfig(base, 'c').config).toEqual({
      vocabSize: 256384, dModel: 4096, dKv: 64, numHeads: 64, dFf: 10240, numLayers: 24, numBuckets: 32, maxDistance: 128, eps: 1e-6,
      gatedGelu: true,
    });
    const { d_ff: _, ...noFf } = base;
    expect(() => parseTextEncoderConfig(noFf, '/m/config.json', 'config.json')).toThrow('config.json: field "d_ff" must be an integer from 1 to 262144 (it is missing)');
    expect(() => parseTextEncoderConfig({ ...base, dense_act_fn: 'relu' }, 'c')).toThrow('field "dense_act_fn" must be "gelu_new"');
    expect(() => parseTextEncoderConfig({ ...base, model_type: 't5' }, 'c')).toThrow('field "model_type" must be "umt5"');
  });

  it('the official T5Encoder config: d_kv is dim_attn / num_heads; shared_pos must be false', () => {
    const umt5xxl = { _class: 'wan.modules.t5.T5Encoder', vocab: 256384, dim: 4096, dim_attn: 4096, dim_ffn: 10240, num_heads: 64, num_layers: 24, num_buckets: 32, shared_pos: false };
    expect(parseTextEncoderConfig(umt5xxl, 'c').config).toMatchObject({ dKv: 64, numHeads: 64, dModel: 4096, maxDistance: 128, eps: 1e-6 });
    expect(() => parseTextEncoderConfig({ ...umt5xxl, shared_pos: true }, 'c')).toThrow('field "shared_pos" must be false');
    expect(() => parseTextEncoderConfig({ ...umt5xxl, dim_attn: 4000 }, 'c')).toThrow('field "dim_attn" 4000 must be divisible by field "num_heads" 64');
  });

  it('inference names the tensor it needs', () => {
    const shapes = new Map([[EMBED, [512, 64]], ['encoder.block.0.layer.0.SelfAttention.q.weight', [64, 64]]]);
    expect(() => inferTextEncoderConfig(shapes, 'x.safetensors')).toThrow(
      'x.safetensors: cannot infer d_ff without a config.json: tensor "encoder.block.0.layer.1.DenseReluDense.wi_0.weight" is missing',
    );
  });

  it('the key table maps official names and strips wrapper prefixes', () => {
    const m = mapKeys(['blocks.3.ffn.gate.0.weight', 'norm.weight', 'token_embedding.weight', 'blocks.0.attn.q.scale_weight'], WAN_UMT5_KEYMAP);
    expect(m.layout).toBe('original');
    expect([...m.tensors]).toEqual([
      ['blocks.3.ffn.gate.0.weight', 'encoder.block.3.layer.1.DenseReluDense.wi_0.weight'],
      ['norm.weight', 'encoder.final_layer_norm.weight'],
      ['token_embedding.weight', EMBED],
    ]);
    expect([...m.scales]).toEqual([['encoder.block.0.layer.0.SelfAttention.q.weight', 'blocks.0.attn.q.scale_weight']]);
    const p = mapKeys(['umt5xxl.transformer.shared.weight', 'umt5xxl.transformer.encoder.final_layer_norm.weight', 'scaled_fp8'], WAN_UMT5_KEYMAP);
    expect(p.layout).toBe('diffusers');
    expect([...p.tensors.values()]).toEqual(['shared.weight', 'encoder.final_layer_norm.weight']);
    expect(p.consumed).toEqual(['scaled_fp8']);
  });

  it('is exported from lib/model/index.ts', () => {
    expect(model.planTextEncoder).toBe(planTextEncoder);
    expect(model.WAN_UMT5_KEYMAP).toBe(WAN_UMT5_KEYMAP);
  });
});

describe('planTextEncoder failures: one per class, each naming file and tensor', () => {
  it('missing tensor', async () => {
    const dir = await hfCopy();
    const file = join(dir, WEIGHTS);
    await rewrite(file, (t) => delete t['encoder.block.1.layer.1.DenseReluDense.wo.weight']);
    const e = await expectModelError(planTextEncoder(dir), [], { file, tensor: 'encoder.block.1.layer.1.DenseReluDense.wo.weight' });
    expect(e.message).toBe(
      'text_encoder: missing tensor(s) "encoder.block.1.layer.1.DenseReluDense.wo.weight" (required by text_encoder/config.json; searched text_encoder/model.safetensors)',
    );
  });

  it('missing embedding: neither encoder.embed_tokens.weight nor shared.weight', async () => {
    const dir = await copyModel('tiny-umt5-original');
    const file = join(dir, WEIGHTS);
    await rewrite(file, (t) => delete t['token_embedding.weight']);
    const e = await expectModelError(planTextEncoder(dir), [], { file, tensor: EMBED });
    expect(e.message).toBe(
      `tiny-umt5-original: missing tensor(s) "${EMBED}" (required by tiny-umt5-original/config.json; searched tiny-umt5-original/model.safetensors)`,
    );
  });

  it('unexpected tensor', async () => {
    const dir = await hfCopy();
    const file = join(dir, WEIGHTS);
    await rewrite(file, (t) => {
      t['lm_head.weight'] = { dtype: 'F32', shape: [512, 64], data: new Float32Array(512 * 64) };
    });
    const e = await expectModelError(planTextEncoder(dir), [], { file, tensor: 'lm_head.weight' });
    expect(e.message).toBe('text_encoder/model.safetensors: unexpected tensor(s) "lm_head.weight": not part of the model that text_encoder/config.json describes');
  });

  it('a block beyond num_layers is unexpected', async () => {
    const dir = await copyModel('tiny-umt5-original');
    await editConfig(dir, (c) => ({ ...c, num_layers: 2 }));
    const e = await expectModelError(planTextEncoder(dir), ['tiny-umt5-original/model.safetensors: unexpected tensor(s) "blocks.2.'], { file: join(dir, WEIGHTS) });
    expect(e.tensor).toMatch(/^blocks\.2\./);
    expect(e.message).toContain('and 5 more');
  });

  it('shape contradicting config.json', async () => {
    const dir = await hfCopy();
    await editConfig(dir, (c) => ({ ...c, d_ff: 128 }));
    const file = join(dir, WEIGHTS);
    const e = await expectModelError(planTextEncoder(dir), [], { file, tensor: 'encoder.block.0.layer.1.DenseReluDense.wi_0.weight' });
    expect(e.message).toBe(
      'text_encoder/model.safetensors: tensor "encoder.block.0.layer.1.DenseReluDense.wi_0.weight" has shape [160,64] but text_encoder/config.json (d_ff 128, d_model 64) implies [128,64]',
    );
  });

  it('shape contradicting a T5Encoder config names the stored and canonical tensor and the official fields', async () => {
    const dir = await copyModel('tiny-umt5-original');
    await editConfig(dir, (c) => ({ ...c, dim_attn: 32 }));
    const e = await expectModelError(planTextEncoder(dir), [], { file: join(dir, WEIGHTS), tensor: 'blocks.0.attn.q.weight' });
    expect(e.message).toBe(
      'tiny-umt5-original/model.safetensors: tensor "blocks.0.attn.q.weight" (encoder.block.0.layer.0.SelfAttention.q.weight) has shape [64,64] but tiny-umt5-original/config.json (dim_attn 32, dim 64) implies [32,64]',
    );
  });

  it('bad config field: feed_forward_proj "relu"', async () => {
    const dir = await hfCopy();
    await editConfig(dir, (c) => ({ ...c, feed_forward_proj: 'relu' }));
    const e = await expectModelError(planTextEncoder(dir), [], { file: join(dir, 'config.json') });
    expect(e.message).toBe('text_encoder/config.json: field "feed_forward_proj" must be "gated-gelu" (the feed-forward of the UMT5 encoder Wan uses) (got "relu")');
  });

  it('truncated file', async () => {
    const dir = await hfCopy();
    const file = join(dir, WEIGHTS);
    const header = await readSafetensorsHeader(file);
    const first = [...header.tensors].sort((a, b) => a.offset - b.offset).find((t) => t.offset + t.length > 400000)!;
    await truncate(file, 400000);
    const e = await expectModelError(planTextEncoder(dir), [], { file, tensor: first.name });
    expect(e.message).toBe(
      `text_encoder/model.safetensors: file is truncated: 400000 bytes but the header describes ${header.fileSize}; first tensor that does not fit is "${first.name}"`,
    );
  });

  it('unsupported dtype', async () => {
    const dir = await hfCopy();
    const file = join(dir, WEIGHTS);
    await rewrite(file, (t) => {
      t['encoder.final_layer_norm.weight'] = { dtype: 'F64', shape: [64], data: new Uint8Array(64 * 8) };
    });
    const e = await expectModelError(planTextEncoder(dir), [], { file, tensor: 'encoder.final_layer_norm.weight' });
    expect(e.message).toBe('text_encoder/model.safetensors: tensor "encoder.final_layer_norm.weight" has dtype F64; supported dtypes are F32, F16, BF16, F8_E4M3');
  });

  it('tied shared.weight that disagrees with encoder.embed_tokens.weight', async () => {
    const dir = await hfCopy();
    const file = join(dir, WEIGHTS);
    await rewrite(file, (t) => {
      t['shared.weight'] = { dtype: 'F32', shape: [500, 64], data: new Float32Array(500 * 64) };
    });
    const e = await expectModelError(planTextEncoder(dir), [], { file, tensor: 'shared.weight' });
    expect(e.message).toBe(
      'text_encoder/model.safetensors: tensor "shared.weight" has shape [500,64] but the tensor it is tied to, "encoder.embed_tokens.weight" (text_encoder/model.safetensors), has shape [512,64]',
    );
  });

  it('an official-layout key that maps to nothing', async () => {
    const dir = await copyModel('tiny-umt5-original');
    const file = join(dir, WEIGHTS);
    await rewrite(file, (t) => {
      t['pos_embedding.embedding.weight'] = { dtype: 'F32', shape: [32, 4], data: new Float32Array(128) };
    });
    const e = await expectModelError(planTextEncoder(dir), [], { file, tensor: 'pos_embedding.embedding.weight' });
    expect(e.message).toBe(
      'tiny-umt5-original/model.safetensors: 1 key(s) of the original Wan layout map to no UMT5EncoderModel name: "pos_embedding.embedding.weight"',
    );
  });

  it('a single file with no config and no feed-forward: inference names the tensor', async () => {
    const file = join(await tmp(), 'umt5-partial.safetensors');
    await copyWritable(join(HF_DIR, WEIGHTS), file);
    await rewrite(file, (t) => delete t['encoder.block.0.layer.1.DenseReluDense.wi_0.weight']);
    const e = await expectModelError(planTextEncoder(file), [], { file, tensor: 'encoder.block.0.layer.1.DenseReluDense.wi_0.weight' });
    expect(e.message).toBe(
      'umt5-partial.safetensors: cannot infer d_ff without a config.json: tensor "encoder.block.0.layer.1.DenseReluDense.wi_0.weight" is missing',
    );
  });

  it('a folder without config.json, and one with a transformer config.json', async () => {
    const dir = await hfCopy();
    await rm(join(dir, 'config.json'));
    await expectModelError(planTextEncoder(dir), ['text_encoder/config.json: missing (a text encoder folder needs a config.json)'], { file: join(dir, 'config.json') });
    await copyWritable(join(MODELS, 'dit-t2v-tiny', 'config.json'), join(dir, 'config.json'));
    await expectModelError(planTextEncoder(dir), ['text_encoder/config.json: field "model_type" must be "umt5"', '(it is missing)'], { file: join(dir, 'config.json') });
  });
});
