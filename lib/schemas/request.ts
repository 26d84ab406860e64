// The canonical generate() request: wan-video's own field names, validated with zod.
//
// Model-dependent defaults (steps, guidance, shift, size, frames, fps, the negative prompt) are
// deliberately NOT schema defaults: the same request may run on Wan2.1 1.3B (50 steps, shift 5,
// 16 fps) or Wan2.2 TI2V 5B (24 fps), and only the pipeline knows which model is loaded. The schema
// leaves those fields undefined and `defaultsFor(variant)` below is the one table the generation
// plan (lib/pipeline/plan.ts) fills them from. Defaults that do not depend on the model
// (scheduler, output, numberResults) are schema defaults.
//
// Sanity bounds on sizes, frames and steps are ours, not a reference's: they keep a typo (width
// 19200) from becoming a multi-terabyte allocation, and they are wide enough for every hosted API's
// documented range (the adapters enforce those narrower ranges with the APIs' own field names).
// The step limit is declared once, in limits.ts.

import { z } from 'zod';
import { WanError } from '../errors.js';
import type { ModelVariant } from '../model/types.js';
import { classifyImageString, IMAGE_STRING_EXPECTED } from '../image/source.js';
import { MAX_SEED, addInvalid, addUnsupported, bool, intIn, numAbove, numIn, oneOf, seedIn, text } from './fields.js';
import { MAX_STEPS } from './limits.js';
import { InterpolateSchema } from './interpolate.js';

/**
 * The negative prompt every official Wan config uses by default (`wan_shared_cfg.sample_neg_prompt`
 * in Wan-Video/Wan2.1 and Wan-Video/Wan2.2 `wan/configs/shared_config.py`; the diffusers model cards
 * use the same string). Kept byte-exact: it is tokenized, so a changed comma changes the video.
 */
export const WAN_DEFAULT_NEGATIVE_PROMPT =
  '色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走';

/** Wan2.1 I2V prefixes the shared negative prompt with "camera shake" (`wan/configs/wan_i2v_14B.py`). */
export const WAN21_I2V_NEGATIVE_PROMPT = '镜头晃动，' + WAN_DEFAULT_NEGATIVE_PROMPT;
/** Wan2.1 FLF2V adds "shot change" in front of the I2V one (`wan/configs/__init__.py`). */
export const WAN21_FLF2V_NEGATIVE_PROMPT = '镜头切换，' + WAN21_I2V_NEGATIVE_PROMPT;

export const SCHEDULERS = ['unipc', 'dpm++2m', 'euler'] as const;
export type SchedulerName = (typeof SCHEDULERS)[number];

export const OUTPUT_FORMATS = ['mp4', 'webm', 'mov', 'png', 'contact-sheet'] as const;
export const WRITE_MODES = ['fast', 'balanced', 'small'] as const;

const HTTP_URL = /^https?:\/\//i;

/** Raw RGB pixels, row-major, 3 bytes a pixel. */
const RawRgbSchema = z
  .strictObject({
    data: z.instanceof(Uint8Array, { error: 'a Uint8Array of RGB bytes' }),
    width: intIn(1, 16384),
    height: intIn(1, 16384),
  })
  .superRefine((img, ctx) => {
    if (img.data.length !== img.width * img.height * 3) {
      addInvalid(ctx, ['data'], `width x height x 3 = ${img.width * img.height * 3} bytes of RGB (got ${img.data.length})`);
    }
  });

/**
 * A conditioning image: an http(s) URL (downloaded with lib/image's limits; private addresses are
 * refused unless the pipeline allows them), a `data:image/...;base64,` URI, plain base64 of a
 * PNG/JPEG/WebP file, a local file path, or raw RGB. Any size: the pipeline resizes it as the
 * reference pipelines do. Only the form is checked here; loading happens before any model runs.
 */
export const ImageSourceSchema = z.union(
  [
    z.string().superRefine((s, ctx) => {
      const c = classifyImageString(s);
      if (c.kind === 'invalid') addInvalid(ctx, [], c.expected);
    }),
    RawRgbSchema,
  ],
  { error: `${IMAGE_STRING_EXPECTED}, or {data: Uint8Array, width, height}` },
);
export type ImageSource = z.output<typeof ImageSourceSchema>;

/** A local .safetensors file: URLs are refused (wan-video downloads nothing). */
const loraPath = text(1).superRefine((s, ctx) => {
  if (HTTP_URL.test(s)) addUnsupported(ctx, [], 'LoRAs are not downloaded; fetch the .safetensors file and pass its path');
});

export const LoraSchema = z.strictObject({
  /** A local .safetensors file (wan-video downloads nothing). */
  path: loraPath,
  /** Runware's documented range for LoRA weights: -4 to 4, default 1. */
  weight: numIn(-4, 4).default(1),
  /** Which Wan2.2 A14B expert(s) it applies to; single-transformer models ignore it. */
  transformer: oneOf(['high', 'low', 'both']).default('both'),
});
export type LoraSpec = z.output<typeof LoraSchema>;

/**
 * Fast mode: a distilled 4-step LoRA pair for the two Wan2.2 A14B experts (lightx2v's), run with
 * the steps, guidance and shift it was distilled for (lib/lora/fast.ts). `true` uses the pair the
 * pipeline was loaded with (LoadOptions.fastLoras).
 */
export const FastSchema = z.union(
  [bool(), z.strictObject({ high: loraPath, low: loraPath })],
  { error: 'true, false or {high, low} (paths of a distilled 4-step LoRA pair)' },
);
export type FastSpec = z.output<typeof FastSchema>;

/** DBCache's own settings (cache-dit's DBCacheConfig): their request names and ranges. */
const DBCACHE_FIELDS = {
  /** Fn_compute_blocks: the first blocks, always run; their residual decides (cache-dit default 8). */
  fnBlocks: intIn(1, 64),
  /** Bn_compute_blocks: the last blocks, always run (default 0). */
  bnBlocks: intIn(0, 64),
  /** max_warmup_steps: steps 0..warmupSteps-1 of each expert always compute ... (default 8) */
  warmupSteps: intIn(0, 1000),
  /** ... those whose index is a multiple of warmup_interval, that is (default 1: all of them). */
  warmupInterval: intIn(1, 1000),
  /** max_cached_steps: cached steps per guidance branch after which every call computes (default: no bound). */
  maxCachedSteps: intIn(0, 1000),
} as const;

/**
 * A step cache. `threshold` left out means "the pipeline's per-model default" (the published TeaCache
 * thresholds differ by model: 0.05-0.08 for Wan2.1 1.3B, 0.14-0.2 for 14B), which lets the adapters
 * turn an API's plain on-switch (Oxen `run_fast`, fal `acceleration`) into a cache without inventing
 * a number. `level` (TeaCache only) is a model-independent aggressiveness from 0 to 1 (Runware's
 * teaCacheDistance): 0.5 is the model's published fast threshold (lib/pipeline/step-cache.ts). The
 * window is given in steps or in percent of the steps, not both (as in Runware). `dbcache` is
 * cache-dit's dual-block cache with its own fields (DBCACHE_FIELDS; cache-dit's defaults when left out).
 */
export const CacheSchema = z
  .strictObject({
    kind: oneOf(['teacache', 'fbcache', 'dbcache']),
    threshold: numIn(0, 1).optional(),
    level: numIn(0, 1).optional(),
    startStep: intIn(0, MAX_STEPS).optional(),
    endStep: intIn(1, MAX_STEPS).optional(),
    startPercent: intIn(0, 99).optional(),
    endPercent: intIn(1, 100).optional(),
    maxConsecutive: intIn(1, 5).optional(),
    fnBlocks: DBCACHE_FIELDS.fnBlocks.optional(),
    bnBlocks: DBCACHE_FIELDS.bnBlocks.optional(),
    warmupSteps: DBCACHE_FIELDS.warmupSteps.optional(),
    warmupInterval: DBCACHE_FIELDS.warmupInterval.optional(),
    maxCachedSteps: DBCACHE_FIELDS.maxCachedSteps.optional(),
  })
  .superRefine((c, ctx) => {
    if (c.level !== undefined && c.threshold !== undefined) addInvalid(ctx, ['level'], 'either threshold or level, not both');
    if (c.level !== undefined && c.kind !== 'teacache') addInvalid(ctx, ['level'], `level with kind "teacache" (${c.kind === 'fbcache' ? 'First Block Cache' : 'DBCache'} takes a threshold)`);
    if (c.kind !== 'dbcache') {
      for (const k of Object.keys(DBCACHE_FIELDS) as (keyof typeof DBCACHE_FIELDS)[]) {
        if (c[k] !== undefined) addInvalid(ctx, [k], `${k} with kind "dbcache" (a DBCache setting)`);
      }
    }
    const steps = c.startStep !== undefined || c.endStep !== undefined;
    const pct = c.startPercent !== undefined || c.endPercent !== undefined;
    if (steps && pct) {
      addInvalid(ctx, [c.startPercent !== undefined ? 'startPercent' : 'endPercent'], 'either startStep/endStep or startPercent/endPercent, not both');
    }
    if (c.startStep !== undefined && c.endStep !== undefined && c.endStep <= c.startStep) {
      addInvalid(ctx, ['endStep'], `an integer greater than startStep (${c.startStep})`);
    }
    if (c.startPercent !== undefined && c.endPercent !== undefined && c.endPercent <= c.startPercent) {
      addInvalid(ctx, ['endPercent'], `an integer greater than startPercent (${c.startPercent}) and at most 100`);
    }
  });
export type CacheSpec = z.output<typeof CacheSchema>;

export const OutputSchema = z.strictObject({
  format: oneOf(OUTPUT_FORMATS).default('mp4'),
  /** Encoder quality on Runware's scale (20 smallest file .. 99 best); left out, the encoder decides. */
  quality: intIn(20, 99).optional(),
  /** fal's trade-off between encode time and file size. */
  writeMode: oneOf(WRITE_MODES).default('balanced'),
});

export const GenerateRequestSchema = z
  .strictObject({
    prompt: text(1),
    /** Empty is allowed and means "no negative prompt" (fal's default is ""); left out, the model's official one (defaultsFor). */
    negativePrompt: text(0).optional(),
    width: intIn(16, 4096).optional(),
    height: intIn(16, 4096).optional(),
    numFrames: intIn(1, 1025).optional(),
    /** Left out: the model's (defaultsFor: 16, TI2V 5B 24). */
    fps: intIn(1, 120).optional(),
    steps: intIn(1, MAX_STEPS).optional(),
    /** CFG scale; for Wan2.2 A14B the high-noise (first) expert's, as diffusers' guidance_scale. */
    guidanceScale: numIn(0, 50).optional(),
    /** Wan2.2 A14B low-noise (second) expert's CFG scale, as diffusers' guidance_scale_2. */
    guidanceScale2: numIn(0, 50).optional(),
    /** Flow-matching sigma shift (official `sample_shift`, diffusers' `flow_shift`). */
    shift: numAbove(0, 100).optional(),
    /** Left out: the normaliser draws one and reports it. */
    seed: seedIn(0n, MAX_SEED).optional(),
    scheduler: oneOf(SCHEDULERS).default('unipc'),
    /** Wan2.2 A14B expert switch, as a fraction of the training timesteps (0.875 T2V, 0.9 I2V). */
    boundaryRatio: numIn(0, 1).optional(),
    image: ImageSourceSchema.optional(),
    lastImage: ImageSourceSchema.optional(),
    loras: z.array(LoraSchema, { error: 'a list of {path, weight, transformer}' }).optional(),
    fast: FastSchema.optional(),
    cache: CacheSchema.optional(),
    output: OutputSchema.default(() => ({ format: 'mp4' as const, writeMode: 'balanced' as const })),
    /** Videos to make; result i uses seed + i (see seedsFor in normalize.ts). */
    numberResults: intIn(1, 20).default(1),
    /** Frame interpolation of the decoded frames (lib/interpolate/); left out, none. */
    interpolate: InterpolateSchema.optional(),
  })
  .superRefine((r, ctx) => {
    if (r.lastImage !== undefined && r.image === undefined) {
      addInvalid(ctx, ['lastImage'], 'lastImage together with image (a last frame needs a first frame)');
    }
  });

/** What callers may pass (defaults not yet applied). */
export type GenerateRequestInput = z.input<typeof GenerateRequestSchema>;
/** A validated request: defaults applied, seed a bigint when present. */
export type GenerateRequest = z.output<typeof GenerateRequestSchema>;

// ---------------------------------------------------------------------------------------------
// Per-model defaults
// ---------------------------------------------------------------------------------------------

export interface VariantDefaults {
  variant: ModelVariant;
  width: number;
  height: number;
  numFrames: number;
  fps: number;
  steps: number;
  guidanceScale: number;
  /** Wan2.2 A14B only: the low-noise expert's scale. */
  guidanceScale2?: number;
  shift: number;
  /** Sizes where the official script picks another shift (Wan2.1 I2V at 480p uses 3.0). */
  shiftBySize?: ReadonlyArray<{ width: number; height: number; shift: number }>;
  /** Wan2.2 A14B only: the expert switch as a fraction of 1000 training timesteps. */
  boundaryRatio?: number;
  scheduler: SchedulerName;
  /** The task's official negative prompt (Wan2.1 I2V/FLF2V prefix the shared one). */
  negativePrompt: string;
  /** [width, height] pairs the official code accepts for this task. */
  supportedSizes: ReadonlyArray<readonly [number, number]>;
  vaeScale: { spatial: 8 | 16; temporal: 4 };
  patch: readonly [1, 2, 2];
  /** Where the numbers come from. */
  source: string;
}

const SIZES_480_720: ReadonlyArray<readonly [number, number]> = [
  [1280, 720],
  [720, 1280],
  [832, 480],
  [480, 832],
];

// Official Wan sources:
//  Wan2.1  generate.py _validate_args: sample_steps 50 (40 when "i2v" is in the task name), sample_shift
//          5.0 (3.0 for i2v at 832*480 / 480*832, 16 for flf2v), frame_num 81, --sample_guide_scale 5.0,
//          --size "1280*720"; shared_config sample_fps 16; SUPPORTED_SIZES (t2v-1.3B: 480p only).
//          The Wan2.1 README also suggests shift 8-12 and guide 6 for T2V-1.3B; the defaults stay the
//          script's so that a request without fields reproduces `generate.py` without flags.
//  Wan2.2  wan/configs/wan_t2v_A14B.py: sample_shift 12.0, sample_steps 40, boundary 0.875,
//          sample_guide_scale (3.0, 4.0) = (low noise, high noise);
//          wan_i2v_A14B.py: shift 5.0, steps 40, boundary 0.900, guide (3.5, 3.5);
//          wan_ti2v_5B.py: sample_fps 24, shift 5.0, steps 50, guide 5.0, frame_num 121, vae_stride
//          (4, 16, 16), SUPPORTED_SIZES 1280*704 / 704*1280; generate.py --size default "1280*720".
//  In diffusers terms guidance_scale is the high-noise expert's and guidance_scale_2 the low-noise
//  expert's, so T2V-A14B is guidanceScale 4.0 / guidanceScale2 3.0.
//  custom: diffusers WanPipeline.__call__ defaults (height 480, width 832, num_frames 81,
//          num_inference_steps 50, guidance_scale 5.0) and the flow_shift 3.0 the diffusers Wan docs
//          give as the scheduler default; a custom folder's own scheduler config should win over it.
const DEFAULTS: Record<ModelVariant, VariantDefaults> = {
  'wan2.1-t2v-1.3b': {
    variant: 'wan2.1-t2v-1.3b', width: 832, height: 480, numFrames: 81, fps: 16, steps: 50, guidanceScale: 5.0,
    shift: 5.0, scheduler: 'unipc', negativePrompt: WAN_DEFAULT_NEGATIVE_PROMPT,
    supportedSizes: [[832, 480], [480, 832]], vaeScale: { spatial: 8, temporal: 4 }, patch: [1, 2, 2],
    source: 'Wan-Video/Wan2.1 generate.py defaults; wan/configs SUPPORTED_SIZES["t2v-1.3B"]',
  },
  'wan2.1-t2v-14b': {
    variant: 'wan2.1-t2v-14b', width: 1280, height: 720, numFrames: 81, fps: 16, steps: 50, guidanceScale: 5.0,
    shift: 5.0, scheduler: 'unipc', negativePrompt: WAN_DEFAULT_NEGATIVE_PROMPT,
    supportedSizes: SIZES_480_720, vaeScale: { spatial: 8, temporal: 4 }, patch: [1, 2, 2],
    source: 'Wan-Video/Wan2.1 generate.py defaults (--size 1280*720)',
  },
  'wan2.1-i2v-14b': {
    variant: 'wan2.1-i2v-14b', width: 1280, height: 720, numFrames: 81, fps: 16, steps: 40, guidanceScale: 5.0,
    shift: 5.0, shiftBySize: [{ width: 832, height: 480, shift: 3.0 }, { width: 480, height: 832, shift: 3.0 }],
    scheduler: 'unipc', negativePrompt: WAN21_I2V_NEGATIVE_PROMPT,
    supportedSizes: SIZES_480_720, vaeScale: { spatial: 8, temporal: 4 }, patch: [1, 2, 2],
    source: 'Wan-Video/Wan2.1 generate.py (i2v: 40 steps, shift 3.0 at 480p); wan/configs/wan_i2v_14B.py',
  },
  'wan2.1-flf2v-14b': {
    variant: 'wan2.1-flf2v-14b', width: 1280, height: 720, numFrames: 81, fps: 16, steps: 50, guidanceScale: 5.0,
    shift: 16, scheduler: 'unipc', negativePrompt: WAN21_FLF2V_NEGATIVE_PROMPT,
    supportedSizes: SIZES_480_720, vaeScale: { spatial: 8, temporal: 4 }, patch: [1, 2, 2],
    source: 'Wan-Video/Wan2.1 generate.py (flf2v: shift 16); wan/configs/__init__.py flf2v_14B',
  },
  'wan2.2-t2v-a14b': {
    variant: 'wan2.2-t2v-a14b', width: 1280, height: 720, numFrames: 81, fps: 16, steps: 40, guidanceScale: 4.0,
    guidanceScale2: 3.0, shift: 12.0, boundaryRatio: 0.875, scheduler: 'unipc', negativePrompt: WAN_DEFAULT_NEGATIVE_PROMPT,
    supportedSizes: SIZES_480_720, vaeScale: { spatial: 8, temporal: 4 }, patch: [1, 2, 2],
    source: 'Wan-Video/Wan2.2 wan/configs/wan_t2v_A14B.py; generate.py --size 1280*720',
  },
  'wan2.2-i2v-a14b': {
    variant: 'wan2.2-i2v-a14b', width: 1280, height: 720, numFrames: 81, fps: 16, steps: 40, guidanceScale: 3.5,
    guidanceScale2: 3.5, shift: 5.0, boundaryRatio: 0.9, scheduler: 'unipc', negativePrompt: WAN_DEFAULT_NEGATIVE_PROMPT,
    supportedSizes: SIZES_480_720, vaeScale: { spatial: 8, temporal: 4 }, patch: [1, 2, 2],
    source: 'Wan-Video/Wan2.2 wan/configs/wan_i2v_A14B.py; generate.py --size 1280*720',
  },
  'wan2.2-ti2v-5b': {
    variant: 'wan2.2-ti2v-5b', width: 1280, height: 704, numFrames: 121, fps: 24, steps: 50, guidanceScale: 5.0,
    shift: 5.0, scheduler: 'unipc', negativePrompt: WAN_DEFAULT_NEGATIVE_PROMPT,
    supportedSizes: [[1280, 704], [704, 1280]], vaeScale: { spatial: 16, temporal: 4 }, patch: [1, 2, 2],
    source: 'Wan-Video/Wan2.2 wan/configs/wan_ti2v_5B.py; SUPPORTED_SIZES["ti2v-5B"]',
  },
  custom: {
    variant: 'custom', width: 832, height: 480, numFrames: 81, fps: 16, steps: 50, guidanceScale: 5.0,
    shift: 3.0, scheduler: 'unipc', negativePrompt: WAN_DEFAULT_NEGATIVE_PROMPT,
    supportedSizes: [], vaeScale: { spatial: 8, temporal: 4 }, patch: [1, 2, 2],
    source: 'diffusers WanPipeline.__call__ defaults; diffusers Wan docs (flow_shift 3.0)',
  },
};

export const MODEL_VARIANTS = Object.keys(DEFAULTS) as ModelVariant[];

/** The reference defaults for a model variant (a fresh copy: callers may change it). */
export function defaultsFor(variant: ModelVariant): VariantDefaults {
  const d = Object.hasOwn(DEFAULTS, variant) ? DEFAULTS[variant] : undefined;
  if (!d) throw new WanError('E_INVALID_ARGUMENT', `unknown model variant ${JSON.stringify(variant)}; expected one of ${MODEL_VARIANTS.join(', ')}`);
  return structuredClone(d);
}

/** The shift the official script picks for a variant at this size, when it picks one by size (Wan2.1 I2V at 480p: 3.0). */
export function sizeShift(variant: ModelVariant, width: number, height: number): number | undefined {
  return defaultsFor(variant).shiftBySize?.find((s) => s.width === width && s.height === height)?.shift;
}

/** The official shift for a variant at a size (Wan2.1 I2V switches to 3.0 at 480p). */
export function shiftFor(variant: ModelVariant, width: number, height: number): number {
  return sizeShift(variant, width, height) ?? defaultsFor(variant).shift;
}
