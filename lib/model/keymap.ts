// Key layouts: the one place where checkpoint key names (original Wan, ComfyUI single files) are
// mapped to the canonical diffusers names. A model declares a KeyTable; mapKeys applies any table,
// so the VAE and UMT5 get their own tables without new code.

import type { KeyLayout } from './types.js';

export interface KeyTable {
  name: string;
  /** Prefixes that wrappers add (ComfyUI: `model.diffusion_model.`); the first that matches is stripped. */
  prefixes: readonly string[];
  /** Module renames, original -> canonical. `{n}` stands for a block index. The module's
   * `.weight`/`.bias` (and ComfyUI's `.scale_weight`/`.scale_input`) follow the module. */
  modules: ReadonlyArray<readonly [string, string]>;
  /** Renames of whole parameter names that are not a module's weight or bias. */
  params: ReadonlyArray<readonly [string, string]>;
  /** Keys that carry no weight (format markers such as ComfyUI's `scaled_fp8`): consumed silently. */
  markers: readonly string[];
}

const PARAM_SUFFIXES = ['weight', 'bias'] as const;
/** ComfyUI fp8 "scaled" files: `<module>.scale_weight` dequantises `<module>.weight`;
 * `scale_input` is for fp8 activations, which this runtime does not use. */
const SCALE_WEIGHT = 'scale_weight';
const SCALE_INPUT = 'scale_input';

interface CompiledRule {
  from: RegExp;
  to: string;
  /** Canonical-side pattern, to recognise keys already in the canonical layout. */
  canonical: RegExp;
  renames: boolean;
}

export interface CompiledKeyTable {
  table: KeyTable;
  rules: CompiledRule[];
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const templateRegex = (t: string, tail: string) =>
  new RegExp(`^${t.split('{n}').map(escape).join('(\\d+)')}${tail}$`);

export function compileKeyTable(table: KeyTable): CompiledKeyTable {
  const suffix = `\\.(${[...PARAM_SUFFIXES, SCALE_WEIGHT, SCALE_INPUT].join('|')})`;
  const rules: CompiledRule[] = [];
  for (const [from, to] of table.modules) {
    rules.push({ from: templateRegex(from, suffix), to: `${to}.$SUFFIX`, canonical: templateRegex(to, suffix), renames: from !== to });
  }
  for (const [from, to] of table.params) {
    rules.push({ from: templateRegex(from, ''), to, canonical: templateRegex(to, ''), renames: from !== to });
  }
  return { table, rules };
}

export function stripPrefix(key: string, table: KeyTable): string {
  for (const p of table.prefixes) if (key.startsWith(p)) return key.slice(p.length);
  return key;
}

function renameOne(key: string, rules: CompiledRule[]): string | null {
  for (const r of rules) {
    const m = r.from.exec(key);
    if (!m) continue;
    let out = r.to;
    if (out.includes('{n}')) out = out.replace('{n}', m[1]);
    if (out.endsWith('.$SUFFIX')) out = out.slice(0, -'$SUFFIX'.length) + m[m.length - 1];
    return out;
  }
  return null;
}

/** Which layout a key set follows: whichever of the two the majority of recognised keys matches. */
export function detectKeyLayout(keys: Iterable<string>, compiled: CompiledKeyTable): KeyLayout {
  let original = 0;
  let diffusers = 0;
  for (const raw of keys) {
    const key = stripPrefix(raw, compiled.table);
    if (compiled.rules.some((r) => r.renames && r.from.test(key))) original++;
    else if (compiled.rules.some((r) => r.renames && r.canonical.test(key))) diffusers++;
  }
  return original > diffusers ? 'original' : 'diffusers';
}

export interface KeyMapping {
  layout: KeyLayout;
  /** Stored key -> canonical name, for every key that names a tensor to load. */
  tensors: Map<string, string>;
  /** Canonical weight name -> stored key of its fp8 dequantisation scale. */
  scales: Map<string, string>;
  /** Keys consumed without becoming tensors (markers, scale_input). */
  consumed: string[];
  /** Keys no rule maps (original layout only: canonical names pass through unchanged). */
  unmapped: string[];
}

/** Map stored keys to canonical names. With `layout` unset the layout is detected. */
export function mapKeys(keys: Iterable<string>, compiled: CompiledKeyTable, layout?: KeyLayout): KeyMapping {
  const all = [...keys];
  const lay = layout ?? detectKeyLayout(all, compiled);
  const out: KeyMapping = { layout: lay, tensors: new Map(), scales: new Map(), consumed: [], unmapped: [] };
  for (const stored of all) {
    const key = stripPrefix(stored, compiled.table);
    if (compiled.table.markers.includes(key)) {
      out.consumed.push(stored);
      continue;
    }
    const canonical = lay === 'diffusers' ? key : renameOne(key, compiled.rules);
    if (canonical === null) {
      out.unmapped.push(stored);
    } else if (canonical.endsWith(`.${SCALE_INPUT}`)) {
      out.consumed.push(stored);
    } else if (canonical.endsWith(`.${SCALE_WEIGHT}`)) {
      out.scales.set(canonical.slice(0, -SCALE_WEIGHT.length) + 'weight', stored);
    } else {
      out.tensors.set(stored, canonical);
    }
  }
  return out;
}

/** WanTransformer3DModel: original Wan repository / ComfyUI names -> diffusers names. */
export const WAN_TRANSFORMER_KEYS: KeyTable = {
  name: 'wan-transformer',
  prefixes: ['model.diffusion_model.', 'diffusion_model.', 'model.'],
  modules: [
    ['patch_embedding', 'patch_embedding'],
    ['text_embedding.0', 'condition_embedder.text_embedder.linear_1'],
    ['text_embedding.2', 'condition_embedder.text_embedder.linear_2'],
    ['time_embedding.0', 'condition_embedder.time_embedder.linear_1'],
    ['time_embedding.2', 'condition_embedder.time_embedder.linear_2'],
    ['time_projection.1', 'condition_embedder.time_proj'],
    ['head.head', 'proj_out'],
    ['img_emb.proj.0', 'condition_embedder.image_embedder.norm1'],
    ['img_emb.proj.1', 'condition_embedder.image_embedder.ff.net.0.proj'],
    ['img_emb.proj.3', 'condition_embedder.image_embedder.ff.net.2'],
    ['img_emb.proj.4', 'condition_embedder.image_embedder.norm2'],
    ['blocks.{n}.self_attn.q', 'blocks.{n}.attn1.to_q'],
    ['blocks.{n}.self_attn.k', 'blocks.{n}.attn1.to_k'],
    ['blocks.{n}.self_attn.v', 'blocks.{n}.attn1.to_v'],
    ['blocks.{n}.self_attn.o', 'blocks.{n}.attn1.to_out.0'],
    ['blocks.{n}.self_attn.norm_q', 'blocks.{n}.attn1.norm_q'],
    ['blocks.{n}.self_attn.norm_k', 'blocks.{n}.attn1.norm_k'],
    ['blocks.{n}.cross_attn.q', 'blocks.{n}.attn2.to_q'],
    ['blocks.{n}.cross_attn.k', 'blocks.{n}.attn2.to_k'],
    ['blocks.{n}.cross_attn.v', 'blocks.{n}.attn2.to_v'],
    ['blocks.{n}.cross_attn.o', 'blocks.{n}.attn2.to_out.0'],
    ['blocks.{n}.cross_attn.norm_q', 'blocks.{n}.attn2.norm_q'],
    ['blocks.{n}.cross_attn.norm_k', 'blocks.{n}.attn2.norm_k'],
    ['blocks.{n}.cross_attn.k_img', 'blocks.{n}.attn2.add_k_proj'],
    ['blocks.{n}.cross_attn.v_img', 'blocks.{n}.attn2.add_v_proj'],
    ['blocks.{n}.cross_attn.norm_k_img', 'blocks.{n}.attn2.norm_added_k'],
    // The original's norm3 is the affine norm before cross-attention; diffusers calls it norm2.
    ['blocks.{n}.norm3', 'blocks.{n}.norm2'],
    ['blocks.{n}.ffn.0', 'blocks.{n}.ffn.net.0.proj'],
    ['blocks.{n}.ffn.2', 'blocks.{n}.ffn.net.2'],
  ],
  params: [
    ['head.modulation', 'scale_shift_table'],
    ['img_emb.emb_pos', 'condition_embedder.image_embedder.pos_embed'],
    ['blocks.{n}.modulation', 'blocks.{n}.scale_shift_table'],
  ],
  markers: ['scaled_fp8'],
};

export const WAN_TRANSFORMER_KEYMAP: CompiledKeyTable = compileKeyTable(WAN_TRANSFORMER_KEYS);

/** UMT5 text encoder: official Wan `T5Encoder` names (wan/modules/t5.py) and llama.cpp's T5 names
 * (gguf-py's tensor table: `token_embd`, `enc.blk.N.attn_q`, ...; city96's GGUF encoder files) ->
 * Hugging Face UMT5EncoderModel names. Full ComfyUI checkpoints carry the encoder under
 * `text_encoders.umt5xxl.transformer.` (ComfyUI's WAN21 clip_target reads it there). */
export const WAN_UMT5_KEYS: KeyTable = {
  name: 'wan-umt5',
  prefixes: ['text_encoders.umt5xxl.transformer.', 'umt5xxl.transformer.'],
  modules: [
    ['token_embedding', 'encoder.embed_tokens'],
    ['blocks.{n}.norm1', 'encoder.block.{n}.layer.0.layer_norm'],
    ['blocks.{n}.attn.q', 'encoder.block.{n}.layer.0.SelfAttention.q'],
    ['blocks.{n}.attn.k', 'encoder.block.{n}.layer.0.SelfAttention.k'],
    ['blocks.{n}.attn.v', 'encoder.block.{n}.layer.0.SelfAttention.v'],
    ['blocks.{n}.attn.o', 'encoder.block.{n}.layer.0.SelfAttention.o'],
    ['blocks.{n}.pos_embedding.embedding', 'encoder.block.{n}.layer.0.SelfAttention.relative_attention_bias'],
    ['blocks.{n}.norm2', 'encoder.block.{n}.layer.1.layer_norm'],
    ['blocks.{n}.ffn.gate.0', 'encoder.block.{n}.layer.1.DenseReluDense.wi_0'],
    ['blocks.{n}.ffn.fc1', 'encoder.block.{n}.layer.1.DenseReluDense.wi_1'],
    ['blocks.{n}.ffn.fc2', 'encoder.block.{n}.layer.1.DenseReluDense.wo'],
    ['norm', 'encoder.final_layer_norm'],
    // llama.cpp (MODEL_ARCH.T5ENCODER); ffn_gate is wi_0, ffn_up wi_1 (gated-GELU T5).
    ['token_embd', 'encoder.embed_tokens'],
    ['enc.blk.{n}.attn_norm', 'encoder.block.{n}.layer.0.layer_norm'],
    ['enc.blk.{n}.attn_q', 'encoder.block.{n}.layer.0.SelfAttention.q'],
    ['enc.blk.{n}.attn_k', 'encoder.block.{n}.layer.0.SelfAttention.k'],
    ['enc.blk.{n}.attn_v', 'encoder.block.{n}.layer.0.SelfAttention.v'],
    ['enc.blk.{n}.attn_o', 'encoder.block.{n}.layer.0.SelfAttention.o'],
    ['enc.blk.{n}.attn_rel_b', 'encoder.block.{n}.layer.0.SelfAttention.relative_attention_bias'],
    ['enc.blk.{n}.ffn_norm', 'encoder.block.{n}.layer.1.layer_norm'],
    ['enc.blk.{n}.ffn_gate', 'encoder.block.{n}.layer.1.DenseReluDense.wi_0'],
    ['enc.blk.{n}.ffn_up', 'encoder.block.{n}.layer.1.DenseReluDense.wi_1'],
    ['enc.blk.{n}.ffn_down', 'encoder.block.{n}.layer.1.DenseReluDense.wo'],
    ['enc.output_norm', 'encoder.final_layer_norm'],
  ],
  params: [],
  markers: ['scaled_fp8'],
};

export const WAN_UMT5_KEYMAP: CompiledKeyTable = compileKeyTable(WAN_UMT5_KEYS);

/** What the original AutoencoderKLWan names need to be numbered like diffusers': Wan2.1 numbers its
 * decoder's resnets and upsamplers in one flat list, Wan2.2 nests both halves per level. */
export interface WanVaeKeyStructure {
  residual: boolean;
  levels: number;
  numResBlocks: number;
}

/** The Wan2.1/Wan2.2 VAEs' shape when nothing else says: four levels of two residual blocks. */
export const WAN_VAE_DEFAULT_STRUCTURE: WanVaeKeyStructure = { residual: false, levels: 4, numResBlocks: 2 };

type Renames = Array<readonly [string, string]>;

/** AutoencoderKLWan: official Wan names (Wan2.1_VAE.pth, Wan2.2_VAE.pth and ComfyUI's single files
 * of them) -> diffusers names, for a VAE of the given structure. */
export function wanVaeKeys(s: WanVaeKeyStructure): KeyTable {
  const modules: Renames = [
    ['conv1', 'quant_conv'],
    ['conv2', 'post_quant_conv'],
    ['encoder.conv1', 'encoder.conv_in'],
    ['decoder.conv1', 'decoder.conv_in'],
  ];
  const params: Renames = [];
  // The official ResidualBlock is a Sequential: 0 norm, 1 SiLU, 2 conv, 3 norm, 4 SiLU, 5 dropout, 6 conv.
  const resnet = (from: string, to: string) => {
    modules.push([`${from}.residual.2`, `${to}.conv1`], [`${from}.residual.6`, `${to}.conv2`], [`${from}.shortcut`, `${to}.conv_shortcut`]);
    params.push([`${from}.residual.0.gamma`, `${to}.norm1.gamma`], [`${from}.residual.3.gamma`, `${to}.norm2.gamma`]);
  };
  const resample = (from: string, to: string) => {
    modules.push([`${from}.resample.1`, `${to}.resample.1`], [`${from}.time_conv`, `${to}.time_conv`]);
  };
  for (const side of ['encoder', 'decoder']) {
    resnet(`${side}.middle.0`, `${side}.mid_block.resnets.0`);
    modules.push([`${side}.middle.1.to_qkv`, `${side}.mid_block.attentions.0.to_qkv`], [`${side}.middle.1.proj`, `${side}.mid_block.attentions.0.proj`]);
    params.push([`${side}.middle.1.norm.gamma`, `${side}.mid_block.attentions.0.norm.gamma`]);
    resnet(`${side}.middle.2`, `${side}.mid_block.resnets.1`);
    params.push([`${side}.head.0.gamma`, `${side}.norm_out.gamma`]);
    modules.push([`${side}.head.2`, `${side}.conv_out`]);
  }
  const { levels, numResBlocks: nrb } = s;
  if (s.residual) {
    for (let i = 0; i < levels; i++) {
      for (let j = 0; j < nrb; j++) resnet(`encoder.downsamples.${i}.downsamples.${j}`, `encoder.down_blocks.${i}.resnets.${j}`);
      resample(`encoder.downsamples.${i}.downsamples.${nrb}`, `encoder.down_blocks.${i}.downsampler`);
      for (let j = 0; j <= nrb; j++) resnet(`decoder.upsamples.${i}.upsamples.${j}`, `decoder.up_blocks.${i}.resnets.${j}`);
      resample(`decoder.upsamples.${i}.upsamples.${nrb + 1}`, `decoder.up_blocks.${i}.upsampler`);
    }
  } else {
    // The encoder's flat list is numbered the same way in both layouts.
    resnet('encoder.downsamples.{n}', 'encoder.down_blocks.{n}');
    resample('encoder.downsamples.{n}', 'encoder.down_blocks.{n}');
    const perLevel = nrb + 2;
    for (let k = 0; k < levels * perLevel - 1; k++) {
      const i = Math.floor(k / perLevel);
      const j = k % perLevel;
      if (j <= nrb) resnet(`decoder.upsamples.${k}`, `decoder.up_blocks.${i}.resnets.${j}`);
      else resample(`decoder.upsamples.${k}`, `decoder.up_blocks.${i}.upsamplers.0`);
    }
  }
  return { name: 'wan-vae', prefixes: ['first_stage_model.', 'vae.'], modules, params, markers: [] };
}

/** The structure the stored keys of a VAE in the original layout imply; null when the keys are not
 * in that layout (diffusers names need no numbering). */
export function detectWanVaeKeyStructure(keys: Iterable<string>, table: KeyTable = wanVaeKeys(WAN_VAE_DEFAULT_STRUCTURE)): WanVaeKeyStructure | null {
  const stripped = [...keys].map((k) => stripPrefix(k, table));
  const indices = (re: RegExp) => [...new Set(stripped.map((k) => re.exec(k)).filter((m) => m !== null).map((m) => Number(m![1])))].sort((a, b) => a - b);
  const nested = indices(/^encoder\.downsamples\.(\d+)\.downsamples\./);
  if (nested.length > 0) {
    const resnets = indices(/^encoder\.downsamples\.0\.downsamples\.(\d+)\.residual\./);
    return { residual: true, levels: nested[nested.length - 1] + 1, numResBlocks: resnets.length };
  }
  const encResamples = indices(/^encoder\.downsamples\.(\d+)\.resample\./);
  if (encResamples.length > 0) return { residual: false, levels: encResamples.length + 1, numResBlocks: encResamples[0] };
  const decResamples = indices(/^decoder\.upsamples\.(\d+)\.resample\./);
  if (decResamples.length > 0) return { residual: false, levels: decResamples.length + 1, numResBlocks: decResamples[0] - 1 };
  return null;
}

/** CLIP vision encoder (Wan2.1 I2V's image encoder): canonical names are transformers'
 * CLIPVisionModel names without `vision_model.`. The original layouts are open_clip's
 * (`visual.conv1`, `visual.transformer.resblocks.N.attn.in_proj_weight`, ...: ComfyUI converts the
 * same names) and the official Wan repository's `VisionTransformer` (`visual.patch_embedding`,
 * `visual.transformer.N.attn.to_qkv`, ...). Both fuse q/k/v into one `qkv` matrix, which the image
 * encoder's plan splits into q_proj/k_proj/v_proj by byte range; `post_layernorm` and
 * `visual_projection` (open_clip `ln_post`/`proj`, Wan `post_norm`/`head`) are mapped only to be
 * recognised: Wan uses neither. */
export const CLIP_VISION_KEYS: KeyTable = {
  name: 'clip-vision',
  prefixes: ['vision_model.', 'visual.'],
  modules: [
    // open_clip
    ['conv1', 'embeddings.patch_embedding'],
    ['ln_pre', 'pre_layrnorm'],
    ['transformer.resblocks.{n}.ln_1', 'encoder.layers.{n}.layer_norm1'],
    ['transformer.resblocks.{n}.attn.out_proj', 'encoder.layers.{n}.self_attn.out_proj'],
    ['transformer.resblocks.{n}.ln_2', 'encoder.layers.{n}.layer_norm2'],
    ['transformer.resblocks.{n}.mlp.c_fc', 'encoder.layers.{n}.mlp.fc1'],
    ['transformer.resblocks.{n}.mlp.c_proj', 'encoder.layers.{n}.mlp.fc2'],
    ['ln_post', 'post_layernorm'],
    // official Wan (wan/modules/clip.py)
    ['patch_embedding', 'embeddings.patch_embedding'],
    ['pre_norm', 'pre_layrnorm'],
    ['transformer.{n}.norm1', 'encoder.layers.{n}.layer_norm1'],
    ['transformer.{n}.attn.to_qkv', 'encoder.layers.{n}.self_attn.qkv'],
    ['transformer.{n}.attn.proj', 'encoder.layers.{n}.self_attn.out_proj'],
    ['transformer.{n}.norm2', 'encoder.layers.{n}.layer_norm2'],
    ['transformer.{n}.mlp.0', 'encoder.layers.{n}.mlp.fc1'],
    ['transformer.{n}.mlp.2', 'encoder.layers.{n}.mlp.fc2'],
    ['post_norm', 'post_layernorm'],
  ],
  params: [
    ['class_embedding', 'embeddings.class_embedding'],
    ['positional_embedding', 'embeddings.position_embedding.weight'],
    ['transformer.resblocks.{n}.attn.in_proj_weight', 'encoder.layers.{n}.self_attn.qkv.weight'],
    ['transformer.resblocks.{n}.attn.in_proj_bias', 'encoder.layers.{n}.self_attn.qkv.bias'],
    ['proj', 'visual_projection.weight'],
    ['cls_embedding', 'embeddings.class_embedding'],
    ['pos_embedding', 'embeddings.position_embedding.weight'],
    ['head', 'visual_projection.weight'],
  ],
  markers: ['scaled_fp8'],
};

export const CLIP_VISION_KEYMAP: CompiledKeyTable = compileKeyTable(CLIP_VISION_KEYS);
