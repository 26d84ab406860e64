// vae_decode / vae_encode (filled in by the VAE work).
import type { CaseManifest } from '../manifest.js';
import type { CaseContext, KindOutputs } from '../types.js';

export function vaeUnsupported(_m: CaseManifest): string | null {
  return 'the Wan VAE is not implemented yet (VAE issue)';
}

export async function runVaeDecode(_ctx: CaseContext): Promise<KindOutputs> {
  throw new Error('not implemented');
}

export async function runVaeEncode(_ctx: CaseContext): Promise<KindOutputs> {
  throw new Error('not implemented');
}
