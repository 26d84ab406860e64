// planRife: a RIFE frame-interpolation checkpoint (.safetensors) to the plan the native interpolator
// loads. The network is Practical-RIFE's IFNet of the 4.25 line (train_log/IFNet_HDv3.py of the
// 4.25 and 4.26 releases and their lite/heavy variants): an `encode` head and five IFBlocks whose
// widths are read off the weights. 4.21-4.23 (and 4.22.lite) are the same network with four blocks
// (scale list [8, 4, 2, 1]) and load too. Names are the release's flownet.pkl state dict, with the
// "module." prefix of its DDP training stripped as the release's load_model strips it; the .pkl
// (a torch pickle) is converted to safetensors by scripts/convert-rife.py.
import { resolve } from 'node:path';

import { ModelFormatError, WanError } from '../errors.js';
import { fmtShape, numel, readSafetensorsHeader, type SafetensorsEntry } from './safetensors.js';
import { type StoredDType, type TensorRef } from './types.js';
import { RIFE_LIMITS, describeLimit, withinLimit } from './config-limits.js';

export interface RifeConfig {
  /** Width of encode.cnn0..cnn2. */
  headHidden: number;
  /** Features per frame (encode.cnn3's output): 4 in 4.25/4.26, 16 in 4.26.heavy. */
  headChannels: number;
  /** c of block0..block4 (block0..block3 for 4.21-4.23). */
  blockWidths: number[];
}

export interface RifePlan {
  /** The .safetensors file, absolute. */
  source: string;
  config: RifeConfig;
  /** Which release the widths match ("4.25 / 4.26", "4.25.lite", "4.21 / 4.22 / 4.23", ...), or "custom widths". */
  variant: string;
  tensors: TensorRef[];
  /** Stored tensors the network does not use (training leftovers), ignored as the release's loader
   * (load_state_dict(..., strict=False)) ignores them. */
  ignored: string[];
  weightBytes: number;
}

/** The IFNet structure this runtime implements, declared once: 5 flow blocks (4.25, 4.26) or 4 (4.21-4.23). */
export const RIFE_BLOCK_COUNTS = [4, 5] as const;
export const RIFE_RESCONVS = 8;
/** IFBlock's output: 4 flow channels, the mask logit and 8 features for the next block. */
export const RIFE_BLOCK_OUT = 13;
const FEATURES = 8;

/** Input channels of block i: (img0, img1, f0, f1, timestep), then (warped images and features,
 * timestep, mask, features) plus the 4 flow channels. */
export const rifeBlockInput = (i: number, headChannels: number): number =>
  i === 0 ? 7 + 2 * headChannels : 6 + 2 * headChannels + 2 + FEATURES + 4;

/** Every tensor a configuration implies, with its shape as torch stores it. */
export function expectedRifeTensors(c: RifeConfig): Array<{ name: string; shape: number[] }> {
  const out: Array<{ name: string; shape: number[] }> = [];
  const conv = (name: string, cout: number, cin: number, k: number) =>
    out.push({ name: `${name}.weight`, shape: [cout, cin, k, k] }, { name: `${name}.bias`, shape: [cout] });
  const convT = (name: string, cin: number, cout: number, k: number) =>
    out.push({ name: `${name}.weight`, shape: [cin, cout, k, k] }, { name: `${name}.bias`, shape: [cout] });
  conv('encode.cnn0', c.headHidden, 3, 3);
  conv('encode.cnn1', c.headHidden, c.headHidden, 3);
  conv('encode.cnn2', c.headHidden, c.headHidden, 3);
  convT('encode.cnn3', c.headHidden, c.headChannels, 4);
  c.blockWidths.forEach((w, i) => {
    const p = `block${i}`;
    conv(`${p}.conv0.0.0`, w / 2, rifeBlockInput(i, c.headChannels), 3);
    conv(`${p}.conv0.1.0`, w, w / 2, 3);
    for (let j = 0; j < RIFE_RESCONVS; j++) {
      conv(`${p}.convblock.${j}.conv`, w, w, 3);
      out.push({ name: `${p}.convblock.${j}.beta`, shape: [1, w, 1, 1] });
    }
    convT(`${p}.lastconv.0`, w, 4 * RIFE_BLOCK_OUT, 4);
  });
  return out;
}

/** The released widths, by name (Practical-RIFE's model list). */
const KNOWN: Array<{ variant: string; headChannels: number; widths: number[] }> = [
  { variant: '4.25 / 4.26', headChannels: 4, widths: [192, 128, 96, 64, 32] },
  { variant: '4.25.lite', headChannels: 4, widths: [192, 128, 96, 64, 24] },
  { variant: '4.25.heavy', headChannels: 4, widths: [384, 256, 192, 128, 64] },
  { variant: '4.26.heavy', headChannels: 16, widths: [192, 128, 96, 64, 32] },
  { variant: '4.21 / 4.22 / 4.23', headChannels: 8, widths: [256, 192, 96, 48] },
  { variant: '4.22.lite', headChannels: 4, widths: [192, 128, 64, 32] },
];

function variantOf(c: RifeConfig): string {
  const k = KNOWN.find((v) => v.headChannels === c.headChannels && v.widths.join() === c.blockWidths.join());
  return k ? k.variant : 'custom widths';
}

export async function planRife(path: string): Promise<RifePlan> {
  const file = resolve(path);
  if (!/\.safetensors$/i.test(file)) {
    const hint = /\.(pkl|pth|pt)$/i.test(file)
      ? `; convert the release's flownet.pkl first: python scripts/convert-rife.py ${path} flownet.safetensors`
      : '';
    throw new WanError('E_INVALID_ARGUMENT', `${path}: a RIFE checkpoint must be a .safetensors file${hint}`);
  }
  const header = await readSafetensorsHeader(file, { displayName: path });
  const fail = (msg: string, tensor?: string): never => {
    throw new ModelFormatError(`${path}: ${msg}`, { file, tensor });
  };
  // Release names are "module.block0...." (saved from DDP); converted files may have dropped it.
  const byName = new Map<string, SafetensorsEntry>();
  for (const e of header.tensors) {
    const name = e.name.startsWith('module.') ? e.name.slice('module.'.length) : e.name;
    if (byName.has(name)) fail(`tensor "${name}" is stored twice (with and without "module.")`, e.name);
    byName.set(name, e);
  }
  const shapeOf = (name: string): number[] => {
    const e = byName.get(name);
    if (!e) {
      return fail(
        `no tensor "${name}": not the IFNet of Practical-RIFE 4.21-4.26 (an encode head and 4 or 5 flow blocks); ` +
          'other RIFE versions (4.0-4.20, 4.24, 3.x) are a different network and are not supported',
        name,
      );
    }
    return e.shape;
  };
  const blocks = new Set<number>();
  for (const name of byName.keys()) {
    const m = /^block(\d+)\./.exec(name);
    if (m) blocks.add(Number(m[1]));
  }
  const head0 = shapeOf('encode.cnn0.weight');
  const head3 = shapeOf('encode.cnn3.weight');
  const count = blocks.size;
  if (!(RIFE_BLOCK_COUNTS as readonly number[]).includes(count) || ![...blocks].every((b) => b < count)) {
    throw new WanError(
      'E_UNSUPPORTED',
      `${path}: has flow blocks ${[...blocks].sort((a, b) => a - b).join(', ') || 'none'}; wan-video implements the IFNet of Practical-RIFE 4.21-4.26 (blocks 0-3 or 0-4)`,
    );
  }
  const config: RifeConfig = {
    headHidden: head0[0],
    headChannels: head3.length === 4 ? head3[1] : -1,
    blockWidths: Array.from({ length: count }, (_, i) => shapeOf(`block${i}.conv0.1.0.weight`)[0]),
  };
  config.blockWidths.forEach((w, i) => {
    if (!(w >= 2 && w % 2 === 0)) fail(`block${i}.conv0.1.0.weight: width ${w} must be even`, `block${i}.conv0.1.0.weight`);
  });
  // The widths come from the weights, so the file's size bounds them; the range keeps a file that is
  // mostly one huge tensor from planning a network no frame could run through.
  const widths: Array<[string, number]> = [
    ['encode.cnn0.weight', config.headHidden],
    ['encode.cnn3.weight', config.headChannels],
    ...config.blockWidths.map((w, i): [string, number] => [`block${i}.conv0.1.0.weight`, w]),
  ];
  for (const [tensor, w] of widths) {
    if (w !== -1 && !withinLimit(w, RIFE_LIMITS.width)) fail(`tensor "${tensor}": width ${w} must be ${describeLimit(RIFE_LIMITS.width)}`, tensor);
  }
  const tensors: TensorRef[] = [];
  const used = new Set<string>();
  for (const want of expectedRifeTensors(config)) {
    const e = byName.get(want.name);
    if (!e) return fail(`missing tensor "${want.name}" (expected shape ${fmtShape(want.shape)})`, want.name);
    if (e.shape.join() !== want.shape.join()) {
      fail(`tensor "${e.name}" has shape ${fmtShape(e.shape)}, expected ${fmtShape(want.shape)} for this IFNet (${variantOf(config)})`, e.name);
    }
    if (!['F32', 'F16', 'BF16'].includes(e.dtype)) {
      fail(`tensor "${e.name}" is ${e.dtype}; RIFE weights are read as F32, F16 or BF16`, e.name);
    }
    used.add(e.name);
    tensors.push({ name: want.name, storedName: e.name, file, offset: e.offset, length: e.length, dtype: e.dtype as StoredDType, shape: e.shape });
  }
  const ignored = header.tensors.map((e) => e.name).filter((n) => !used.has(n));
  return {
    source: file,
    config,
    variant: variantOf(config),
    tensors,
    ignored,
    weightBytes: tensors.reduce((s, t) => s + numel(t.shape) * 4, 0),
  };
}
