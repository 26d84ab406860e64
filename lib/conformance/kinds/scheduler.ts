// scheduler (filled in by the scheduler work).
import type { CaseManifest } from '../manifest.js';
import type { CaseContext, KindOutputs } from '../types.js';

export function schedulerUnsupported(_m: CaseManifest): string | null {
  return 'schedulers are not implemented yet (generate() issue)';
}

export async function runScheduler(_ctx: CaseContext): Promise<KindOutputs> {
  throw new Error('not implemented');
}
