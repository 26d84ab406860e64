import { mkdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadTransformerConfig } from '../../lib/model/config.js';
import { readSafetensorsF32, readSafetensorsHeader } from '../../lib/model/safetensors.js';
import { type TensorToWrite, writeSafetensors } from '../../lib/model/safetensors-writer.js';
import { expectedTransformerTensors } from '../../lib/model/transformer-tensors.js';
import { planTransformer } from '../../lib/model/transformer-plan.js';
import type { TransformerPlan } from '../../lib/model/types.js';
import { DIT_MODELS, MODELS, cleanup, refData, copyModel, copyWritable, expectModelError, mutateFile, tensorOf, tmp } from './model-helpers.js';

const WEIGHTS = 'diffusion_pytorch_model.safetensors';
afterAll(cleanup);

const namesAndShapes = (p: TransformerPlan) => p.tensors.map((t) => [t.name, t.shape] as const);

/** Rewrite a model's weights through the writer, letting `edit` change the tensor set. */
async function rewrite(file: string, edit: (t: Record<string, TensorToWrite>) => void): Promise<void> {
  const tensors: Record<string, TensorToWrite> = {};
  for (const [name, t] of await readSafetensorsF32(file)) tensors[name] = { dtype: 'F32', shape: t.shape, data: t.data };
  edit(tensors);
  await writeSafetensors(file, tensors);
}

/** Split a model folder's weights into two shards with a diffusers index. */
async function shard(dir: string): Promise<{ first: string[]; second: string[] }> {
  const all = await readSafetensorsF32(join(dir, WEIGHTS));
  const names = [...all.keys()];
  const first = names.slice(0, names.length >> 1);
  const second = names.slice(names.length >> 1);
  const files = ['diffusion_pytorch_model-00001-of-00002.safetensors', 'diffusion_pytorch_model-00002-of-00002.safetensors'];
  const weightMap: Record<string, string> = {};
  for (const [i, part] of [first, second].entries()) {
    const tensors: Record<string, TensorToWrite> = {};
    for (const n of part) {
      tensors[n] = { dtype: 'F32', shape: all.get(n)!.shape, data: all.get(n)!.data };
      weightMap[n] = files[i];
    }
    await writeSafetensors(join(dir, files[i]), tensors, { format: 'pt' });
  }
  await rm(join(dir, WEIGHTS));
  await writeFile(join(dir, `${WEIGHTS}.index.json`), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
  return { first, second };
}

describe('planTransformer on the fixture models', () => {
  const expected: Record<string, { layout: string; variant: string; kind: string; expert?: string; count: number }> = {
    'dit-t2v-tiny': { layout: 'diffusers', variant: 'custom', kind: 't2v', count: 69 },
    'dit-t2v-tiny-low-noise': { layout: 'diffusers', variant: 'custom', kind: 't2v', expert: 'low-noise', count: 69 },
    'dit-t2v-tiny-original': { layout: 'original', variant: 'custom', kind: 't2v', count: 69 },
    'dit-t2v-head128': { layout: 'diffusers', variant: 'custom', kind: 't2v', count: 42 },
    'dit-i2v21-tiny': { layout: 'diffusers', variant: 'custom', kind: 'i2v-2.1', count: 87 },
    'dit-i2v22-tiny': { layout: 'diffusers', variant: 'custom', kind: 'i2v-2.2', count: 69 },
    'dit-i2v22-tiny-low-noise': { layout: 'diffusers', variant: 'custom', kind: 'i2v-2.2', expert: 'low-noise', count: 69 },
    'dit-ti2v-tiny': { layout: 'diffusers', variant: 'custom', kind: 'ti2v', count: 69 },
  };

  for (const name of DIT_MODELS) {
    it(`${name}: plan covers exactly the tensors in the file, at the header's offsets`, async () => {
      const dir = join(MODELS, name);
      const plan = await planTransformer(dir);
      const want = expected[name];
      expect(plan.kind).toBe('transformer');
      expect(plan.source).toBe(dir);
      expect(plan.layout).toBe(want.layout);
      expect(plan.variant.variant).toBe(want.variant);
      expect(plan.variant.description).toContain(`following the ${want.kind} layout`);
      expect(plan.variant.expert).toBe(want.expert);
      expect(plan.dtypes).toEqual(['F32']);
      expect(plan.tensors).toHaveLength(want.count);

      const file = join(dir, want.layout === 'original' ? 'model.safetensors' : WEIGHTS);
      const header = await readSafetensorsHeader(file);
      expect(plan.tensors.map((t) => t.storedName).sort()).toEqual(header.tensors.map((t) => t.name).sort());
      for (const ref of plan.tensors) {
        const e = header.byName.get(ref.storedName)!;
        expect(ref).toEqual({ name: ref.name, storedName: e.name, file, offset: e.offset, length: e.length, dtype: 'F32', shape: e.shape });
      }
    });

    it(`${name}: expectedTransformerTensors(config) matches the stored names and shapes exactly`, async () => {
      const dir = join(MODELS, name);
      const { config } = await loadTransformerConfig(join(dir, 'config.json'));
      const plan = await planTransformer(dir);
      const want = [...expectedTransformerTensors(plan.config)].sort(([a], [b]) => a.localeCompare(b));
      const got = namesAndShapes(plan).map(([n, s]) => [n, s]).sort(([a], [b]) => (a as string).localeCompare(b as string));
      expect(got).toEqual(want);
      if (name !== 'dit-t2v-tiny-original') {
        // For diffusers folders the header itself is the oracle, not our key mapping.
        const header = await readSafetensorsHeader(join(dir, WEIGHTS));
        const stored = header.tensors.map((t) => [t.name, t.shape]).sort(([a], [b]) => (a as string).localeCompare(b as string));
        expect(stored).toEqual([...expectedTransformerTensors(config)].sort(([a], [b]) => a.localeCompare(b)));
      }
    });
  }

  it('the original-layout model maps to the same canonical tensors and values as the diffusers one', async () => {
    const diffusers = await planTransformer(join(MODELS, 'dit-t2v-tiny'));
    const original = await planTransformer(join(MODELS, 'dit-t2v-tiny-original'));
    expect(namesAndShapes(original)).toEqual(namesAndShapes(diffusers));
    expect(original.config).toEqual(diffusers.config);
    const stored = Object.fromEntries(original.tensors.map((t) => [t.name, t.storedName]));
    expect(stored['blocks.0.attn1.to_out.0.weight']).toBe('blocks.0.self_attn.o.weight');
    expect(stored['blocks.1.norm2.bias']).toBe('blocks.1.norm3.bias');
    expect(stored['scale_shift_table']).toBe('head.modulation');
    expect(stored['condition_embedder.time_proj.weight']).toBe('time_projection.1.weight');
    for (const name of ['blocks.0.attn1.to_out.0.weight', 'blocks.1.norm2.bias', 'scale_shift_table', 'condition_embedder.time_proj.weight', 'proj_out.weight']) {
      const a = await refData(original.tensors.find((t) => t.name === name)!);
      const b = await refData(diffusers.tensors.find((t) => t.name === name)!);
      expect(a.length).toBeGreaterThan(0);
      expect(a).toEqual(b);
    }
  });

  it('a sharded folder plans the same tensors with the same values', async () => {
    const dir = await copyModel('dit-t2v-tiny');
    const { first, second } = await shard(dir);
    const plan = await planTransformer(dir);
    const base = await planTransformer(join(MODELS, 'dit-t2v-tiny'));
    expect(namesAndShapes(plan)).toEqual(namesAndShapes(base));
    for (const ref of plan.tensors) {
      const shardNo = first.includes(ref.name) ? 1 : second.includes(ref.name) ? 2 : 0;
      expect(basename(ref.file)).toBe(`diffusion_pytorch_model-0000${shardNo}-of-00002.safetensors`);
    }
    for (const name of [first[0], second[second.length - 1]]) {
      expect(await refData(plan.tensors.find((t) => t.name === name)!)).toEqual(await refData(base.tensors.find((t) => t.name === name)!));
    }
  });

  it('a single file with no config.json: the config is inferred from the weights', async () => {
    const dir = await tmp();
    const file = join(dir, 'wan_tiny_head128.safetensors');
    await copyWritable(join(MODELS, 'dit-t2v-head128', WEIGHTS), file);
    const plan = await planTransformer(file);
    const { config } = await loadTransformerConfig(join(MODELS, 'dit-t2v-head128', 'config.json'));
    expect(plan.config).toEqual(config);
    expect(plan.source).toBe(file);
    expect(plan.tensors).toHaveLength(42);
  });

  it('a ComfyUI-style single file (model.diffusion_model. prefix) with a WanModel config.json beside it', async () => {
    const dir = await tmp();
    const file = join(dir, 'wan2.2_t2v_low_noise_tiny.safetensors');
    await copyWritable(join(MODELS, 'dit-t2v-tiny-original', 'model.safetensors'), file);
    await copyWritable(join(MODELS, 'dit-t2v-tiny-original', 'config.json'), join(dir, 'config.json'));
    await rewrite(file, (t) => {
      for (const k of Object.keys(t)) {
        t[`model.diffusion_model.${k}`] = t[k];
        delete t[k];
      }
    });
    const plan = await planTransformer(file);
    const base = await planTransformer(join(MODELS, 'dit-t2v-tiny'));
    expect(plan.layout).toBe('original');
    expect(namesAndShapes(plan)).toEqual(namesAndShapes(base));
    expect(plan.tensors.find((t) => t.name === 'proj_out.weight')!.storedName).toBe('model.diffusion_model.head.head.weight');
    expect(plan.variant.expert).toBe('low-noise');
  });

  it('reads BF16 and F16 weights, and fp8 weights with their ComfyUI scale_weight', async () => {
    const dir = await copyModel('dit-t2v-tiny-original');
    const file = join(dir, 'model.safetensors');
    const orig = await readSafetensorsF32(file);
    const fp8 = ['blocks.0.self_attn.q.weight', 'blocks.1.ffn.0.weight'];
    const scales: Record<string, number> = {};
    await rewrite(file, (t) => {
      for (const [name, v] of Object.entries(t)) {
        if (fp8.includes(name)) {
          const data = v.data as Float32Array;
          const scale = Math.max(...data.map(Math.abs)) / 448;
          scales[name] = Math.fround(scale);
          t[name] = { dtype: 'F8_E4M3', shape: v.shape, data: data.map((x) => x / Math.fround(scale)) };
          const module = name.slice(0, -'.weight'.length);
          t[`${module}.scale_weight`] = { dtype: 'F32', shape: [], data: new Float32Array([scale]) };
          t[`${module}.scale_input`] = { dtype: 'F32', shape: [], data: new Float32Array([1]) };
        } else if (name.startsWith('blocks.0.')) {
          t[name] = { ...v, dtype: 'BF16' };
        } else if (name.startsWith('blocks.1.')) {
          t[name] = { ...v, dtype: 'F16' };
        }
      }
      t.scaled_fp8 = { dtype: 'F8_E4M3', shape: [2], data: new Uint8Array(2) };
    });
    const plan = await planTransformer(dir);
    expect(plan.dtypes).toEqual(['F32', 'F16', 'BF16', 'F8_E4M3']);
    const q = plan.tensors.find((t) => t.name === 'blocks.0.attn1.to_q.weight')!;
    expect(q.dtype).toBe('F8_E4M3');
    expect(q.length).toBe(48 * 48);
    expect(q.scale).toBe(scales['blocks.0.self_attn.q.weight']);
    const ffn = plan.tensors.find((t) => t.name === 'blocks.1.ffn.net.0.proj.weight')!;
    expect(ffn.scale).toBe(scales['blocks.1.ffn.0.weight']);
    expect(plan.tensors.filter((t) => t.scale !== undefined)).toHaveLength(2);

    // fp8 x scale is within e4m3's relative step (2^-3 at the top of a binade, absolute 2^-9 x scale below 2^-6).
    const deq = (await refData(q)).map((x) => x * q.scale!);
    const want = orig.get('blocks.0.self_attn.q.weight')!.data;
    for (let i = 0; i < want.length; i++) expect(Math.abs(deq[i] - want[i])).toBeLessThanOrEqual(Math.abs(want[i]) / 16 + q.scale! * 2 ** -10);
    const bf = await refData(plan.tensors.find((t) => t.name === 'blocks.0.attn1.to_k.weight')!);
    const bfWant = orig.get('blocks.0.self_attn.k.weight')!.data;
    for (let i = 0; i < bf.length; i++) expect(Math.abs(bf[i] - bfWant[i])).toBeLessThanOrEqual(Math.abs(bfWant[i]) * 2 ** -8);
    const half = await refData(plan.tensors.find((t) => t.name === 'blocks.1.attn1.to_k.weight')!);
    const halfWant = orig.get('blocks.1.self_attn.k.weight')!.data;
    for (let i = 0; i < half.length; i++) expect(Math.abs(half[i] - halfWant[i])).toBeLessThanOrEqual(Math.abs(halfWant[i]) * 2 ** -11 + 2 ** -24);
  });

  it('knows the experts of a diffusers Wan2.2 pipeline folder', async () => {
    const root = join(await tmp(), 'Wan2.2-T2V-tiny-Diffusers');
    await mkdir(root);
    await copyModel('dit-t2v-tiny', root, 'transformer');
    await copyModel('dit-t2v-tiny-low-noise', root, 'transformer_2');
    await writeFile(join(root, 'model_index.json'), JSON.stringify({ _class_name: 'WanPipeline', boundary_ratio: 0.875 }));
    const high = await planTransformer(join(root, 'transformer'));
    expect(high.variant.expert).toBe('high-noise');
    const low = await planTransformer(root, { expert: 'low-noise' });
    expect(low.source).toBe(join(root, 'transformer_2'));
    expect(low.variant.expert).toBe('low-noise');
    expect((await planTransformer(root)).source).toBe(join(root, 'transformer'));
  });
});

describe('planTransformer failures: one per class, each naming file and tensor', () => {
  it('missing tensor', async () => {
    const dir = await copyModel('dit-t2v-tiny');
    await rewrite(join(dir, WEIGHTS), (t) => delete t['blocks.1.ffn.net.2.bias']);
    const e = await expectModelError(planTransformer(dir), [], { file: join(dir, WEIGHTS), tensor: 'blocks.1.ffn.net.2.bias' });
    expect(e.message).toBe(
      'dit-t2v-tiny: missing tensor(s) "blocks.1.ffn.net.2.bias" (required by dit-t2v-tiny/config.json; searched dit-t2v-tiny/diffusion_pytorch_model.safetensors)',
    );
  });

  it('unexpected tensor', async () => {
    const dir = await copyModel('dit-t2v-tiny');
    await rewrite(join(dir, WEIGHTS), (t) => {
      t['blocks.0.attn1.to_x.weight'] = { dtype: 'F32', shape: [2], data: new Float32Array(2) };
    });
    const e = await expectModelError(planTransformer(dir), [], { file: join(dir, WEIGHTS), tensor: 'blocks.0.attn1.to_x.weight' });
    expect(e.message).toBe(
      'dit-t2v-tiny/diffusion_pytorch_model.safetensors: unexpected tensor(s) "blocks.0.attn1.to_x.weight": not part of the model that dit-t2v-tiny/config.json describes',
    );
  });

  it('an extra block beyond num_layers is unexpected', async () => {
    const dir = await copyModel('dit-t2v-tiny');
    const cfg = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    await writeFile(join(dir, 'config.json'), JSON.stringify({ ...cfg, num_layers: 1 }));
    const e = await expectModelError(planTransformer(dir), ['dit-t2v-tiny/diffusion_pytorch_model.safetensors: unexpected tensor(s) "blocks.1.'], { tensor: 'blocks.1.attn1.norm_k.weight' });
    expect(e.message).toContain('and 22 more');
  });

  it('shape contradicting config.json', async () => {
    const dir = await copyModel('dit-t2v-tiny');
    const cfg = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    await writeFile(join(dir, 'config.json'), JSON.stringify({ ...cfg, text_dim: 48 }));
    const e = await expectModelError(planTransformer(dir), [], { file: join(dir, WEIGHTS), tensor: 'condition_embedder.text_embedder.linear_1.weight' });
    expect(e.message).toBe(
      'dit-t2v-tiny/diffusion_pytorch_model.safetensors: tensor "condition_embedder.text_embedder.linear_1.weight" has shape [48,32] but dit-t2v-tiny/config.json (dim 48, text_dim 48) implies [48,48]',
    );
  });

  it('shape contradicting a WanModel config names the stored and canonical tensor', async () => {
    const dir = await copyModel('dit-t2v-tiny-original');
    const cfg = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    await writeFile(join(dir, 'config.json'), JSON.stringify({ ...cfg, ffn_dim: 96 }));
    const e = await expectModelError(planTransformer(dir), [], { tensor: 'blocks.0.ffn.0.weight' });
    expect(e.message).toBe(
      'dit-t2v-tiny-original/model.safetensors: tensor "blocks.0.ffn.0.weight" (blocks.0.ffn.net.0.proj.weight) has shape [64,48] but dit-t2v-tiny-original/config.json (ffn_dim 96, dim 48) implies [96,48]',
    );
  });

  it('truncated file', async () => {
    const dir = await copyModel('dit-t2v-tiny');
    await truncate(join(dir, WEIGHTS), 300000);
    const e = await expectModelError(planTransformer(dir), [], { file: join(dir, WEIGHTS), tensor: 'condition_embedder.time_proj.weight' });
    expect(e.message).toBe(
      'dit-t2v-tiny/diffusion_pytorch_model.safetensors: file is truncated: 300000 bytes but the header describes 367896; first tensor that does not fit is "condition_embedder.time_proj.weight"',
    );
  });

  it('data_offsets out of range', async () => {
    const dir = await copyModel('dit-t2v-tiny');
    await mutateFile(join(dir, WEIGHTS), (h) => {
      tensorOf(h, 'blocks.0.norm2.bias').data_offsets = [1000000, 1000192];
    });
    const e = await expectModelError(planTransformer(dir), [], { file: join(dir, WEIGHTS), tensor: 'blocks.0.norm2.bias' });
    expect(e.message).toBe(
      'dit-t2v-tiny/diffusion_pytorch_model.safetensors: tensor "blocks.0.norm2.bias" data_offsets [1000000,1000192] lie outside the data section (361536 bytes)',
    );
  });

  it('overlapping data_offsets', async () => {
    const dir = await copyModel('dit-t2v-tiny');
    await mutateFile(join(dir, WEIGHTS), (h) => {
      tensorOf(h, 'proj_out.bias').data_offsets = [348608 - 100, 348864 - 100];
    });
    const e = await expectModelError(planTransformer(dir), [], { file: join(dir, WEIGHTS), tensor: 'proj_out.bias' });
    expect(e.message).toBe(
      'dit-t2v-tiny/diffusion_pytorch_model.safetensors: tensor "proj_out.bias" data_offsets [348508,348764] overlap tensor "patch_embedding.weight" [336320,348608]',
    );
  });

  it('unsupported dtype (F64 and I64)', async () => {
    const dir = await copyModel('dit-t2v-tiny');
    await rewrite(join(dir, WEIGHTS), (t) => {
      const v = t['blocks.0.norm2.weight'].data as Float32Array;
      t['blocks.0.norm2.weight'] = { dtype: 'F64', shape: [48], data: new Uint8Array(Float64Array.from(v).buffer) };
      t['blocks.1.norm2.weight'] = { dtype: 'I64', shape: [48], data: new Uint8Array(48 * 8) };
    });
    const e = await expectModelError(planTransformer(dir), [], { file: join(dir, WEIGHTS), tensor: 'blocks.0.norm2.weight' });
    expect(e.message).toBe(
      'dit-t2v-tiny/diffusion_pytorch_model.safetensors: tensor "blocks.0.norm2.weight" has dtype F64; supported dtypes are F32, F16, BF16, F8_E4M3',
    );
  });

  it('malformed config field', async () => {
    const dir = await copyModel('dit-t2v-tiny');
    const cfg = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    await writeFile(join(dir, 'config.json'), JSON.stringify({ ...cfg, qk_norm: 'layer_norm' }));
    const e = await expectModelError(planTransformer(dir), [], { file: join(dir, 'config.json') });
    expect(e.message).toBe(
      'dit-t2v-tiny/config.json: field "qk_norm" must be "rms_norm_across_heads" (the only query/key norm Wan uses) (got "layer_norm")',
    );
  });

  it('shard missing', async () => {
    const dir = await copyModel('dit-t2v-tiny');
    const { second } = await shard(dir);
    const lost = join(dir, 'diffusion_pytorch_model-00002-of-00002.safetensors');
    await rm(lost);
    const e = await expectModelError(planTransformer(dir), [], { file: lost, tensor: second[0] });
    expect(e.message).toBe(
      `dit-t2v-tiny/diffusion_pytorch_model.safetensors.index.json: shard "diffusion_pytorch_model-00002-of-00002.safetensors" does not exist, but the index places tensors "${second[0]}", "${second[1]}", "${second[2]}", "${second[3]}", "${second[4]}" and ${second.length - 5} more in it`,
    );
  });

  it('tensor stored in a different shard than the index says', async () => {
    const dir = await copyModel('dit-t2v-tiny');
    const { first } = await shard(dir);
    const indexFile = join(dir, `${WEIGHTS}.index.json`);
    const index = JSON.parse(await readFile(indexFile, 'utf8'));
    index.weight_map[first[0]] = 'diffusion_pytorch_model-00002-of-00002.safetensors';
    await writeFile(indexFile, JSON.stringify(index));
    const e = await expectModelError(planTransformer(dir), [], { tensor: first[0] });
    expect(e.message).toBe(
      `dit-t2v-tiny/diffusion_pytorch_model.safetensors.index.json: tensor "${first[0]}" is listed in shard "diffusion_pytorch_model-00002-of-00002.safetensors" but is stored in "diffusion_pytorch_model-00001-of-00002.safetensors"`,
    );
  });

  it('duplicate tensor across shards', async () => {
    const dir = await copyModel('dit-t2v-tiny');
    const { first } = await shard(dir);
    const second = join(dir, 'diffusion_pytorch_model-00002-of-00002.safetensors');
    await rewrite(second, (t) => {
      t[first[0]] = { dtype: 'F32', shape: [48], data: new Float32Array(48) };
    });
    const e = await expectModelError(planTransformer(dir), [], { file: second, tensor: first[0] });
    expect(e.message).toBe(
      `dit-t2v-tiny/diffusion_pytorch_model-00002-of-00002.safetensors: tensor "${first[0]}" is also stored in dit-t2v-tiny/diffusion_pytorch_model-00001-of-00002.safetensors`,
    );
  });

  it('unmapped original-layout key', async () => {
    const dir = await copyModel('dit-t2v-tiny-original');
    const file = join(dir, 'model.safetensors');
    await rewrite(file, (t) => {
      t['blocks.0.self_attn.rope.freqs'] = { dtype: 'F32', shape: [4], data: new Float32Array(4) };
    });
    const e = await expectModelError(planTransformer(dir), [], { file, tensor: 'blocks.0.self_attn.rope.freqs' });
    expect(e.message).toBe(
      'dit-t2v-tiny-original/model.safetensors: 1 key(s) of the original Wan layout map to no diffusers name: "blocks.0.self_attn.rope.freqs"',
    );
  });

  it('a scale_weight for a weight the model does not have', async () => {
    const dir = await copyModel('dit-t2v-tiny-original');
    const file = join(dir, 'model.safetensors');
    await rewrite(file, (t) => {
      t['blocks.0.self_attn.q.scale_weight'] = { dtype: 'F32', shape: [2], data: new Float32Array(2) };
    });
    const e = await expectModelError(planTransformer(dir), [], { file, tensor: 'blocks.0.self_attn.q.scale_weight' });
    expect(e.message).toBe('dit-t2v-tiny-original/model.safetensors: scale tensor "blocks.0.self_attn.q.scale_weight" has shape [2]; expected a single value');
  });

  it('a folder without weights', async () => {
    const dir = await copyModel('dit-t2v-tiny');
    await rm(join(dir, WEIGHTS));
    await expectModelError(planTransformer(dir), ['dit-t2v-tiny/: no weights found (looked for diffusion_pytorch_model.safetensors, ']);
  });
});

describe('planTransformer on something that is not a transformer', () => {
  it('says so instead of listing every missing tensor', async () => {
    const dir = await copyModel('vae21-tiny');
    await copyWritable(join(MODELS, 'dit-t2v-tiny', 'config.json'), join(dir, 'config.json'));
    const e = await expectModelError(planTransformer(dir), ['vae21-tiny/diffusion_pytorch_model.safetensors: no Wan transformer tensors found']);
    expect(e.file).toBe(join(dir, WEIGHTS));
  });
});
