// Errors as the server stores and shows them: the code, a message, and the fields at fault. Anything
// that is not a WanError is an internal failure: its message and stack go to the log, never to a
// client.
import { WanError } from '../errors.js';
import { RequestError } from '../schemas/issues.js';
import type { JobError } from './types.js';

export function errorOf(err: unknown): JobError {
  if (err instanceof RequestError) {
    return {
      code: err.code,
      message: err.message,
      field: err.field || undefined,
      issues: err.issues.map((i) => ({ field: i.field, message: i.message, kind: i.kind })),
    };
  }
  if (err instanceof WanError) {
    const field = /^([A-Za-z_][\w.[\]]*)(?: = |: )/.exec(err.message)?.[1];
    return { code: err.code, message: err.message, ...(field && err.code !== 'E_NATIVE' ? { field } : {}) };
  }
  const e = err as { code?: unknown; message?: unknown } | null;
  if (e && typeof e.code === 'string' && /^E_[A-Z_]+$/.test(e.code) && typeof e.message === 'string') return { code: e.code, message: e.message };
  console.error('wan-video server: internal error:', err);
  return { code: 'E_NATIVE', message: 'internal error (see the server log)' };
}

export function cancelledError(): JobError {
  return { code: 'E_CANCELLED', message: 'the job was cancelled' };
}

/** Thrown by submit-time checks with the field named, so every API can say which field was wrong. */
export function fieldError(field: string, message: string, code: 'E_INVALID_ARGUMENT' | 'E_UNSUPPORTED' = 'E_INVALID_ARGUMENT'): WanError {
  return new WanError(code, `${field}: ${message}`);
}
