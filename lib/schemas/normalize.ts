// normalizeRequest: any accepted request shape in, one canonical request out, with every change the
// user did not write reported as a warning.
//
// Rounding follows diffusers' WanPipeline.__call__ (the reference the numbers are checked against):
//   if num_frames % vae_scale_factor_temporal != 1:
//       num_frames = num_frames // vae_scale_factor_temporal * vae_scale_factor_temporal + 1
//   num_frames = max(num_frames, 1)
//   h_multiple_of = vae_scale_factor_spatial * patch_size[1]   (likewise w with patch_size[2])
//   height = height // h_multiple_of * h_multiple_of           (logged as a warning there too)
// i.e. frames go to the 4k+1 at or below n + 3 (80 -> 81, 82 -> 81), sizes are floored (Wan2.1 VAE 8 x
// patch 2 = multiples of 16; Wan2.2 TI2V VAE 16 x patch 2 = multiples of 32, so 720 -> 704 as the
// official 1280*704 size). A size that floors to 0 is refused: it cannot be rounded to anything.

import { WanError } from '../errors.js';
import { fromFal } from './adapters/fal.js';
import { fromOxen } from './adapters/oxen.js';
import { fromRunware } from './adapters/runware.js';
import type { AdapterResult } from './adapters/common.js';
import { isPlainObject, MAX_SEED } from './fields.js';
import { invalidIssue, parseRequest, RequestError, type RequestApi, type RequestIssue } from './issues.js';
import { GenerateRequestSchema, type GenerateRequest } from './request.js';

export interface NormalizeOptions {
  /** Which shape the input is in; 'auto' (the default) tells it by its characteristic fields. */
  api?: RequestApi | 'auto';
  /** The loaded model's VAE compression: Wan2.1 VAE {8, 4} (default), Wan2.2 TI2V VAE {16, 4}. */
  vaeScale?: { spatial: 8 | 16; temporal: 4 };
  /** The transformer's patch size [t, h, w]; every released Wan model uses [1, 2, 2]. */
  patch?: readonly [number, number, number];
  /** Source of a seed when the request has none (tests pass a fixed one). */
  randomSeed?: () => bigint;
}

/** A request ready for the pipeline: validated, rounded, and with a seed. */
export type NormalizedRequest = GenerateRequest & { seed: bigint };

export interface NormalizeResult {
  request: NormalizedRequest;
  warnings: string[];
  /** The shape the input was read as. */
  api: RequestApi;
  /** Canonical field path -> the field the user wrote (`loras[0].path` -> `lora[0].model`), for messages. */
  fields: Record<string, string>;
}

// Fields only one API has. `shift` is left out of fal's list: it is a canonical field name too.
const RUNWARE_MARKS = ['positivePrompt', 'taskType'];
const OXEN_MARKS = ['run_fast', 'num_generations', 'input_image', 'last_image'];
const FAL_MARKS = [
  'resolution', 'aspect_ratio', 'frames_per_second', 'guidance_scale_2', 'acceleration', 'enable_prompt_expansion',
  'enable_safety_checker', 'enable_output_safety_checker', 'interpolator_model', 'num_interpolated_frames',
  'adjust_fps_for_interpolation', 'video_quality', 'video_write_mode', 'image_url', 'end_image_url',
];
// diffusers argument names that Oxen and fal share; with none of either's own fields, Oxen's reading
// (diffusers' names, no service-side defaults) is the plainer one.
const SHARED_SNAKE = ['negative_prompt', 'num_inference_steps', 'num_frames', 'guidance_scale'];

/**
 * Tell the request shape by its characteristic fields: positivePrompt/taskType -> Runware,
 * run_fast/num_generations -> Oxen, fal's own fields (resolution, aspect_ratio, frames_per_second, ...) -> fal,
 * other diffusers-style snake_case fields -> Oxen, anything else -> canonical.
 */
export function detectApi(input: unknown): RequestApi {
  if (!isPlainObject(input)) return 'canonical';
  const has = (k: string) => Object.hasOwn(input, k);
  if (RUNWARE_MARKS.some(has)) return 'runware';
  if (OXEN_MARKS.some(has)) return 'oxen';
  if (FAL_MARKS.some(has)) return 'fal';
  if (SHARED_SNAKE.some(has)) return 'oxen';
  return 'canonical';
}

/** The frame count diffusers' WanPipeline runs for a requested one. */
export function roundFrames(n: number, temporal = 4): number {
  if (n % temporal === 1 % temporal) return n;
  return Math.max(Math.floor(n / temporal) * temporal + 1, 1);
}

/** A size floored to a multiple, as WanPipeline does. */
export function roundSize(n: number, multiple: number): number {
  return Math.floor(n / multiple) * multiple;
}

/** The seed of each result: seed, seed + 1, ... (mod 2^64), one per numberResults. */
export function seedsFor(request: { seed: bigint; numberResults: number }): bigint[] {
  return Array.from({ length: request.numberResults }, (_, i) => (request.seed + BigInt(i)) & MAX_SEED);
}

/** A seed in [0, 2^63 - 1], the range the official scripts draw from (random.randint(0, sys.maxsize)). */
export function randomSeed(): bigint {
  const b = new BigUint64Array(1);
  globalThis.crypto.getRandomValues(b);
  return b[0] & ((1n << 63n) - 1n);
}

function adapt(api: RequestApi, input: unknown): AdapterResult {
  switch (api) {
    case 'oxen':
      return fromOxen(input);
    case 'fal':
      return fromFal(input);
    case 'runware':
      return fromRunware(input);
    case 'canonical':
      return { request: parseRequest(GenerateRequestSchema, input, { api }), warnings: [], fields: {} };
  }
}

export function normalizeRequest(input: unknown, options: NormalizeOptions = {}): NormalizeResult {
  if (!isPlainObject(input)) {
    throw new WanError('E_INVALID_ARGUMENT', `a request must be an object (got ${input === null ? 'null' : Array.isArray(input) ? 'an array' : typeof input})`);
  }
  const choice = options.api ?? 'auto';
  if (!['auto', 'canonical', 'oxen', 'fal', 'runware'].includes(choice)) {
    throw new WanError('E_INVALID_ARGUMENT', `api = ${JSON.stringify(choice)} is not allowed: expected one of "auto", "canonical", "oxen", "fal", "runware"`);
  }
  const api = choice === 'auto' ? detectApi(input) : (choice as RequestApi);
  const { request, warnings, fields } = adapt(api, input);
  const name = (key: string) => fields[key] ?? key;

  const spatial = options.vaeScale?.spatial ?? 8;
  const temporal = options.vaeScale?.temporal ?? 4;
  const patch = options.patch ?? [1, 2, 2];
  const out = { ...request };
  const issues: RequestIssue[] = [];

  if (out.numFrames !== undefined) {
    const n = roundFrames(out.numFrames, temporal);
    if (n !== out.numFrames) {
      warnings.push(
        `${name('numFrames')}: ${out.numFrames} frames is not ${temporal}k+1 (the VAE packs ${temporal} frames per latent after the first); ` +
          `using ${n}, as diffusers' WanPipeline rounds (num_frames // ${temporal} * ${temporal} + 1)`,
      );
      out.numFrames = n;
    }
  }
  for (const [key, p] of [['height', patch[1]], ['width', patch[2]]] as const) {
    const v = out[key];
    if (v === undefined) continue;
    const multiple = spatial * p;
    const r = roundSize(v, multiple);
    if (r === 0) {
      issues.push(invalidIssue(name(key), v, `at least ${multiple} (the VAE's ${spatial} x the patch's ${p})`));
    } else if (r !== v) {
      warnings.push(
        `${name(key)}: ${key} ${v} is not a multiple of ${multiple} (VAE ${spatial} x patch ${p}); using ${r}, rounded down as diffusers' WanPipeline does`,
      );
      out[key] = r;
    }
  }
  const c = out.cache;
  if (c && out.steps !== undefined) {
    if (c.startStep !== undefined && c.startStep > out.steps) {
      issues.push(invalidIssue(name('cache.startStep'), c.startStep, `an integer from 0 to steps (${out.steps})`));
    }
    if (c.endStep !== undefined && c.endStep > out.steps) {
      issues.push(invalidIssue(name('cache.endStep'), c.endStep, `an integer from startStep + 1 to steps (${out.steps})`));
    }
  }
  if (issues.length > 0) throw new RequestError(api, issues);

  let seed = out.seed;
  if (seed === undefined) {
    seed = (options.randomSeed ?? randomSeed)();
    warnings.push(`${name('seed')}: not given; using random seed ${seed} (pass it to reproduce this video)`);
  }
  return { request: { ...out, seed }, warnings, api, fields };
}
