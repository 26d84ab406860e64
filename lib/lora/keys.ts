// LoRA key styles -> (module, part). The module is then mapped to a canonical transformer name by
// the one key table in lib/model/keymap.ts (the same table that maps original-layout checkpoints).
//
//   original Wan / ComfyUI / kohya / musubi   diffusion_model.blocks.0.self_attn.q.lora_down.weight
//                                             ... .lora_up.weight, .alpha, .diff, .diff_b
//   kohya / musubi underscore names           lora_unet_blocks_0_self_attn_q.lora_down.weight
//                                             (lora_transformer_blocks_0_attn1_to_q with diffusers names)
//   lightx2v                                  diffusion_model.blocks.0.self_attn.q.lora_A.weight
//   diffusers / peft                          transformer.blocks.0.attn1.to_q.lora_A.weight, lora_B

import { WAN_TRANSFORMER_KEYS } from '../model/keymap.js';

export type LoraPart = 'down' | 'up' | 'alpha' | 'diff' | 'diff_b';
export type LoraKeyStyle = 'original' | 'peft' | 'underscore';

export interface ParsedLoraKey {
  key: string;
  /** Module name with wrappers stripped, dotted, in whichever layout the file uses. */
  module: string;
  part: LoraPart;
  style: LoraKeyStyle;
}

/** Longest suffixes first: `.lora_A.default.weight` before `.weight`-less forms. */
const SUFFIXES: ReadonlyArray<readonly [string, LoraPart, LoraKeyStyle | null]> = [
  ['.lora_A.default.weight', 'down', 'peft'],
  ['.lora_B.default.weight', 'up', 'peft'],
  ['.lora_down.weight', 'down', 'original'],
  ['.lora_up.weight', 'up', 'original'],
  ['.lora.down.weight', 'down', 'original'],
  ['.lora.up.weight', 'up', 'original'],
  ['.lora_A.weight', 'down', 'peft'],
  ['.lora_B.weight', 'up', 'peft'],
  ['.alpha', 'alpha', null],
  ['.diff_b', 'diff_b', null],
  ['.diff', 'diff', null],
];

/** Wrappers trainers put in front of the transformer's own names. */
const PREFIXES = ['base_model.model.', 'model.diffusion_model.', 'diffusion_model.', 'transformer.', 'pipe.dit.', 'dit.'];
const UNDERSCORE_PREFIXES = ['lora_unet__', 'lora_unet_', 'lora_transformer_', 'lycoris_'];

/** Adapter kinds that are not LoRA up/down products, with why they are not applied. */
const UNSUPPORTED: ReadonlyArray<readonly [RegExp, string]> = [
  [/\.hada_(w|t)\d/, 'LyCORIS LoHa (hada_*) tensors are not supported; only LoRA up/down pairs and full diffs are'],
  [/\.lokr_(w|t)\d/, 'LyCORIS LoKr (lokr_*) tensors are not supported; only LoRA up/down pairs and full diffs are'],
  [/\.(dora_scale|lora_magnitude_vector)/, 'DoRA magnitude vectors are not supported; only LoRA up/down pairs and full diffs are'],
];

/** Underscored module name -> dotted one, for every module of the key table (either side), with
 * the block index as `{n}`. */
function underscoreTable(): Map<string, string> {
  const out = new Map<string, string>();
  const add = (dotted: string) => out.set(dotted.replaceAll('.', '_'), dotted);
  for (const [from, to] of WAN_TRANSFORMER_KEYS.modules) {
    add(from);
    add(to);
  }
  return out;
}
const UNDERSCORED = underscoreTable();

/** `blocks_3_self_attn_q` -> `blocks.3.self_attn.q`, or null when no module of the table fits. */
export function dotModuleName(underscored: string): string | null {
  const m = /^blocks_(\d+)_(.+)$/.exec(underscored);
  if (m) {
    const dotted = UNDERSCORED.get(`blocks_{n}_${m[2]}`);
    return dotted ? dotted.replace('{n}', m[1]) : null;
  }
  const dotted = UNDERSCORED.get(underscored);
  return dotted && !dotted.includes('{n}') ? dotted : null;
}

export type ParseResult = { ok: true; parsed: ParsedLoraKey } | { ok: false; reason: string };

export function parseLoraKey(key: string): ParseResult {
  for (const [re, reason] of UNSUPPORTED) if (re.test(key)) return { ok: false, reason };
  const suffix = SUFFIXES.find(([s]) => key.endsWith(s));
  if (!suffix) {
    return { ok: false, reason: 'not a LoRA tensor this loader knows (expected lora_down/lora_up, lora_A/lora_B, alpha, diff or diff_b)' };
  }
  const [s, part, style] = suffix;
  let module = key.slice(0, -s.length);
  const under = UNDERSCORE_PREFIXES.find((p) => module.startsWith(p));
  if (under) {
    const dotted = dotModuleName(module.slice(under.length));
    if (!dotted) return { ok: false, reason: `underscore-style name "${module}" names no module of the Wan transformer` };
    return { ok: true, parsed: { key, module: dotted, part, style: 'underscore' } };
  }
  for (const p of PREFIXES) {
    if (module.startsWith(p)) {
      module = module.slice(p.length);
      break;
    }
  }
  return { ok: true, parsed: { key, module, part, style: style ?? 'original' } };
}
