// The key check every protected route makes, and the rule that a key sees only its own jobs.
import type { FastifyRequest } from 'fastify';

import { keyFromHeaders } from '../server/auth.js';
import type { JobView } from '../server/types.js';
import { HttpError, type ServerState } from './common.js';

/** The calling key's name (null when keys are off), or a 401. */
export function authenticate(state: ServerState, req: FastifyRequest, key = keyFromHeaders(req.headers)): string | null {
  if (state.keys.disabled) return null;
  const name = state.keys.check(key);
  if (name === null) throw new HttpError(401, 'E_UNAUTHORIZED', key ? 'invalid API key' : 'an API key is required (Authorization: Key <key> or Bearer <key>)');
  return name;
}

export function ownJob(state: ServerState, v: JobView, keyId: string | null): boolean {
  return state.keys.disabled || v.keyId === keyId;
}
