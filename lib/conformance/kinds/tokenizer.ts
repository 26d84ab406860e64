// tokenizer: the prompt path of the pipelines. params.text is cleaned here (params.cleaned is the
// reference's result, used only as a check) and tokenized with the case's tokenizer folder; the ids,
// the padded ids and the mask are compared (exactly: tolerance 0).
import { resolve } from 'node:path';

import type { NativeTensor } from '../../bindings/native.js';
import { cleanPrompt } from '../../text/clean.js';
import { UmT5Tokenizer } from '../../text/tokenizer.js';
import type { CaseManifest } from '../manifest.js';
import type { CaseContext, KindOutputs } from '../types.js';

const KNOWN_PARAMS = ['text', 'cleaned', 'max_length'];

/** Why this case cannot run, or null when it can (params it does not know would change the result). */
export function tokenizerUnsupported(manifest: CaseManifest): string | null {
  if (manifest.kind !== 'tokenizer') return `kind "${manifest.kind}" is not a tokenizer case`;
  if (typeof manifest.model !== 'string') return 'tokenizer cases need "model" to name the tokenizer folder';
  const extra = Object.keys(manifest.params).filter((k) => !KNOWN_PARAMS.includes(k));
  return extra.length ? `case params not supported yet: ${extra.join(', ')}` : null;
}

const tensor = (values: ArrayLike<number>): NativeTensor => ({ data: Float32Array.from(values), shape: [values.length] });

export async function runTokenizerCase(ctx: CaseContext): Promise<KindOutputs> {
  const { manifest } = ctx;
  const reason = tokenizerUnsupported(manifest);
  if (reason) throw new Error(reason);
  const { text, cleaned: expectedCleaned, max_length: maxLength } = manifest.params;
  if (typeof text !== 'string') throw new Error('tokenizer case: params.text must be a string');
  if (typeof expectedCleaned !== 'string') throw new Error('tokenizer case: params.cleaned must be a string');
  if (typeof maxLength !== 'number' || !Number.isInteger(maxLength)) throw new Error('tokenizer case: params.max_length must be an integer');

  const dir = resolve(ctx.root, manifest.model as string);
  const tokenizer = await ctx.cache.get(`tokenizer:${dir}`, async () => ({
    value: await UmT5Tokenizer.load(dir),
    dispose: () => {},
  }));

  // The cleaning is part of what the case tests: a difference fails it even if the ids agree.
  const cleaned = cleanPrompt(text);
  if (cleaned !== expectedCleaned) {
    throw new Error(`cleaned prompt ${JSON.stringify(cleaned)} differs from the reference's ${JSON.stringify(expectedCleaned)}`);
  }
  const padded = tokenizer.encodePadded(cleaned, maxLength);
  return new Map([
    ['out.ids', tensor(tokenizer.encode(cleaned))],
    ['out.ids_padded', tensor(padded.ids)],
    ['out.mask', tensor(padded.mask)],
  ]);
}
