// fal.ai `fal-ai/wan/v2.2-a14b/text-to-video` and `fal-ai/wan/v2.2-a14b/image-to-video`.
//
// What the documentation says (fal's OpenAPI schema as published in @fal-ai/client's generated
// types, `WanV22A14bTextToVideoInput` / `WanV22A14bImageToVideoInput`, and the model pages' llms.txt):
//   prompt                       string, required
//   negative_prompt              string, default ""
//   num_frames                   integer 17..161, default 81. Checked again for issue 18 (which
//                                 quotes 17..121) in the stored copies of fal's pages: the llms.txt
//                                 of fal-ai/wan/v2.2-a14b/text-to-video/lora, .../image-to-video and
//                                 .../video-to-video all say "Number of frames to generate. Must be
//                                 between 17 to 161 (inclusive). Default value: 81" with "Range: 17
//                                 to 161", and a review of the text-to-video endpoint's OpenAPI
//                                 (WanV22A14bTextToVideoInput, metadata updated 2026-04-21) gives
//                                 max 161; no stored fal page says 121. The schema said 81..121 in
//                                 Aug 2025. 17..161 is enforced here.
//   frames_per_second            integer 4..60, default 16
//   seed                         integer, random when absent
//   resolution                   "480p" | "580p" | "720p", default "720p"
//   aspect_ratio                 "16:9" | "9:16" | "1:1", default "16:9" (image-to-video adds "auto":
//                                 "determined automatically based on the input image")
//   num_inference_steps          integer 2..40, default 27
//   guidance_scale               number 1..10, default 3.5
//   guidance_scale_2             number 1..10, default 4 (text-to-video), 3.5 (image-to-video)
//   shift                        number 1..10, default 5
//   acceleration                 "none" | "regular", default "regular" ("The recommended value is 'regular'")
//   enable_prompt_expansion      boolean, default false
//   enable_safety_checker        boolean, default false
//   enable_output_safety_checker boolean, default false
//   interpolator_model           "none" | "film" | "rife", default "film"
//   num_interpolated_frames      integer 0..4, default 1
//   adjust_fps_for_interpolation boolean, default true
//   video_quality                "low" | "medium" | "high" | "maximum", default "high"
//   video_write_mode             "fast" | "balanced" | "small", default "balanced"
//   image_url / end_image_url    string (image-to-video; image_url required)
//
// Choices where the documentation is silent:
//  - Pixel sizes. fal names a tier and an aspect ratio but not the pixels. 480p 16:9 is Wan's own
//    832x480 and 720p 16:9 is 1280x720 (the official SIZE_CONFIGS); 9:16 swaps them. 580p is not a
//    Wan size at all: we take 1024x576 (exactly 16:9, both sides multiples of 16; 576 is the multiple
//    of 16 nearest 580). 1:1 keeps the 16:9 tier's pixel count, side = sqrt(w*h) rounded to a
//    multiple of 16: 480p 624x624, 580p 768x768, 720p 960x960.
//  - image-to-video aspect_ratio "auto" (taken as its default, which the stored schema does not
//    show): width/height are left to the pipeline, which sizes the video from the image; the
//    resolution tier is then reported in a warning rather than carried.
//  - acceleration "regular" (the default) turns on wan-video's step cache (TeaCache) at the
//    pipeline's per-model threshold; "none" runs every step. fal does not document what "regular"
//    does internally; a step cache is wan-video's equivalent speed/quality trade.
//  - Interpolation runs RIFE (Practical-RIFE 4.25's IFNet, lib/interpolate/) on the decoded frames:
//    num_interpolated_frames n inserts n frames between each pair (timesteps i/(n+1)), and
//    adjust_fps_for_interpolation multiplies frames_per_second by n + 1. interpolator_model "film"
//    (fal's default) names a different network that wan-video does not implement: RIFE serves it,
//    with a warning naming the substitution (refusing it would refuse fal's default request).
//    "none" or num_interpolated_frames 0 turn it off. Interpolation needs RIFE weights loaded with
//    the pipeline (WanPipeline.load(dir, {interpolator}), --rife): an explicit ask without them is
//    refused by the pipeline; when neither field is given (fal's default: film, 1 frame, fps
//    doubled) it runs if the weights are there and is skipped with a warning otherwise.
//  - Prompt expansion and both safety checkers default to false ("off") and are refused when true.
//  - video_quality maps onto the canonical encoder quality (Runware's 20..99 scale): low 50,
//    medium 70, high 85, maximum 95. video_write_mode maps 1:1. fal returns mp4, so format is mp4.
//  - seed: fal accepts any integer; wan-video seeds are 0..2^64-1 (torch.manual_seed's range), so a
//    negative seed is refused with that range.
//  - image_url/end_image_url: an http(s) URL (what fal takes; downloaded within lib/image's byte,
//    pixel and time limits, private addresses refused unless the pipeline allows them), a data URI,
//    base64 or a local path. The image is resized to the video as diffusers' Wan I2V pipeline does
//    (Pillow LANCZOS to exactly width x height). fal's Wan2.1 `wan-i2v` endpoint takes the same
//    `image_url`; end_image_url (first-last-frame) needs a model that takes a last frame (Wan2.2
//    A14B I2V, Wan2.1 FLF2V) and is refused by the pipeline on one that does not.
//  - loras (the `/lora` variants of these endpoints): [{path, scale, transformer, weight_name}].
//    path must be a local .safetensors file (URLs refused, naming loras[i].path); scale is the
//    canonical weight (-4..4, default 1); weight_name picks a file inside a downloaded repository
//    and is refused. fal's default for `transformer` could not be read from a stored copy of its
//    schema: a left-out transformer takes the canonical default "both" (Runware's documented one)
//    and a warning says so.

import { z } from 'zod';
import { addUnsupported, bool, intIn, numIn, oneOf, seedIn, text } from '../fields.js';
import { parseRequest } from '../issues.js';
import type { GenerateRequestInput } from '../request.js';
import { finish, type AdapterResult } from './common.js';

export const FAL_RESOLUTIONS = ['480p', '580p', '720p'] as const;
export const FAL_ASPECT_RATIOS = ['16:9', '9:16', '1:1'] as const;
export type FalResolution = (typeof FAL_RESOLUTIONS)[number];
export type FalAspectRatio = (typeof FAL_ASPECT_RATIOS)[number];

/** [width, height] for each fal tier and aspect ratio (see the choices above). */
export const FAL_SIZES: Record<FalResolution, Record<FalAspectRatio, readonly [number, number]>> = {
  '480p': { '16:9': [832, 480], '9:16': [480, 832], '1:1': [624, 624] },
  '580p': { '16:9': [1024, 576], '9:16': [576, 1024], '1:1': [768, 768] },
  '720p': { '16:9': [1280, 720], '9:16': [720, 1280], '1:1': [960, 960] },
};

/** fal's video_quality names on the canonical 20..99 encoder scale. */
export const FAL_VIDEO_QUALITY = { low: 50, medium: 70, high: 85, maximum: 95 } as const;

const FalLoraSchema = z.strictObject({
  path: text(1),
  scale: z.number({ error: 'a number from -4 to 4' }).default(1),
  transformer: oneOf(['high', 'low', 'both']).optional(),
  weight_name: z
    .string()
    .superRefine((_, ctx) => addUnsupported(ctx, [], 'weight_name selects a file in a downloaded repository; pass the .safetensors file itself as path'))
    .optional(),
});

const commonFields = {
  prompt: text(1),
  negative_prompt: text(0).default(''),
  num_frames: intIn(17, 161).default(81),
  frames_per_second: intIn(4, 60).default(16),
  seed: seedIn(0n, (1n << 64n) - 1n).optional(),
  resolution: oneOf(FAL_RESOLUTIONS).default('720p'),
  num_inference_steps: intIn(2, 40).default(27),
  guidance_scale: numIn(1, 10).default(3.5),
  shift: numIn(1, 10).default(5),
  acceleration: oneOf(['none', 'regular']).default('regular'),
  enable_prompt_expansion: bool().default(false),
  enable_safety_checker: bool().default(false),
  enable_output_safety_checker: bool().default(false),
  // Left without defaults: whether the user *asked* for interpolation decides refuse vs skip.
  interpolator_model: oneOf(['none', 'film', 'rife']).optional(),
  num_interpolated_frames: intIn(0, 4).optional(),
  adjust_fps_for_interpolation: bool().default(true),
  video_quality: oneOf(['low', 'medium', 'high', 'maximum']).default('high'),
  video_write_mode: oneOf(['fast', 'balanced', 'small']).default('balanced'),
  loras: z.array(FalLoraSchema, { error: 'a list of {path, scale, transformer}' }).optional(),
};

type FalLora = z.output<typeof FalLoraSchema>;

type Parsed = {
  enable_prompt_expansion: boolean;
  enable_safety_checker: boolean;
  enable_output_safety_checker: boolean;
};

function refuseUnimplemented(r: Parsed, ctx: z.RefinementCtx): void {
  const off = 'is not implemented by wan-video; leave the field out or set it to false';
  if (r.enable_prompt_expansion) addUnsupported(ctx, ['enable_prompt_expansion'], `prompt expansion ${off}`);
  if (r.enable_safety_checker) addUnsupported(ctx, ['enable_safety_checker'], `the input safety checker ${off}`);
  if (r.enable_output_safety_checker) addUnsupported(ctx, ['enable_output_safety_checker'], `the output safety checker ${off}`);
}

/** fal's interpolation fields as the canonical `interpolate`, and what the mapping should say. */
function interpolation(
  f: { interpolator_model?: 'none' | 'film' | 'rife'; num_interpolated_frames?: number; adjust_fps_for_interpolation: boolean },
  warnings: string[],
): GenerateRequestInput['interpolate'] {
  const model = f.interpolator_model ?? 'film';
  const frames = f.num_interpolated_frames ?? 1;
  if (model === 'none' || frames === 0) return undefined;
  const defaulted = f.interpolator_model === undefined && f.num_interpolated_frames === undefined;
  if (model === 'film') {
    warnings.push(
      `interpolator_model "film"${f.interpolator_model === undefined ? " (fal's default)" : ''}: FILM is not implemented by wan-video; RIFE (Practical-RIFE 4.25) interpolates instead`,
    );
  }
  return { model: 'rife', frames, adjustFps: f.adjust_fps_for_interpolation, ifAvailable: defaulted };
}

export const FalTextToVideoSchema = z
  .strictObject({
    ...commonFields,
    aspect_ratio: oneOf(FAL_ASPECT_RATIOS).default('16:9'),
    guidance_scale_2: numIn(1, 10).default(4),
  })
  .superRefine(refuseUnimplemented);

export const FalImageToVideoSchema = z
  .strictObject({
    ...commonFields,
    image_url: text(1),
    end_image_url: text(1).optional(),
    aspect_ratio: oneOf(['auto', ...FAL_ASPECT_RATIOS]).default('auto'),
    guidance_scale_2: numIn(1, 10).default(3.5),
  })
  .superRefine(refuseUnimplemented);

export type FalTextToVideoRequest = z.input<typeof FalTextToVideoSchema>;
export type FalImageToVideoRequest = z.input<typeof FalImageToVideoSchema>;
export type FalRequest = FalTextToVideoRequest | FalImageToVideoRequest;

const FIELDS: Record<string, string> = {
  prompt: 'prompt',
  negativePrompt: 'negative_prompt',
  width: 'resolution/aspect_ratio (width)',
  height: 'resolution/aspect_ratio (height)',
  numFrames: 'num_frames',
  fps: 'frames_per_second',
  steps: 'num_inference_steps',
  guidanceScale: 'guidance_scale',
  guidanceScale2: 'guidance_scale_2',
  shift: 'shift',
  seed: 'seed',
  image: 'image_url',
  lastImage: 'end_image_url',
  cache: 'acceleration',
  'output.quality': 'video_quality',
  'output.writeMode': 'video_write_mode',
  'interpolate.model': 'interpolator_model',
  'interpolate.frames': 'num_interpolated_frames',
  'interpolate.adjustFps': 'adjust_fps_for_interpolation',
};

/**
 * Map a fal Wan2.2 A14B request. The endpoint is told by `image_url`: present means
 * image-to-video, absent text-to-video (the two differ in aspect_ratio and guidance_scale_2).
 */
export function fromFal(input: unknown, endpoint?: 'text-to-video' | 'image-to-video'): AdapterResult {
  const i2v = endpoint ? endpoint === 'image-to-video' : typeof input === 'object' && input !== null && 'image_url' in input;
  const f = i2v ? parseRequest(FalImageToVideoSchema, input, { api: 'fal' }) : parseRequest(FalTextToVideoSchema, input, { api: 'fal' });
  const warnings: string[] = [];

  let width: number | undefined;
  let height: number | undefined;
  if (f.aspect_ratio === 'auto') {
    warnings.push(
      `aspect_ratio "auto": the video size is chosen by the pipeline from the input image; resolution "${f.resolution}" is not carried (wan-video has no area target)`,
    );
  } else {
    [width, height] = FAL_SIZES[f.resolution][f.aspect_ratio];
  }

  const interpolate = interpolation(f, warnings);

  const loras = (f as { loras?: FalLora[] }).loras;
  const fields: Record<string, string> = { ...FIELDS };
  loras?.forEach((l, i) => {
    fields[`loras[${i}].weight`] = `loras[${i}].scale`;
    if (l.transformer === undefined) warnings.push(`loras[${i}].transformer not given: the LoRA is applied to both experts`);
  });

  const mapped: GenerateRequestInput = {
    prompt: f.prompt,
    negativePrompt: f.negative_prompt,
    width,
    height,
    numFrames: f.num_frames,
    fps: f.frames_per_second,
    steps: f.num_inference_steps,
    guidanceScale: f.guidance_scale,
    guidanceScale2: f.guidance_scale_2,
    shift: f.shift,
    seed: f.seed,
    image: 'image_url' in f ? f.image_url : undefined,
    lastImage: 'end_image_url' in f ? f.end_image_url : undefined,
    cache: f.acceleration === 'regular' ? { kind: 'teacache' } : undefined,
    output: { format: 'mp4', quality: FAL_VIDEO_QUALITY[f.video_quality], writeMode: f.video_write_mode },
    loras: loras?.map((l) => ({ path: l.path, weight: l.scale, transformer: l.transformer ?? 'both' })),
    interpolate,
  };
  return finish('fal', mapped, warnings, fields);
}
