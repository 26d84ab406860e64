// randn (filled in by the noise work).
import type { CaseManifest } from '../manifest.js';
import type { CaseContext, KindOutputs } from '../types.js';

export function randnUnsupported(_m: CaseManifest): string | null {
  return 'torch-compatible noise is not implemented yet (generate() issue)';
}

export async function runRandn(_ctx: CaseContext): Promise<KindOutputs> {
  throw new Error('not implemented');
}
