// What the three API modules share: the server state they work on, and the path from a client's
// request to a queued job (limits, URL images fetched, file images refused, LoRA paths confined, the request validated
// with the API's own field names, the per-key limit, the durable submit).
import { realpath } from 'node:fs/promises';
import { isAbsolute, resolve, sep } from 'node:path';

import { WanError } from '../errors.js';
import { SERVER_FILE_REFUSED, classifyImageString } from '../image/source.js';
import { normalizeRequest, randomSeed } from '../schemas/normalize.js';
import type { KeyRing } from '../server/auth.js';
import type { ServerConfig } from '../server/config.js';
import { fetchImageAsDataUrl } from '../server/fetch-guard.js';
import { fieldError } from '../server/job-errors.js';
import { type ModelEntry, resolveModelId } from '../server/model-ids.js';
import type { JobQueue } from '../server/queue/types.js';
import { TERMINAL, type ApiName, type JobDelivery, type JobSpec, type JobView } from '../server/types.js';

export interface ServerState {
  config: ServerConfig;
  queue: JobQueue;
  keys: KeyRing;
  models: ModelEntry[];
  /** The base of the URLs handed out. */
  publicUrl: string;
}

/** An error the API modules turn into their own shape: an HTTP status and a stable code. */
export class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly field?: string) {
    super(message);
  }
}

export const notFound = (what: string) => new HttpError(404, 'E_NOT_FOUND', what);

/** HTTP status for a stored or thrown error code. */
export function statusOf(code: string): number {
  switch (code) {
    case 'E_INVALID_ARGUMENT':
    case 'E_UNSUPPORTED':
    case 'E_MODEL_FORMAT':
      return 400;
    case 'E_UNAUTHORIZED':
      return 401;
    case 'E_NOT_FOUND':
      return 404;
    case 'E_TOO_MANY_JOBS':
      return 429;
    case 'E_CANCELLED':
      return 409;
    case 'E_TIMEOUT':
      return 504;
    default:
      return 500;
  }
}

/** Where a request's images and LoRA files sit, per API (paths with [] walk every element). */
export const IMAGE_FIELDS: Record<ApiName, string[]> = {
  fal: ['image_url', 'end_image_url'],
  runware: ['inputs.frameImages[].image', 'inputs.frameImages[].inputImage', 'frameImages[].image', 'frameImages[].inputImage'],
  oxen: ['input_image', 'image', 'last_image'],
};
export const LORA_FIELDS: Record<ApiName, string[]> = { fal: ['loras[].path'], runware: ['lora[].model'], oxen: [] };
export const PROMPT_FIELDS: Record<ApiName, string[]> = { fal: ['prompt', 'negative_prompt'], runware: ['positivePrompt', 'negativePrompt'], oxen: ['prompt', 'negative_prompt'] };

/** Every (field name, value, setter) a path like `inputs.frameImages[].image` reaches in `obj`. */
function reach(obj: unknown, path: string): Array<{ field: string; value: unknown; set: (v: unknown) => void }> {
  const out: Array<{ field: string; value: unknown; set: (v: unknown) => void }> = [];
  const walk = (node: unknown, parts: string[], field: string) => {
    if (node === null || typeof node !== 'object') return;
    const [head, ...rest] = parts;
    const many = head.endsWith('[]');
    const key = many ? head.slice(0, -2) : head;
    const rec = node as Record<string, unknown>;
    if (!Object.hasOwn(rec, key)) return;
    const name = field ? `${field}.${key}` : key;
    if (many) {
      const arr = rec[key];
      if (!Array.isArray(arr)) return;
      arr.forEach((item, i) => {
        if (rest.length) walk(item, rest, `${name}[${i}]`);
        else out.push({ field: `${name}[${i}]`, value: item, set: (v) => (arr[i] = v) });
      });
    } else if (rest.length) walk(rec[key], rest, name);
    else out.push({ field: name, value: rec[key], set: (v) => (rec[key] = v) });
  };
  walk(obj, path.split('.'), '');
  return out;
}

/** The checks and rewrites before validation: prompt sizes, URL images fetched, file images refused, LoRA paths confined. */
export async function prepareInput(api: ApiName, input: Record<string, unknown>, config: ServerConfig): Promise<Record<string, unknown>> {
  const copy = structuredClone(input);
  for (const p of PROMPT_FIELDS[api]) {
    for (const r of reach(copy, p)) {
      if (typeof r.value === 'string' && r.value.length > config.limits.promptChars) {
        throw fieldError(r.field, `${r.value.length} characters is more than this server takes (limits.promptChars ${config.limits.promptChars})`);
      }
    }
  }
  for (const p of IMAGE_FIELDS[api]) {
    for (const r of reach(copy, p)) {
      if (typeof r.value !== 'string') continue;
      const kind = classifyImageString(r.value).kind;
      // A path or file: URL would have the job read a file of the server's.
      if (kind === 'path') throw fieldError(r.field, SERVER_FILE_REFUSED);
      if (kind === 'url') r.set(await fetchImageAsDataUrl(r.value, r.field, config.fetch));
    }
  }
  for (const p of LORA_FIELDS[api]) {
    for (const r of reach(copy, p)) if (typeof r.value === 'string' && !/^https?:\/\//i.test(r.value)) r.set(await confine(r.value, r.field, config.loraRoots));
  }
  return copy;
}

/** A path inside one of `roots` (symbolic links resolved), or an error naming the field. */
export async function confine(path: string, field: string, roots: readonly string[]): Promise<string> {
  if (roots.length === 0) throw fieldError(field, 'LoRA files are not accepted by this server (no loraRoots configured)', 'E_UNSUPPORTED');
  const candidate = isAbsolute(path) ? path : resolve(roots[0], path);
  let real: string;
  try {
    real = await realpath(candidate);
  } catch {
    throw fieldError(field, `${JSON.stringify(path)} is not a file under the server's LoRA folders`);
  }
  if (await insideRoots(real, roots)) return real;
  throw fieldError(field, `${JSON.stringify(path)} is outside the server's LoRA folders`);
}

/** Whether `real` (a path with its links already resolved) lies in one of `roots`, theirs resolved too. */
export async function insideRoots(real: string, roots: readonly string[]): Promise<boolean> {
  for (const root of roots) {
    const r = await realpath(root).catch(() => resolve(root));
    if (real === r || real.startsWith(r.endsWith(sep) ? r : r + sep)) return true;
  }
  return false;
}

/** Validates, checks the key's limit, and queues the jobs durably. */
export async function submitJobs(
  state: ServerState,
  api: ApiName,
  jobs: Array<{ id: string; input: Record<string, unknown>; modelId: string | undefined; delivery: Partial<JobDelivery> }>,
  keyId: string | null,
): Promise<JobSpec[]> {
  const specs: JobSpec[] = [];
  for (const j of jobs) {
    const resolved = resolveModelId(api, j.modelId, state.models);
    if ('error' in resolved) throw new HttpError(404, 'E_NOT_FOUND', resolved.error, 'model');
    const input = await prepareInput(api, j.input, state.config);
    // Validation against the API's schema, with the user's field names (RequestError carries them).
    normalizeRequest(input, { api, randomSeed: () => 1n });
    // A request without a seed gets one now, so a job run again after a crash makes the same video.
    // (Every API names it `seed`; 1 .. 2^63 - 1 is inside all three ranges.)
    if (input.seed === undefined) input.seed = (randomSeed() | 1n).toString();
    specs.push({
      id: j.id,
      api,
      model: resolved.model,
      modelId: j.modelId ?? resolved.model,
      input,
      delivery: { outputType: 'URL', ttlSeconds: state.config.storage.ttlSeconds, includeCost: false, ...j.delivery },
      keyId,
      createdAt: Date.now(),
    });
  }
  if (keyId !== null && !state.keys.disabled) {
    const active = await state.queue.countActive(keyId);
    if (active + specs.length > state.config.limits.jobsPerKey) {
      throw new HttpError(429, 'E_TOO_MANY_JOBS', `this key has ${active} jobs queued or running; the limit is ${state.config.limits.jobsPerKey} (limits.jobsPerKey)`);
    }
  }
  await state.queue.submit(specs);
  return specs;
}

/** Resolves when the job ends (or `timeoutMs` passes, or `signal` aborts), with its final view. */
export async function waitForJob(state: ServerState, id: string, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<JobView> {
  return new Promise<JobView>((resolveView, reject) => {
    let done = false;
    const finish = (f: () => void) => {
      if (done) return;
      done = true;
      unsubscribe();
      clearTimeout(timer);
      clearInterval(poll);
      opts.signal?.removeEventListener('abort', onAbort);
      f();
    };
    const check = async () => {
      const v = await state.queue.get(id);
      if (v && TERMINAL.has(v.status)) finish(() => resolveView(v));
    };
    const unsubscribe = state.queue.subscribe((e) => {
      if (e.id === id && e.type === 'status' && TERMINAL.has(e.status)) void check();
    });
    const timer = setTimeout(() => finish(() => reject(new HttpError(504, 'E_TIMEOUT', `the job did not finish within ${opts.timeoutMs} ms (limits.syncTimeoutMs); it is still queued as ${id}`))), opts.timeoutMs);
    // Events may be missed across processes; a slow poll makes the wait certain.
    const poll = setInterval(() => void check().catch(() => undefined), 2000);
    const onAbort = () => finish(() => reject(new HttpError(499, 'E_CANCELLED', 'the client went away')));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    void check().catch((err) => finish(() => reject(err)));
  });
}

/** The absolute URL of a stored result. */
export function fileUrl(publicUrl: string, name: string): string {
  return `${publicUrl}/files/${name}`;
}

export function randomId(): string {
  return globalThis.crypto.randomUUID();
}

export { WanError };
