// gguf_dequant: every tensor of a .gguf file loaded as a linear() weight (the backend keeps it as it
// chooses: compressed on the CPU), read back widened (`out.dequant.<type>`) and multiplied by the
// case's input (`out.linear.<type>` = in.x @ W^T). Tensors are named `w.<type>` in the file.
import { resolve } from 'node:path';

import type { NativeTensor } from '../../bindings/native.js';
import { readGgufHeader } from '../../model/gguf.js';
import { STORED_DTYPES, type StoredDType } from '../../model/types.js';
import type { CaseContext, KindOutputs } from '../types.js';

export async function runGgufDequant(ctx: CaseContext): Promise<KindOutputs> {
  const { manifest, inputs } = ctx;
  if (typeof manifest.model !== 'string') throw new Error('gguf_dequant needs "model" to name a .gguf file');
  const file = resolve(ctx.root, manifest.model);
  const header = await readGgufHeader(file);
  const x: NativeTensor | undefined = inputs.get('in.x');
  const out: KindOutputs = new Map();
  for (const t of header.tensors) {
    if (!(t.dtype in STORED_DTYPES)) throw new Error(`${file}: tensor "${t.name}" has dtype ${t.dtype}, which the runtime does not read`);
    const key = t.name.replace(/^w\./, '');
    const r = await ctx.addon.probeWeight({
      tensor: { name: t.name, file, offset: t.offset, length: t.length, dtype: t.dtype as StoredDType, shape: t.shape },
      x,
    });
    out.set(`out.dequant.${key}`, r.weight);
    if (r.y) out.set(`out.linear.${key}`, r.y);
  }
  return out;
}
