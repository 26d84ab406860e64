// LoRA files in every key style planned against a transformer config: same targets and scales
// whatever the style, full deltas, and a report that names every key it could not apply and why.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { parseLoraKey } from '../../lib/lora/keys.js';
import { planLora } from '../../lib/lora/plan.js';
import { writeSafetensors } from '../../lib/model/safetensors-writer.js';
import { TINY_CONFIG, TINY_MODULES, tmpDir, writeStyledLora } from '../helpers/tiny-lora.js';

const dir = tmpDir();

describe('LoRA key styles', () => {
  it('parses each style to a module and a part', () => {
    const cases: Array<[string, string, string, string]> = [
      ['diffusion_model.blocks.3.self_attn.q.lora_down.weight', 'blocks.3.self_attn.q', 'down', 'original'],
      ['blocks.3.cross_attn.k.lora_up.weight', 'blocks.3.cross_attn.k', 'up', 'original'],
      ['diffusion_model.blocks.3.ffn.0.alpha', 'blocks.3.ffn.0', 'alpha', 'original'],
      ['diffusion_model.blocks.3.self_attn.o.diff_b', 'blocks.3.self_attn.o', 'diff_b', 'original'],
      ['diffusion_model.head.head.diff', 'head.head', 'diff', 'original'],
      ['lora_unet_blocks_12_cross_attn_k_img.lora_down.weight', 'blocks.12.cross_attn.k_img', 'down', 'underscore'],
      ['lora_unet_blocks_0_ffn_2.lora_up.weight', 'blocks.0.ffn.2', 'up', 'underscore'],
      ['lora_transformer_blocks_1_attn1_to_out_0.lora_down.weight', 'blocks.1.attn1.to_out.0', 'down', 'underscore'],
      ['diffusion_model.blocks.0.self_attn.q.lora_A.weight', 'blocks.0.self_attn.q', 'down', 'peft'],
      ['transformer.blocks.0.attn1.to_out.0.lora_B.weight', 'blocks.0.attn1.to_out.0', 'up', 'peft'],
    ];
    for (const [key, module, part, style] of cases) expect(parseLoraKey(key), key).toEqual({ ok: true, parsed: { key, module, part, style } });
    const loha = parseLoraKey('lora_unet_blocks_0_self_attn_q.hada_w1_a');
    expect(loha).toMatchObject({ ok: false, reason: expect.stringContaining('LoHa') });
    expect(parseLoraKey('blocks.0.self_attn.q.weight')).toMatchObject({ ok: false, reason: expect.stringContaining('not a LoRA tensor') });
  });

  it('maps every style to the same canonical targets and scales', async () => {
    const results = [];
    for (const style of ['original', 'underscore', 'lightx2v', 'peft'] as const) {
      const file = join(dir, `${style}.safetensors`);
      await writeStyledLora(file, style, { alpha: style === 'peft' ? null : 1.5 });
      const plan = await planLora(file, TINY_CONFIG, { weight: 0.8 });
      expect(plan.report.unmatched, style).toEqual([]);
      expect(plan.report.styles, style).toEqual([style === 'lightx2v' ? 'peft' : style]);
      results.push(plan);
      const targets = plan.updates.map((u) => u.target).sort();
      expect(targets, style).toEqual(TINY_MODULES.map((m) => `${m.diffusers}.weight`).sort());
      // alpha / rank = 1.5 / 3 where the file has alpha; peft files have none: the weight alone.
      for (const u of plan.updates) expect(u.scale, style).toBeCloseTo(style === 'peft' ? 0.8 : 0.8 * 0.5, 12);
      expect(plan.report.matched).toEqual({
        'blocks.{n}.attn1.to_q': style === 'peft' ? 2 : 3,
        'blocks.{n}.attn2.to_out.0': style === 'peft' ? 2 : 3,
        'blocks.{n}.ffn.net.0.proj': style === 'peft' ? 2 : 3,
      });
    }
    // The bytes planned are the same tensors in every style (same offsets relative to the layout aside).
    const shapes = results.map((p) => p.tensors.map((t) => t.shape.join('x')).sort());
    for (const s of shapes) expect(s).toEqual(shapes[0]);
  });

  it('plans full deltas: diff, diff_b and the modulation table', async () => {
    const file = join(dir, 'diffs.safetensors');
    await writeSafetensors(file, {
      'diffusion_model.blocks.0.self_attn.q.diff': { dtype: 'F32', shape: [48, 48], data: new Float32Array(48 * 48) },
      'diffusion_model.blocks.0.self_attn.q.diff_b': { dtype: 'F32', shape: [48], data: new Float32Array(48) },
      'diffusion_model.blocks.1.self_attn.norm_q.diff': { dtype: 'BF16', shape: [48], data: new Float32Array(48) },
      'diffusion_model.blocks.1.modulation.diff': { dtype: 'F32', shape: [1, 6, 48], data: new Float32Array(6 * 48) },
      'diffusion_model.head.head.diff_b': { dtype: 'F16', shape: [64], data: new Float32Array(64) },
    });
    const plan = await planLora(file, TINY_CONFIG, { weight: -2 });
    expect(plan.report.unmatched).toEqual([]);
    expect(plan.updates.map((u) => [u.target, u.scale, Boolean(u.diff)]).sort()).toEqual([
      ['blocks.0.attn1.to_q.bias', -2, true],
      ['blocks.0.attn1.to_q.weight', -2, true],
      ['blocks.1.attn1.norm_q.weight', -2, true],
      ['blocks.1.scale_shift_table', -2, true],
      ['proj_out.bias', -2, true],
    ]);
    expect(plan.report.applied).toBe(5);
  });

  it('names every key that matched nothing, with the likely reason', async () => {
    const file = join(dir, 'mismatched.safetensors');
    const pair = (out: number, inp: number) => ({
      down: { dtype: 'F32', shape: [2, inp], data: new Float32Array(2 * inp) },
      up: { dtype: 'F32', shape: [out, 2], data: new Float32Array(out * 2) },
    });
    const i2v = pair(48, 1280);
    const deep = pair(48, 48);
    const wide = pair(5120, 5120);
    const ok = pair(48, 48);
    await writeSafetensors(file, {
      // An image-to-video (Wan2.1 I2V) module on a text-to-video model.
      'diffusion_model.blocks.0.cross_attn.k_img.lora_down.weight': i2v.down,
      'diffusion_model.blocks.0.cross_attn.k_img.lora_up.weight': i2v.up,
      // A block this 2-block model does not have.
      'diffusion_model.blocks.7.self_attn.q.lora_down.weight': deep.down,
      'diffusion_model.blocks.7.self_attn.q.lora_up.weight': deep.up,
      // A 14B-sized update.
      'diffusion_model.blocks.1.self_attn.k.lora_down.weight': wide.down,
      'diffusion_model.blocks.1.self_attn.k.lora_up.weight': wide.up,
      // A 36-channel (Wan2.2 I2V) patch embedding.
      'diffusion_model.patch_embedding.diff': { dtype: 'F32', shape: [48, 36, 1, 2, 2], data: new Float32Array(48 * 36 * 4) },
      // Not LoRA at all, and an orphan half of a pair.
      'diffusion_model.blocks.0.self_attn.q.weight': { dtype: 'F32', shape: [1], data: new Float32Array(1) },
      'diffusion_model.blocks.0.self_attn.v.lora_up.weight': ok.up,
      // One pair that fits.
      'diffusion_model.blocks.0.self_attn.o.lora_down.weight': ok.down,
      'diffusion_model.blocks.0.self_attn.o.lora_up.weight': ok.up,
    });
    const { report } = await planLora(file, TINY_CONFIG, { weight: 1 });
    expect(report.applied).toBe(2);
    expect(report.matched).toEqual({ 'blocks.{n}.attn1.to_out.0': 2 });
    expect(report.skipped).toBe(report.unmatched.length);
    const reason = (key: string) => report.unmatched.find((u) => u.key === key)?.reason;
    expect(reason('diffusion_model.blocks.0.cross_attn.k_img.lora_down.weight')).toMatch(/^image-to-video LoRA: "blocks.0.attn2.add_k_proj" exists only in the Wan2.1 image-to-video models/);
    expect(reason('diffusion_model.blocks.0.cross_attn.k_img.lora_up.weight')).toMatch(/^image-to-video LoRA/);
    expect(reason('diffusion_model.blocks.7.self_attn.q.lora_up.weight')).toBe('block 7 does not exist: this model has 2 blocks (a LoRA for a deeper model, e.g. the 40-block Wan 14B)');
    expect(reason('diffusion_model.blocks.1.self_attn.k.lora_down.weight')).toBe(
      'a LoRA for another model size: its update of "blocks.1.attn1.to_k.weight" is [5120,5120] but the weight is [48,48] (LoRA dim 5120, a Wan 14B model (Wan2.1 14B, Wan2.2 A14B); this model dim 48)',
    );
    expect(reason('diffusion_model.patch_embedding.diff')).toBe(
      "the LoRA's patch embedding takes 36 input channels but this model takes 16 (an image-to-video LoRA: Wan2.2 I2V takes 16 noise + 20 condition channels)",
    );
    expect(reason('diffusion_model.blocks.0.self_attn.q.weight')).toMatch(/^not a LoRA tensor/);
    expect(reason('diffusion_model.blocks.0.self_attn.v.lora_up.weight')).toBe('lora_up/lora_B without its lora_down/lora_A');
    expect(report.unmatched).toHaveLength(9);
  });
});
