// The resolution step of generate(): a request (any accepted API shape) and the facts of the
// loaded model in, a GenerationPlan out. Everything decided before native work is decided here:
// normalisation, the variant's defaults (size, frames, fps, steps, guidance, shift by size, the
// task's negative prompt), fast mode, the step cache, the LoRA list, limits, what the model needs
// in the way of images, the seeds of each result, and how long it will take. No I/O, no addon:
// the request's images come in already loaded (WanPipeline.plan reads them first, since a size
// may follow from an image); a server calls it (through WanPipeline.plan) to refuse a request
// before accepting it, and the executor (WanPipeline) runs what it says without deciding anything
// again.
import type { MemoryPlan } from '../memory/plan.js';
import type { NativeSchedulerConfig } from '../bindings/native-pipeline.js';
import { WanError } from '../errors.js';
import type { LoraRequest } from '../lora/apply.js';
import { type FastLoraPair, type FastSampling, fastSampling } from '../lora/fast.js';
import type { ModelVariant, TransformerConfig } from '../model/types.js';
import { MAX_STEPS } from '../schemas/limits.js';
import { type NormalizeResult, type NormalizedRequest, normalizeRequest, seedsFor } from '../schemas/normalize.js';
import type { RequestApi } from '../schemas/issues.js';
import { type SchedulerName, defaultsFor, sizeShift } from '../schemas/request.js';
import type { LoadedImage } from '../image/load.js';
import { type DeviceFacts, type GenerationEstimate, LONG_REQUEST_SECONDS, estimateGeneration, formatDuration } from './estimate.js';
import { type ImageConditioningKind, type RequestImages, checkImagesForModel, imageConditioningKind, sizeFromImage } from './image-inputs.js';
import { type ResolvedStepCache, resolveStepCache } from './step-cache.js';
import { type InterpolationPlan, planInterpolation } from '../interpolate/plan.js';

/** The scheduler names of requests mapped to the native kinds. */
export const SCHEDULER_KINDS: Record<SchedulerName, NativeSchedulerConfig['kind']> = { unipc: 'unipc', 'dpm++2m': 'dpmsolver', euler: 'euler' };

/** What the plan needs to know about the loaded model; WanPipeline gathers it once at load. */
export interface ModelFacts {
  variant: ModelVariant;
  /** One line naming the model, for messages. */
  description: string;
  /** The (high-noise) transformer. */
  transformer: TransformerConfig;
  /** The low-noise expert of a Wan2.2 A14B pair. */
  transformer2: TransformerConfig | null;
  vae: { zDim: number; spatial: 8 | 16; temporal: 4 };
  /** The folder's scheduler_config.json, mapped; null without one. */
  scheduler: { config: NativeSchedulerConfig; shift: number; name: SchedulerName } | null;
  /** model_index.json's boundary_ratio (Wan2.2 A14B). */
  boundaryRatio: number | null;
  /** model_index.json's expand_timesteps (Wan2.2 TI2V): one timestep per token. */
  expandTimesteps: boolean;
  /** The pair `fast: true` uses (LoadOptions.fastLoras). */
  fastLoras: FastLoraPair | null;
  /** Whether a frame interpolator (RIFE) was loaded (LoadOptions.interpolator). */
  interpolator: boolean;
  /** Text tokens the prompt encoder pads to (512). */
  textLength: number;
  /** Where the work runs, for the time estimate. */
  device: DeviceFacts;
  /** What loading noticed but did not refuse; repeated in every plan. */
  warnings: readonly string[];
}

/** How the transformer is conditioned on images: TI2V's clean first latent frame, or the Wan I2V/FLF2V mask + condition channels. */
export interface ImagePlan {
  kind: Exclude<ImageConditioningKind, 'none' | 'unknown'>;
  /** The decoded images as given (each preprocessing step resizes from these). */
  image: LoadedImage;
  lastImage?: LoadedImage;
  /** Wan2.1 I2V/FLF2V also take CLIP image features (encoder_hidden_states_image). */
  clip: boolean;
}

export interface SamplingPlan {
  scheduler: NativeSchedulerConfig;
  schedulerName: SchedulerName;
  steps: number;
  shift: number;
  /** An explicit schedule (fast mode's distilled sigmas) instead of steps/shift. */
  sigmas?: number[];
  guidanceScale: number;
  guidanceScale2: number;
  /** Wan2.2 A14B: the high-noise expert runs while t >= this; undefined with one transformer. */
  boundaryTimestep?: number;
  perTokenTimesteps: boolean;
}

export interface GenerationPlan {
  api: RequestApi;
  /** The request as normalised (the user's fields, seed drawn when absent). */
  request: NormalizedRequest;
  /** Canonical field path -> the field the user wrote, for messages. */
  fields: Record<string, string>;
  width: number;
  height: number;
  numFrames: number;
  /** The fps the video plays at (interpolation included). */
  fps: number;
  /** Frames inserted between each pair of generated frames, and the fps that gives; null: none. */
  interpolation: InterpolationPlan | null;
  /** [1, C, latent frames, h, w]: the noise of each result. */
  latentShape: [number, number, number, number, number];
  /** One seed per result: seed, seed + 1, ... */
  seeds: bigint[];
  prompt: string;
  /** Null: no guidance, so no negative pass. */
  negativePrompt: string | null;
  sampling: SamplingPlan;
  cache: ResolvedStepCache | null;
  /** Fast mode's pair first (when on), then the request's, each with the field that named it. */
  loras: Array<LoraRequest & { field: string }>;
  fast: { pair: FastLoraPair; sampling: FastSampling; fromLoad: boolean } | null;
  image: ImagePlan | null;
  output: NormalizedRequest['output'];
  estimate: GenerationEstimate;
  /** The request's memory plan under the loaded pipeline's placements (lib/memory/plan.ts); set by WanPipeline.plan(). */
  memory?: MemoryPlan;
  /** Everything the user should know before it runs, in order. */
  warnings: string[];
}

export interface PlanOptions {
  /** Which shape the request is in (default: told by its fields). */
  api?: RequestApi | 'auto';
  /** Source of a seed when the request has none (tests pass a fixed one). */
  randomSeed?: () => bigint;
  /**
   * The request's images, loaded (lib/pipeline/image-inputs.ts loadRequestImages). Raw RGB images
   * need no loading; a request naming an image by file, URL or data must come with it loaded.
   */
  images?: RequestImages;
}

/** The request read (any API shape), validated and rounded for this model's VAE and patch grid. */
export function normalizeForModel(input: unknown, model: ModelFacts, opts: Pick<PlanOptions, 'api' | 'randomSeed'> = {}): NormalizeResult {
  return normalizeRequest(input, { api: opts.api, vaeScale: { spatial: model.vae.spatial, temporal: model.vae.temporal }, patch: model.transformer.patchSize, randomSeed: opts.randomSeed });
}

/**
 * Resolves a request against a model. Throws a WanError naming the field for a request the model
 * cannot serve (E_INVALID_ARGUMENT, E_UNSUPPORTED); warnings say what was chosen for the user.
 */
export function resolveGeneration(input: unknown, model: ModelFacts, opts: PlanOptions = {}): GenerationPlan {
  const c = model.transformer;
  const normalized = normalizeForModel(input, model, opts);
  const { request, fields } = normalized;
  const name = (key: string) => fields[key] ?? key;
  const warnings = [...model.warnings, ...normalized.warnings];
  const d = defaultsFor(model.variant);

  // Fast mode: a distilled pair decides steps, guidance, shift and the expert switch.
  const fast = resolveFast(request, model, warnings);
  if (fast) {
    if (request.cache) warnings.push("fast mode runs 4 distilled steps: the step cache is not used");
    for (const [k, v] of [['steps', request.steps], ['guidanceScale', request.guidanceScale], ['guidanceScale2', request.guidanceScale2], ['shift', request.shift], ['boundaryRatio', request.boundaryRatio]] as const) {
      if (v !== undefined) warnings.push(`${k} ${v} is replaced by fast mode's distilled setting`);
    }
  }

  // Images first: without a size, the image sets the aspect ratio at the model's default area.
  const images = requestImages(request, opts.images, name);
  const imageKind = imageConditioningKind(c, model.vae.zDim, model.expandTimesteps);
  checkImagesForModel(imageKind, images, fields, model.description);
  const fromImage = images.image && request.width === undefined && request.height === undefined
    ? sizeFromImage(images.image, d.width * d.height, model.vae.spatial * c.patchSize[1])
    : null;
  if (fromImage) warnings.push(`width/height not given: ${fromImage.width}x${fromImage.height} from the image's aspect ratio at the model's default area (${d.width}x${d.height})`);
  const width = request.width ?? fromImage?.width ?? d.width;
  const height = request.height ?? fromImage?.height ?? d.height;
  const numFrames = request.numFrames ?? d.numFrames;
  const interpolation = planInterpolation(request.interpolate, model.interpolator, request.fps ?? d.fps, (m) => warnings.push(m), fields['interpolate.model'] ?? 'interpolate');
  const fps = interpolation?.fps ?? request.fps ?? d.fps;
  if (d.supportedSizes.length > 0 && !d.supportedSizes.some(([w, h]) => w === width && h === height)) {
    warnings.push(
      `${width}x${height} is not one of the sizes ${model.variant} was trained for (${d.supportedSizes.map(([w, h]) => `${w}x${h}`).join(', ')}); it runs, but the official code refuses it and quality may suffer`,
    );
  }

  // Sampling.
  const steps = fast?.sampling.steps ?? request.steps ?? d.steps;
  if (steps > MAX_STEPS) throw new WanError('E_INVALID_ARGUMENT', `${name('steps')}: ${steps} steps: expected an integer from 1 to ${MAX_STEPS}`);
  const guidanceScale = fast?.sampling.guidanceScale ?? request.guidanceScale ?? d.guidanceScale;
  const guidanceScale2 = fast?.sampling.guidanceScale2 ?? request.guidanceScale2 ?? d.guidanceScale2 ?? guidanceScale;
  const schedulerName: SchedulerName = fast ? fast.sampling.scheduler : request.scheduler;
  const fromFolder = model.scheduler && model.scheduler.name === schedulerName && !fast ? model.scheduler : null;
  // The official per-size shift (Wan2.1 I2V at 480p: 3.0) is more specific than the folder's one value.
  const shift = fast?.sampling.shift ?? request.shift ?? sizeShift(model.variant, width, height) ?? fromFolder?.shift ?? d.shift;
  const boundaryRatio = request.boundaryRatio ?? model.boundaryRatio ?? d.boundaryRatio;
  const boundaryTimestep = !model.transformer2
    ? undefined
    : fast
      ? fast.sampling.boundaryTimestep
      : boundaryRatio !== undefined && boundaryRatio !== null
        ? boundaryRatio * 1000
        : undefined;
  const sampling: SamplingPlan = {
    scheduler: fromFolder?.config ?? { kind: SCHEDULER_KINDS[schedulerName] },
    schedulerName,
    steps,
    shift,
    sigmas: fast?.sampling.sigmas,
    guidanceScale,
    guidanceScale2,
    boundaryTimestep,
    perTokenTimesteps: model.expandTimesteps,
  };

  // The step cache, its window checked against the steps the loop will run.
  let cache: ResolvedStepCache | null = null;
  if (request.cache && !fast) {
    for (const key of ['startStep', 'endStep'] as const) {
      const v = request.cache[key];
      if (v !== undefined && v > steps) throw new WanError('E_INVALID_ARGUMENT', `${name(`cache.${key}`)}: ${v}: expected at most the ${steps} steps the loop runs`);
    }
    cache = resolveStepCache(request.cache, { variant: model.variant, dim: c.numHeads * c.headDim, inChannels: c.inChannels, latentChannels: model.vae.zDim, numLayers: c.numLayers }, { width, height, steps });
    warnings.push(...cache.warnings);
  }

  // LoRAs: fast mode's pair first, then the request's.
  const loras: GenerationPlan['loras'] = [
    ...(fast
      ? [
          { path: fast.pair.high, weight: 1, transformer: 'high' as const, field: `fast.high${fast.fromLoad ? ' (LoadOptions.fastLoras)' : ''}` },
          { path: fast.pair.low, weight: 1, transformer: 'low' as const, field: `fast.low${fast.fromLoad ? ' (LoadOptions.fastLoras)' : ''}` },
        ]
      : []),
    ...(request.loras ?? []).map((l, i) => ({ ...l, field: name(`loras[${i}].path`) })),
  ];

  const image: ImagePlan | null = images.image && imageKind !== 'none' && imageKind !== 'unknown'
    ? { kind: imageKind, image: images.image, lastImage: images.lastImage, clip: imageKind === 'i2v-2.1' || imageKind === 'flf2v-2.1' }
    : null;

  const useCfg = guidanceScale > 1;
  const latentFrames = Math.floor((numFrames - 1) / model.vae.temporal) + 1;
  const latentShape: GenerationPlan['latentShape'] = [1, model.vae.zDim, latentFrames, height / model.vae.spatial, width / model.vae.spatial];
  const seeds = seedsFor(request);

  const [pt, ph, pw] = c.patchSize;
  const tokens = Math.ceil(latentFrames / pt) * Math.ceil(latentShape[3] / ph) * Math.ceil(latentShape[4] / pw);
  const calls = steps * (useCfg ? 2 : 1) * seeds.length;
  const estimate = estimateGeneration(c, { tokens, textLen: model.textLength, calls }, model.device);
  if (estimate.seconds > LONG_REQUEST_SECONDS) {
    warnings.push(
      `this request will take at least about ${formatDuration(estimate.seconds)} on the ${model.device.backend === 'cuda' ? 'CUDA' : `CPU backend (${model.device.threads} threads)`}: ` +
        `${calls} transformer calls of ${(estimate.flopsPerCall / 1e12).toFixed(1)} TFLOP at ${tokens} tokens (${width}x${height}x${numFrames}) at ${(estimate.flopsPerSecond / 1e9).toFixed(0)} GFLOP/s (${estimate.source}); ` +
        'a smaller size, fewer frames or steps, or a GPU make it shorter',
    );
  }

  return {
    api: normalized.api,
    request,
    fields,
    width,
    height,
    numFrames,
    fps,
    interpolation,
    latentShape,
    seeds,
    prompt: request.prompt,
    negativePrompt: useCfg ? (request.negativePrompt ?? d.negativePrompt) : null,
    sampling,
    cache,
    loras,
    fast,
    image,
    output: request.output,
    estimate,
    warnings,
  };
}

/**
 * LoRAs need the transformer resident: a merge into a streamed block, or into an expert parked in
 * host memory, would be undone when that block or expert is copied back in. Under a memory plan
 * that offloads the transformer (CUDA only), a request with LoRAs (fast mode's pair included) is
 * refused with E_UNSUPPORTED naming its first LoRA's field, before the job runs anything.
 */
export function checkLorasPlacement(loras: GenerationPlan['loras'], memory: MemoryPlan): void {
  const t = memory.transformer;
  if (loras.length && (t.placement === 'offloaded' || t.experts === 'one-resident')) {
    throw new WanError('E_UNSUPPORTED', `${loras[0].field}: LoRAs with an offloaded transformer (the memory plan keeps ${t.placement === 'offloaded' ? `${t.residentBlocks} of ${t.blocks} blocks` : 'one expert'} on the device) are not supported yet; a larger maxMemory keeps it resident`);
  }
}

/** The distilled pair and its sampling for `fast`, or null; refuses what cannot run. */
function resolveFast(request: NormalizedRequest, model: ModelFacts, warnings: string[]): GenerationPlan['fast'] {
  const fast = request.fast;
  if (fast === undefined || fast === false) return null;
  const paired = model.transformer2 !== null;
  // An API's speed switch (fast: true beside a cache) falls back to the cache where no pair applies.
  if (fast === true && request.cache !== undefined && (!paired || !model.fastLoras)) {
    warnings.push(
      !paired
        ? 'fast: the distilled 4-step LoRA pair is made for the two Wan2.2 A14B experts; this model has one transformer, so the step cache is used instead'
        : 'fast: no distilled LoRA pair was given to WanPipeline.load (fastLoras), so the step cache is used instead',
    );
    return null;
  }
  if (!paired) {
    throw new WanError('E_UNSUPPORTED', `fast: the distilled 4-step LoRA pair is made for the two experts of Wan2.2 A14B; this model (${model.description}) has one transformer`);
  }
  if (fast === true && !model.fastLoras) {
    throw new WanError(
      'E_INVALID_ARGUMENT',
      "fast: no distilled 4-step LoRA pair: pass fast: {high, low} (e.g. lightx2v's wan2.2_t2v_A14b_high_noise_lora_rank64_lightx2v_4step_1217.safetensors and its low_noise twin) or load the pipeline with {fastLoras: {high, low}}",
    );
  }
  return { pair: fast === true ? model.fastLoras! : fast, sampling: fastSampling(), fromLoad: fast === true };
}

/** The request's images as loaded: raw RGB as given, anything else from `loaded`. */
function requestImages(request: NormalizedRequest, loaded: RequestImages | undefined, name: (key: string) => string): RequestImages {
  const out: RequestImages = {};
  for (const key of ['image', 'lastImage'] as const) {
    const src = request[key];
    if (src === undefined) continue;
    const img = loaded?.[key] ?? (typeof src === 'string' ? undefined : { data: src.data, width: src.width, height: src.height, from: 'raw' as const });
    // A programming error, not a user's: WanPipeline.plan()/generate() load the images first.
    if (!img) throw new WanError('E_INVALID_ARGUMENT', `${name(key)}: the image was not loaded (plan requests through WanPipeline.plan, which reads images)`);
    out[key] = img;
  }
  return out;
}
