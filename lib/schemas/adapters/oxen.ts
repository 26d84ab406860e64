// Oxen.ai inference API, Wan models (POST https://hub.oxen.ai/api/ai/videos/generate).
//
// What the documentation says (docs.oxen.ai, "Model API References" -> Alibaba Wan:
// wan-ai-wan2-1-t2v-1-3b-diffusers, wan-ai-wan2-1-t2v-14b-diffusers, wan-ai-wan2-2-t2v-a14b-diffusers,
// and the Wan2.2 5B page): the body is JSON with the model id in `model` and the generation fields
// next to it. The Wan pages take diffusers' own argument names: prompt, negative_prompt, height,
// width, num_inference_steps, num_frames (4k+1, as diffusers documents), guidance_scale, seed, plus
// Oxen's run_fast switch. Each page's full request schema (json_request_schema, returned by
// GET /api/ai/models/<id>) could not be read when this was written, so:
//
// Choices where the documentation we could read is silent:
//  - Ranges: the canonical request's sanity bounds (sizes 16..4096, frames 1..1025, steps 1..MAX_STEPS
//    (lib/schemas/limits.ts), guidance 0..50); seed a non-negative integer.
//  - num_generations (the queue endpoint's field, POST /api/ai/queue): that many videos with seeds
//    seed, seed + 1, ... (the canonical numberResults, 1..20); absent means 1. Defaults: none are applied here. A field left out
//    stays undefined and the pipeline applies the loaded model's reference default (defaultsFor),
//    which is what a diffusers-backed service does when an argument is omitted.
//  - num_frames that is not 4k+1 is not refused: the normaliser rounds it as diffusers does
//    (num_frames // 4 * 4 + 1) and warns, since that is what Oxen's diffusers backend would run.
//  - run_fast: true asks for fast mode (`fast: true`): the distilled 4-step LoRA pair the pipeline
//    was loaded with (lightx2v's, lib/lora/fast.ts), and, for a pipeline without one, wan-video's
//    step cache (TeaCache) at the per-model default threshold as before; false or absent means
//    neither. Oxen does not say how it makes a run fast; a distilled pair is what the Wan2.2
//    services commonly run, the step cache is the trade that needs no other model.
//  - model: accepted (the API requires it) but it does not choose anything here: the model is the
//    one the Pipeline was opened with. A warning says so.
//  - negative_prompt absent: the loaded model's official negative prompt applies (defaultsFor).
//  - Images (the I2V models): Oxen's image-to-video pages take the first frame as `input_image`
//    (an image URL); its Wan pages use diffusers' argument names, which are `image` and
//    `last_image`. `input_image` and `image` are accepted as the first frame (one of them),
//    `last_image` as the last; each may be an http(s) URL, a data URI, base64 or a local path.

import { z } from 'zod';
import { addInvalid, bool, intIn, numIn, seedIn, text } from '../fields.js';
import { MAX_STEPS } from '../limits.js';
import { parseRequest } from '../issues.js';
import type { GenerateRequestInput } from '../request.js';
import { finish, type AdapterResult } from './common.js';

/** The Oxen model ids of the Wan pages, for messages and for telling a caller what was sent. */
export const OXEN_WAN_MODELS = [
  'wan-ai-wan2-1-t2v-1-3b-diffusers',
  'wan-ai-wan2-1-t2v-14b-diffusers',
  'wan-ai-wan2-2-t2v-a14b-diffusers',
] as const;

export const OxenRequestSchema = z.strictObject({
  model: text(1).optional(),
  prompt: text(1),
  negative_prompt: text(0).optional(),
  height: intIn(16, 4096).optional(),
  width: intIn(16, 4096).optional(),
  num_inference_steps: intIn(1, MAX_STEPS).optional(),
  num_frames: intIn(1, 1025).optional(),
  guidance_scale: numIn(0, 50).optional(),
  seed: seedIn(0n, (1n << 64n) - 1n).optional(),
  run_fast: bool().optional(),
  num_generations: intIn(1, 20).optional(),
  input_image: text(1).optional(),
  image: text(1).optional(),
  last_image: text(1).optional(),
}).superRefine((o, ctx) => {
  if (o.input_image !== undefined && o.image !== undefined) addInvalid(ctx, ['image'], 'either input_image or image, not both');
});
export type OxenRequest = z.input<typeof OxenRequestSchema>;

const FIELDS: Record<string, string> = {
  prompt: 'prompt',
  negativePrompt: 'negative_prompt',
  height: 'height',
  width: 'width',
  steps: 'num_inference_steps',
  numFrames: 'num_frames',
  guidanceScale: 'guidance_scale',
  seed: 'seed',
  cache: 'run_fast',
  fast: 'run_fast',
  numberResults: 'num_generations',
  lastImage: 'last_image',
};

export function fromOxen(input: unknown): AdapterResult {
  const o = parseRequest(OxenRequestSchema, input, { api: 'oxen' });
  const warnings: string[] = [];
  if (o.model !== undefined) {
    warnings.push(`model "${o.model}" does not select a model here: the request runs on the model the pipeline was opened with`);
  }
  const mapped: GenerateRequestInput = {
    prompt: o.prompt,
    negativePrompt: o.negative_prompt,
    width: o.width,
    height: o.height,
    numFrames: o.num_frames,
    steps: o.num_inference_steps,
    guidanceScale: o.guidance_scale,
    seed: o.seed,
    cache: o.run_fast ? { kind: 'teacache' } : undefined,
    fast: o.run_fast ? true : undefined,
    numberResults: o.num_generations,
    image: o.input_image ?? o.image,
    lastImage: o.last_image,
  };
  return finish('oxen', mapped, warnings, { ...FIELDS, image: o.input_image !== undefined ? 'input_image' : 'image' });
}
