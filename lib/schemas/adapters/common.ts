// What the three hosted-API adapters share: the result shape and the last step, validating the
// mapped request against the canonical schema with the user's field names kept for messages.

import type { RequestApi } from '../issues.js';
import { parseRequest } from '../issues.js';
import { GenerateRequestSchema, type GenerateRequest, type GenerateRequestInput } from '../request.js';

export interface AdapterResult {
  request: GenerateRequest;
  /** Things the user should know: values rounded, fields with no effect here, documented choices. */
  warnings: string[];
  /**
   * Canonical field path -> the field (or fields) the user wrote, e.g. `numFrames` -> `num_frames`
   * or `duration × fps`. The normaliser uses it so that its rounding warnings and errors speak the
   * user's language.
   */
  fields: Record<string, string>;
}

/** Drop undefined values so that canonical schema defaults apply to what the API left out. */
export function compact<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export function finish(api: RequestApi, mapped: GenerateRequestInput, warnings: string[], fields: Record<string, string>): AdapterResult {
  const request = parseRequest(GenerateRequestSchema, compact(mapped as Record<string, unknown>), { api, fields });
  return { request, warnings, fields };
}
