// The case format of ../shared/fixtures (see its README): manifest.json + tensors.safetensors.
import { readFile } from 'node:fs/promises';
import { z } from 'zod';

import { ModelFormatError } from '../errors.js';

export const CASE_KINDS = [
  'dit_forward',
  'vae_decode',
  'vae_encode',
  'scheduler',
  'pipeline',
  'randn',
  'umt5_forward',
  'tokenizer',
  'image_preprocess',
  'clip_preprocess',
  'clip_vision_forward',
  'i2v_inputs',
  'rife_interpolate',
] as const;

export const manifestSchema = z.object({
  kind: z.string(),
  model: z.union([z.string(), z.record(z.string(), z.string().nullable()), z.null()]),
  params: z.record(z.string(), z.unknown()).default({}),
  tolerance: z.object({ rel_l2: z.number().nonnegative() }),
  inputs: z.array(z.string()),
  outputs: z.array(z.string()),
  shapes: z.record(z.string(), z.array(z.number().int().nonnegative())),
  notes: z.string().optional(),
});

export type CaseManifest = z.infer<typeof manifestSchema>;

const SPECIAL: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity };

/**
 * JSON as Python's json module writes it: bare NaN, Infinity and -Infinity are allowed (scheduler
 * configs hold `lambda_min_clipped: -Infinity`). They are rewritten outside strings only.
 */
export function parsePythonJson(text: string): unknown {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      inString = true;
      out += c;
      continue;
    }
    const word = ['-Infinity', 'Infinity', 'NaN'].find((w) => text.startsWith(w, i));
    if (word) {
      out += `"\\u0000${word}"`;
      i += word.length - 1;
      continue;
    }
    out += c;
  }
  return JSON.parse(out, (_k, v: unknown) =>
    typeof v === 'string' && v.startsWith('\u0000') && v.slice(1) in SPECIAL ? SPECIAL[v.slice(1)] : v,
  );
}

export async function readManifest(file: string): Promise<CaseManifest> {
  let json: unknown;
  try {
    json = parsePythonJson(await readFile(file, 'utf8'));
  } catch (err) {
    throw new ModelFormatError(`${file}: not readable JSON (${err instanceof Error ? err.message : String(err)})`, { file });
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ModelFormatError(`${file}: field "${issue.path.join('.')}": ${issue.message}`, { file });
  }
  return parsed.data;
}
