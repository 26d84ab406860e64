#!/usr/bin/env node
// node scripts/bench-lora.mjs [1.3b|14b] [--layers N] [--rank R]
// What merging a LoRA costs on the CPU backend: a rank-R LoRA (BF16, every attention and
// feed-forward linear of every block, as lightx2v's and most style LoRAs are) merged into a
// transformer of the real Wan2.1 1.3B or Wan 14B block shape with random weights. Reports the
// first merge (base copies allocated), a re-merge of another LoRA (restore + merge, copies reused)
// and clearing, with the base-copy bytes. Per-block numbers scale linearly with the block count.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { loadAddon } from '../dist/bindings/loader.js';
import { applyLoras } from '../dist/lora/apply.js';
import { writeSafetensors } from '../dist/model/safetensors-writer.js';

const args = process.argv.slice(2);
const size = args.find((a) => !a.startsWith('--')) ?? '1.3b';
const opt = (k, d) => (args.includes(k) ? Number(args[args.indexOf(k) + 1]) : d);
const shapes = { '1.3b': { numHeads: 12, ffnDim: 8960, blocks: 30 }, '14b': { numHeads: 40, ffnDim: 13824, blocks: 40 } };
const s = shapes[size];
const layers = opt('--layers', size === '14b' ? 1 : 4);
const rank = opt('--rank', 64);
const config = {
  patchSize: [1, 2, 2], numHeads: s.numHeads, headDim: 128, inChannels: 16, outChannels: 16, textDim: 4096, freqDim: 256,
  ffnDim: s.ffnDim, numLayers: layers, crossAttnNorm: true, eps: 1e-6, imageDim: null, addedKvProjDim: null, ropeMaxSeqLen: 1024, posEmbedSeqLen: null,
};
const dim = s.numHeads * 128;
const dir = mkdtempSync(join(tmpdir(), 'wan-bench-lora-'));
let seed = 1;
const rand = (n) => Float32Array.from({ length: n }, () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * 0.02);
async function lora(file) {
  const t = {};
  for (let b = 0; b < layers; b++) {
    const mods = [];
    for (const a of ['self_attn', 'cross_attn']) for (const p of ['q', 'k', 'v', 'o']) mods.push([`${a}.${p}`, dim, dim]);
    mods.push(['ffn.0', s.ffnDim, dim], ['ffn.2', dim, s.ffnDim]);
    for (const [m, out, inp] of mods) {
      const k = `diffusion_model.blocks.${b}.${m}`;
      t[`${k}.lora_down.weight`] = { dtype: 'BF16', shape: [rank, inp], data: rand(rank * inp) };
      t[`${k}.lora_up.weight`] = { dtype: 'BF16', shape: [out, rank], data: rand(out * rank) };
      t[`${k}.alpha`] = { dtype: 'F32', shape: [], data: Float32Array.of(rank) };
    }
  }
  await writeSafetensors(file, t);
}
const a = join(dir, 'a.safetensors');
const b = join(dir, 'b.safetensors');
await lora(a);
await lora(b);
const { addon } = loadAddon('cpu');
const info = addon.info();
const model = await addon.randomTransformer(config, 1);
const expert = { high: { native: model, config }, low: null };
const time = async (f) => {
  const t0 = performance.now();
  const r = await f();
  return [performance.now() - t0, r];
};
const [firstMs, first] = await time(() => applyLoras(expert, [{ path: a, weight: 1 }]));
const [againMs, again] = await time(() => applyLoras(expert, [{ path: b, weight: 0.8 }]));
const [clearMs] = await time(() => model.clearLoras());
const mb = (x) => (x / 2 ** 20).toFixed(1);
const out = {
  shape: `${size} block shape (dim ${dim}, ffn ${s.ffnDim}), ${layers} block(s), LoRA rank ${rank} BF16 on 10 linears per block`,
  machine: `${info.device}, ${info.threads} threads, ${info.gemm}`,
  modelWeightsMiB: mb(model.weightBytes),
  baseCopiesMiB: mb(first.merges[0].baseBytes),
  baseCopiesPerBlockMiB: mb(first.merges[0].baseBytes / layers),
  firstMerge: { nativeMs: first.merges[0].ms.toFixed(0), totalMs: firstMs.toFixed(0) },
  reMerge: { nativeMs: again.merges[0].ms.toFixed(0), totalMs: againMs.toFixed(0) },
  clearMs: clearMs.toFixed(0),
  perBlockNativeMs: (again.merges[0].ms / layers).toFixed(0),
  wholeModelEstimate: `${s.blocks} blocks: ~${((again.merges[0].ms / layers) * s.blocks / 1000).toFixed(1)} s per merge, ${mb((first.merges[0].baseBytes / layers) * s.blocks)} MiB of base copies (float32)`,
};
console.log(JSON.stringify(out, null, 2));
model.dispose();
rmSync(dir, { recursive: true, force: true });
