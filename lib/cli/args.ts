import { parseArgs, type ParseArgsConfig } from 'node:util';

import { WanError } from '../errors.js';

/** parseArgs with errors that name the flag, as a usage error (exit status 2). */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new WanError('E_INVALID_ARGUMENT', err instanceof Error ? err.message : String(err));
  }
}

export function parseDevice(v: string | undefined): 'auto' | 'cpu' | 'cuda' {
  if (v === undefined || v === 'auto' || v === 'cpu' || v === 'cuda') return v ?? 'auto';
  throw new WanError('E_INVALID_ARGUMENT', `--device must be auto, cpu or cuda, got "${v}"`);
}
