// Runware `videoInference` task (https://runware.ai/docs/en/video-inference/api-reference, and the
// Wan2.2 A14B model page, model runware:200@6).
//
// What the documentation says. Sources: a stored copy of the video API reference dated Oct 2025, the
// Wan2.2 A14B model page, and the issue's summary of the current reference. Where they differ the
// current values are used and the older ones noted: the Oct 2025 copy had steps 10..50,
// numberResults 1..4 and no positivePrompt maximum, and put frameImages at the top level.
//   taskType "videoInference" and taskUUID (UUID v4): required by the service
//   model              AIR id, e.g. runware:200@6 for Wan2.2 A14B
//   positivePrompt     string, required, 2..3000 characters
//   negativePrompt     string
//   width / height     integers, width 256..1920, height 256..1080, multiples of 8
//   resolution         a tier ("480p" / "720p" for Wan2.2 A14B), the alternative to width/height
//   duration           number of seconds, 1..10, required; "Total frames are calculated as
//                      duration × fps"
//   fps                integer 15..60, default 24
//   steps              integer 4..50
//   seed               integer 1..9223372036854775807, random when absent
//   CFGScale           number 0..50
//   scheduler          scheduler name
//   numberResults      integer 1..20, default 1; "Each video will have the same parameters but
//                      different seeds"
//   acceleratorOptions teaCache (bool, default false), teaCacheDistance (0..1, default 0.5),
//                      fbCache (bool, default false), fbCacheThreshold (0..1, default 0.25),
//                      cacheStartStep (0..steps) | cacheStartStepPercentage (0..99),
//                      cacheEndStep (cacheStartStep+1..steps) | cacheEndStepPercentage
//                      (cacheStartStepPercentage+1..100), cacheMaxConsecutiveSteps (1..5, default 3),
//                      dbCache (bool: "DB Cache (CacheDiT) acceleration"), dbCacheThreshold ("the
//                      sensitivity threshold for DB Cache"), dbCacheSkipInterval ("how many steps to
//                      skip between cache refreshes"). Runware's SDK types (schema-map 20260722) name
//                      these three and describe them; the documentation copies available here give
//                      no range or default for them.
//   lora               [{ model: AIR id, weight: -4..4 (default 1), transformer: "high"|"low"|"both"
//                      (default "both") }]
//   inputs.frameImages [{ image, frame: "first" | "last" | frame number }]; without `frame`:
//                      1 image = first frame, 2 = first and last, 3+ = spread between them.
//                      (The Oct 2025 reference put frameImages at the top level with the image in
//                      `inputImage`; both placements and both keys are accepted, one at a time.)
//   inputs.referenceImages / inputs.referenceVideos: reference media (not frame constraints)
//   outputType "URL"; outputFormat "MP4" | "WEBM" | "MOV" (default MP4); outputQuality 20..99
//   (default 95); deliveryMethod "sync" | "async"; webhookURL; uploadEndpoint; ttl (>= 60);
//   includeCost (default false); safety { checkContent (default false), mode "none"|"fast"|"full"
//   (default "none") }; acceleration "none"|"low"|"medium"|"high" (default "none");
//   advancedFeatures; providerSettings; referenceImages; referenceVideos; inputAudios; speech.
//
// Choices where the documentation is silent:
//  - Frames: duration × fps rounded to the nearest integer; the normaliser then makes it 4k+1 the
//    way diffusers does (frames // 4 * 4 + 1: 5 s at 24 fps = 120 -> 121, 5 s at 16 fps = 80 -> 81)
//    and warns, naming "duration × fps".
//  - resolution sizes: 480p = 832x480 and 720p = 1280x720 (Wan's landscape sizes; Runware gives no
//    aspect ratio with a tier). width and height must come together (one of them alone has no
//    meaning for a Wan model), and not together with resolution.
//  - Seeds: numberResults n runs seeds seed, seed+1, ..., seed+n-1 (seedsFor in normalize.ts).
//  - teaCacheDistance is Runware's model-independent aggressiveness (0 most conservative, 1 most
//    aggressive): it becomes the cache's `level`, which the pipeline maps onto the loaded model's
//    published TeaCache thresholds (0.5, the default, is the TeaCache authors' fast setting).
//    fbCacheThreshold is FBCache's own relative-change threshold and passes unchanged. Runware's
//    defaults (0.5, 0.25, 3 consecutive steps) apply when the cache is on. Two caches at once
//    are refused as not supported (wan-video runs one).
//    acceleratorOptions fields with no cache on have no effect and are reported.
//  - dbCache is cache-dit's DBCache (Runware: "CacheDiT"), with cache-dit's defaults for what is
//    left out (Fn 8, Bn 0, 8 warmup steps; lib/pipeline/step-cache.ts). dbCacheThreshold is
//    cache-dit's residual_diff_threshold and passes unchanged (0..1; default cache-dit's 0.08), as
//    fbCacheThreshold does. dbCacheSkipInterval is cache-dit's warmup_interval, the setting its
//    source calls the "skip interval" (of the warmup steps only every interval-th computes, the others
//    may reuse the cache; integer >= 1, default cache-dit's 1; at most 50, Runware's step maximum).
//    The window and cacheMaxConsecutiveSteps (cache-dit's max_continuous_cached_steps, default 3
//    as for the other caches) apply to it too.
//  - acceleration presets (Runware documents them as configuring several parameters for speed; it
//    does not say which): "low" and "medium" turn TeaCache on at level 0.25 and 0.5, "high" asks for
//    fast mode (the distilled 4-step LoRA pair the pipeline was loaded with, Runware's "turbo"),
//    falling back to TeaCache at level 0.75 without one; each with at most 3 cached steps in a row.
//    A preset together with an acceleratorOptions cache is refused (one speed setting per request).
//  - Schedulers: Runware names are mapped to wan-video's three: "Default", "UniPC",
//    "UniPCMultistepScheduler" -> unipc; "DPM++ 2M", "DPMSolverMultistepScheduler" -> dpm++2m;
//    "Euler", "EulerDiscreteScheduler", "FlowMatchEulerDiscreteScheduler" -> euler. Any other name
//    (Karras, ancestral or SDE variants among them) is refused with that list.
//  - Images: a public http(s) URL (downloaded within lib/image's byte, pixel and time limits;
//    private addresses refused unless the pipeline allows them), a data URI, a base64 PNG/JPEG/WEBP
//    (turned into a data URI) or a file path. Runware-stored UUIDs need Runware's storage and are
//    refused as not supported. A LoRA `model` is a .safetensors path (http(s) URLs and AIR ids
//    refused).
//  - Frame images at positions other than the first and last (keyframes in between, 3+ images)
//    are refused as not supported: Wan conditions on a first and optionally a last frame only.
//  - Transport fields with no meaning for a local run are accepted and ignored: taskUUID,
//    deliveryMethod, outputType "URL", ttl. model is accepted with a warning (the loaded model is
//    used). webhookURL and uploadEndpoint are refused as not supported; includeCost and safety are
//    refused unless they hold their documented "off" value.

import { z } from 'zod';
import { addInvalid, addUnsupported, bool, intIn, neverSupported, numIn, offOnly, oneOf, seedIn, text } from '../fields.js';
import { invalidIssue, parseRequest, RequestError } from '../issues.js';
import type { CacheSpec, GenerateRequestInput, SchedulerName } from '../request.js';
import { compact, finish, type AdapterResult } from './common.js';
import { BASE64_IMAGE_MAGIC } from '../../image/source.js';

export const RUNWARE_SCHEDULERS: Readonly<Record<string, SchedulerName>> = {
  Default: 'unipc',
  UniPC: 'unipc',
  UniPCMultistepScheduler: 'unipc',
  'DPM++ 2M': 'dpm++2m',
  DPMSolverMultistepScheduler: 'dpm++2m',
  Euler: 'euler',
  EulerDiscreteScheduler: 'euler',
  FlowMatchEulerDiscreteScheduler: 'euler',
};
const SCHEDULER_NAMES = Object.keys(RUNWARE_SCHEDULERS) as [string, ...string[]];

export const RUNWARE_RESOLUTIONS = { '480p': [832, 480], '720p': [1280, 720] } as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HTTP_URL = /^https?:\/\//i;
/** `provider:id@version`, e.g. civitai:132942@146296 or runware:200@6. */
const AIR = /^[a-z0-9_-]+:[^@\s/\\]+@[^@\s/\\]+$/i;

function multipleOf8(min: number, max: number) {
  const error = `a multiple of 8 from ${min} to ${max}`;
  return z.int({ error }).min(min, { error }).max(max, { error }).multipleOf(8, { error });
}

const imageRef = text(1).superRefine((s, ctx) => {
  if (UUID.test(s)) addUnsupported(ctx, [], 'images stored on Runware (by UUID) cannot be read here; pass a URL, a data URI, base64 or a file path');
});

const FrameImageSchema = z
  .strictObject({
    image: imageRef.optional(),
    inputImage: imageRef.optional(),
    frame: z.union([oneOf(['first', 'last']), z.int().min(0)], { error: '"first", "last" or a frame number (an integer from 0)' }).optional(),
  })
  .superRefine((f, ctx) => {
    if ((f.image === undefined) === (f.inputImage === undefined)) {
      addInvalid(ctx, [f.image === undefined ? 'image' : 'inputImage'], 'exactly one of image and inputImage');
    }
  });
type FrameImage = z.output<typeof FrameImageSchema>;

const RUNWARE_ACCELERATION_LEVEL = { low: 0.25, medium: 0.5, high: 0.75 } as const;

/** acceleratorOptions' cache switches, and the cache each turns on. */
const RUNWARE_CACHE_SWITCHES = ['teaCache', 'fbCache', 'dbCache'] as const;
const RUNWARE_CACHE_KIND = { teaCache: 'teacache', fbCache: 'fbcache', dbCache: 'dbcache' } as const;

const AcceleratorOptionsSchema = z
  .strictObject({
    teaCache: bool().optional(),
    teaCacheDistance: numIn(0, 1).optional(),
    fbCache: bool().optional(),
    fbCacheThreshold: numIn(0, 1).optional(),
    dbCache: bool().optional(),
    dbCacheThreshold: numIn(0, 1).optional(),
    dbCacheSkipInterval: intIn(1, 50).optional(),
    cacheStartStep: intIn(0, 50).optional(),
    cacheStartStepPercentage: intIn(0, 99).optional(),
    cacheEndStep: intIn(1, 50).optional(),
    cacheEndStepPercentage: intIn(1, 100).optional(),
    cacheMaxConsecutiveSteps: intIn(1, 5).optional(),
  })
  .superRefine((a, ctx) => {
    const on = RUNWARE_CACHE_SWITCHES.filter((k) => a[k]);
    if (on.length > 1) addUnsupported(ctx, [on[1]], `${on.join(' and ')} together: wan-video runs one step cache at a time`);
    // Runware documents the step and the percentage forms as alternatives; one window, one form.
    const stepForm = a.cacheStartStep !== undefined || a.cacheEndStep !== undefined;
    const pctForm = a.cacheStartStepPercentage !== undefined || a.cacheEndStepPercentage !== undefined;
    if (stepForm && pctForm) {
      addInvalid(
        ctx,
        [a.cacheStartStepPercentage !== undefined ? 'cacheStartStepPercentage' : 'cacheEndStepPercentage'],
        'the cache window in steps (cacheStartStep/cacheEndStep) or in percent (cacheStartStepPercentage/cacheEndStepPercentage), not both',
      );
    }
    if (a.cacheStartStep !== undefined && a.cacheEndStep !== undefined && a.cacheEndStep <= a.cacheStartStep) {
      addInvalid(ctx, ['cacheEndStep'], `an integer from cacheStartStep + 1 (${a.cacheStartStep + 1}) to steps`);
    }
    if (a.cacheStartStepPercentage !== undefined && a.cacheEndStepPercentage !== undefined && a.cacheEndStepPercentage <= a.cacheStartStepPercentage) {
      addInvalid(ctx, ['cacheEndStepPercentage'], `an integer from cacheStartStepPercentage + 1 (${a.cacheStartStepPercentage + 1}) to 100`);
    }
  });

const LoraItemSchema = z.strictObject({
  model: text(1).superRefine((s, ctx) => {
    if (AIR.test(s)) addUnsupported(ctx, [], 'AIR model ids need Runware\'s model store; pass a local .safetensors path');
    else if (HTTP_URL.test(s)) addUnsupported(ctx, [], 'LoRAs are not downloaded; pass a local .safetensors path');
  }),
  weight: numIn(-4, 4).default(1),
  transformer: oneOf(['high', 'low', 'both']).default('both'),
});

const outputFormat = z
  .string({ error: 'one of "MP4", "WEBM", "MOV"' })
  .transform((s) => s.toUpperCase())
  .pipe(oneOf(['MP4', 'WEBM', 'MOV']));

export const RunwareRequestSchema = z
  .strictObject({
    taskType: z.literal('videoInference', { error: '"videoInference"' }).optional(),
    taskUUID: text(1).optional(),
    model: text(1).optional(),
    positivePrompt: text(2, 3000),
    negativePrompt: text(0).optional(),
    width: multipleOf8(256, 1920).optional(),
    height: multipleOf8(256, 1080).optional(),
    resolution: oneOf(['480p', '720p']).optional(),
    duration: numIn(1, 10),
    fps: intIn(15, 60).default(24),
    steps: intIn(4, 50).optional(),
    seed: seedIn(1n, (1n << 63n) - 1n).optional(),
    CFGScale: numIn(0, 50).optional(),
    scheduler: oneOf(SCHEDULER_NAMES).optional(),
    numberResults: intIn(1, 20).default(1),
    acceleratorOptions: AcceleratorOptionsSchema.optional(),
    lora: z.array(LoraItemSchema, { error: 'a list of {model, weight, transformer}' }).optional(),
    inputs: z
      .strictObject({
        frameImages: z.array(FrameImageSchema, { error: 'a list of {image, frame}' }).min(1, { error: 'a list of at least one {image, frame}' }).optional(),
        referenceImages: neverSupported('reference images'),
        referenceVideos: neverSupported('reference videos'),
      })
      .optional(),
    frameImages: z.array(FrameImageSchema, { error: 'a list of {inputImage, frame}' }).min(1, { error: 'a list of at least one {inputImage, frame}' }).optional(),
    referenceImages: neverSupported('reference images'),
    referenceVideos: neverSupported('reference videos'),
    inputAudios: neverSupported('audio input'),
    speech: neverSupported('speech synthesis'),
    outputType: oneOf(['URL']).optional(),
    outputFormat: outputFormat.default('MP4'),
    outputQuality: intIn(20, 99).default(95),
    deliveryMethod: oneOf(['sync', 'async']).optional(),
    webhookURL: neverSupported('webhook delivery'),
    uploadEndpoint: neverSupported('uploading results to an endpoint'),
    ttl: z.int({ error: 'an integer of at least 60 (seconds)' }).min(60, { error: 'an integer of at least 60 (seconds)' }).optional(),
    includeCost: offOnly(bool(), [false], 'cost reporting').optional(),
    safety: z
      .strictObject({
        checkContent: offOnly(bool(), [false], 'the content safety checker').optional(),
        mode: offOnly(oneOf(['none', 'fast', 'full']), ['none'], 'the content safety checker').optional(),
      })
      .optional(),
    acceleration: oneOf(['none', 'low', 'medium', 'high']).optional(),
    advancedFeatures: neverSupported('advancedFeatures (watermarks)'),
    providerSettings: neverSupported('provider-specific settings'),
  })
  .superRefine((r, ctx) => {
    if ((r.width === undefined) !== (r.height === undefined)) {
      addInvalid(ctx, [r.width === undefined ? 'width' : 'height'], 'width and height together (or resolution)');
    }
    if (r.resolution !== undefined && (r.width !== undefined || r.height !== undefined)) {
      addInvalid(ctx, ['resolution'], 'either resolution or width/height, not both');
    }
    if (r.frameImages !== undefined && r.inputs?.frameImages !== undefined) {
      addInvalid(ctx, ['frameImages'], 'frame images in inputs.frameImages or (older form) frameImages, not both');
    }
    const a = r.acceleratorOptions;
    if (r.acceleration !== undefined && r.acceleration !== 'none' && RUNWARE_CACHE_SWITCHES.some((k) => a?.[k])) {
      addInvalid(ctx, ['acceleration'], '"none" when acceleratorOptions turns a cache on (a preset or acceleratorOptions, not both)');
    }
    if (a && r.steps !== undefined) {
      if (a.cacheStartStep !== undefined && a.cacheStartStep > r.steps) {
        addInvalid(ctx, ['acceleratorOptions', 'cacheStartStep'], `an integer from 0 to steps (${r.steps})`);
      }
      if (a.cacheEndStep !== undefined && a.cacheEndStep > r.steps) {
        addInvalid(ctx, ['acceleratorOptions', 'cacheEndStep'], `an integer from cacheStartStep + 1 to steps (${r.steps})`);
      }
    }
    const list = r.inputs?.frameImages ?? r.frameImages;
    if (list) {
      const base = r.inputs?.frameImages ? ['inputs', 'frameImages'] : ['frameImages'];
      const why = 'Wan conditions on the first and the last frame only; frame images in between are not implemented';
      if (list.length > 2) addUnsupported(ctx, [...base, 2], `more than two frame images: ${why}`);
      list.forEach((f, i) => {
        if (typeof f.frame === 'number' && f.frame > 0) addUnsupported(ctx, [...base, i, 'frame'], `a frame image at frame ${f.frame}: ${why} (use 0/"first" or "last")`);
      });
      const named = list.map((f) => position(f.frame)).filter((p) => p !== undefined);
      if (new Set(named).size !== named.length) addInvalid(ctx, base, 'at most one image for the first frame and one for the last');
    }
  });

export type RunwareRequest = z.input<typeof RunwareRequestSchema>;

function position(frame: FrameImage['frame']): 'first' | 'last' | undefined {
  if (frame === 'first' || frame === 0) return 'first';
  if (frame === 'last') return 'last';
  return undefined;
}

/** A Runware image reference as a canonical image source (data URI or path). */
function localImage(s: string): string {
  if (s.startsWith('data:')) return s;
  for (const [prefix, mime] of BASE64_IMAGE_MAGIC) {
    if (s.startsWith(prefix) && /^[A-Za-z0-9+/]+={0,2}$/.test(s)) return `data:${mime};base64,${s}`;
  }
  return s;
}

/** First and last frame of a 1- or 2-image list, explicit positions first, the rest in order. */
function assignFrames(list: readonly FrameImage[]): { first?: string; last?: string } {
  const out: { first?: string; last?: string } = {};
  const open: FrameImage[] = [];
  for (const f of list) {
    const p = position(f.frame);
    if (p) out[p] = localImage((f.image ?? f.inputImage)!);
    else open.push(f);
  }
  for (const f of open) {
    const src = localImage((f.image ?? f.inputImage)!);
    if (out.first === undefined) out.first = src;
    else if (out.last === undefined) out.last = src;
  }
  return out;
}

export function fromRunware(input: unknown): AdapterResult {
  const r = parseRequest(RunwareRequestSchema, input, { api: 'runware' });
  const warnings: string[] = [];
  const fields: Record<string, string> = {
    prompt: 'positivePrompt',
    negativePrompt: 'negativePrompt',
    width: r.resolution ? 'resolution' : 'width',
    height: r.resolution ? 'resolution' : 'height',
    numFrames: 'duration × fps',
    fps: 'fps',
    steps: 'steps',
    guidanceScale: 'CFGScale',
    seed: 'seed',
    scheduler: 'scheduler',
    numberResults: 'numberResults',
    cache: 'acceleratorOptions',
    loras: 'lora',
    image: r.inputs?.frameImages ? 'inputs.frameImages' : 'frameImages',
    lastImage: r.inputs?.frameImages ? 'inputs.frameImages' : 'frameImages',
    'output.format': 'outputFormat',
    'output.quality': 'outputQuality',
  };

  if (r.model !== undefined) {
    warnings.push(`model "${r.model}" does not select a model here: the request runs on the model the pipeline was opened with`);
  }

  const exact = r.duration * r.fps;
  const numFrames = Math.round(exact);
  if (Math.abs(exact - numFrames) > 1e-9) {
    warnings.push(`duration × fps = ${r.duration} × ${r.fps} = ${exact} frames; using ${numFrames}`);
  }
  // duration >= 1 and fps >= 15 make this at least 15 frames, so the rounding never reaches 0.

  let width = r.width;
  let height = r.height;
  if (r.resolution) [width, height] = RUNWARE_RESOLUTIONS[r.resolution];

  let cache: CacheSpec | undefined;
  const a = r.acceleratorOptions;
  if (a) {
    const on = RUNWARE_CACHE_SWITCHES.find((k) => a[k]);
    const kind: CacheSpec['kind'] | undefined = on ? RUNWARE_CACHE_KIND[on] : undefined;
    if (kind) {
      cache = compact({
        kind,
        threshold: kind === 'fbcache' ? (a.fbCacheThreshold ?? 0.25) : kind === 'dbcache' ? a.dbCacheThreshold : undefined,
        level: kind === 'teacache' ? (a.teaCacheDistance ?? 0.5) : undefined,
        warmupInterval: kind === 'dbcache' ? a.dbCacheSkipInterval : undefined,
        startStep: a.cacheStartStep,
        endStep: a.cacheEndStep,
        startPercent: a.cacheStartStepPercentage,
        endPercent: a.cacheEndStepPercentage,
        maxConsecutive: a.cacheMaxConsecutiveSteps ?? 3,
      });
      fields['cache.threshold'] = kind === 'dbcache' ? 'acceleratorOptions.dbCacheThreshold' : 'acceleratorOptions.fbCacheThreshold';
      fields['cache.warmupInterval'] = 'acceleratorOptions.dbCacheSkipInterval';
      fields['cache.level'] = 'acceleratorOptions.teaCacheDistance';
      fields['cache.startStep'] = 'acceleratorOptions.cacheStartStep';
      fields['cache.endStep'] = 'acceleratorOptions.cacheEndStep';
      fields['cache.startPercent'] = 'acceleratorOptions.cacheStartStepPercentage';
      fields['cache.endPercent'] = 'acceleratorOptions.cacheEndStepPercentage';
      fields['cache.maxConsecutive'] = 'acceleratorOptions.cacheMaxConsecutiveSteps';
    } else {
      const given = Object.keys(a).filter((k) => !(RUNWARE_CACHE_SWITCHES as readonly string[]).includes(k) && a[k as keyof typeof a] !== undefined);
      if (given.length > 0) {
        warnings.push(`acceleratorOptions.${given.join(', acceleratorOptions.')} have no effect: no cache (teaCache, fbCache, dbCache) is on`);
      }
    }
  }

  // The presets: TeaCache at a growing level, and at "high" fast mode (a distilled 4-step LoRA pair,
  // with that TeaCache as the fallback for a pipeline loaded without one), all with Runware's
  // default bound of 3 cached steps in a row.
  let fast: true | undefined;
  if (r.acceleration !== undefined && r.acceleration !== 'none') {
    cache = { kind: 'teacache', level: RUNWARE_ACCELERATION_LEVEL[r.acceleration], maxConsecutive: 3 };
    fields.cache = 'acceleration';
    if (r.acceleration === 'high') {
      fast = true;
      fields.fast = 'acceleration';
    }
  }

  const frames = r.inputs?.frameImages ?? r.frameImages;
  const { first, last } = frames ? assignFrames(frames) : {};
  r.lora?.forEach((_, i) => {
    fields[`loras[${i}].path`] = `lora[${i}].model`;
  });

  const mapped: GenerateRequestInput = {
    prompt: r.positivePrompt,
    negativePrompt: r.negativePrompt,
    width,
    height,
    numFrames,
    fps: r.fps,
    steps: r.steps,
    guidanceScale: r.CFGScale,
    seed: r.seed,
    scheduler: r.scheduler !== undefined ? RUNWARE_SCHEDULERS[r.scheduler] : undefined,
    numberResults: r.numberResults,
    cache,
    fast,
    loras: r.lora?.map((l) => ({ path: l.model, weight: l.weight, transformer: l.transformer })),
    image: first,
    lastImage: last,
    output: { format: r.outputFormat.toLowerCase() as 'mp4' | 'webm' | 'mov', quality: r.outputQuality, writeMode: 'balanced' },
  };
  if (last !== undefined && first === undefined) {
    // Only reachable with a single image marked "last": Wan has no last-frame-only conditioning.
    throw new RequestError('runware', [invalidIssue(fields.image, frames, 'a "first" frame image as well (Wan has no last-frame-only conditioning)')]);
  }
  return finish('runware', mapped, warnings, fields);
}
