// randn: torch.randn(shape, generator=torch.Generator('cpu').manual_seed(seed)), the initial noise
// of the reference pipelines. params.seed may exceed 2^32 (PyTorch seeds its mt19937 with the low
// 32 bits); it is passed to the addon as a BigInt so any 64-bit seed is exact.
import type { CaseManifest } from '../manifest.js';
import type { CaseContext, KindOutputs } from '../types.js';

const KNOWN_PARAMS = ['seed', 'shape', 'generator'];
const MAX_SEED = (1n << 64n) - 1n;

export function randnUnsupported(m: CaseManifest): string | null {
  if (m.kind !== 'randn') return `kind "${m.kind}" is not a randn case`;
  const extra = Object.keys(m.params).filter((k) => !KNOWN_PARAMS.includes(k));
  if (extra.length) return `case params not supported yet: ${extra.join(', ')}`;
  const { seed, shape, generator } = m.params;
  if (generator !== undefined && generator !== 'torch cpu') return `params.generator ${JSON.stringify(generator)} is not implemented (only "torch cpu")`;
  // JSON numbers above 2^53 have already lost digits: the seed would not be the reference's.
  if (!Number.isSafeInteger(seed) || (seed as number) < 0) return `params.seed ${String(seed)} is not an exactly representable seed`;
  if (BigInt(seed as number) > MAX_SEED) return `params.seed ${String(seed)} exceeds 2^64 - 1`;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) return 'params.shape must be a list of sizes';
  if (m.outputs.length !== 1) return `randn cases have one output, this one lists ${m.outputs.join(', ')}`;
  return null;
}

export async function runRandn(ctx: CaseContext): Promise<KindOutputs> {
  const reason = randnUnsupported(ctx.manifest);
  if (reason) throw new Error(reason);
  const shape = ctx.manifest.params.shape as number[];
  const data = ctx.addon.randn(BigInt(ctx.manifest.params.seed as number), shape);
  return new Map([[ctx.manifest.outputs[0], { data, shape }]]);
}
