// WanPipeline: a model folder loaded once, requests turned into videos one job at a time.
//   const pipe = await WanPipeline.load(dir, { device });
//   const { plan, warnings } = await pipe.plan(request);  // validate only: reads images, runs nothing
//   const job = pipe.generate(request, { signal });  // or pipe.generate(plan)
//   for await (const ev of job) { ... }              // warning, encode, step, frames, done
//   const [first, ...more] = await job.results;      // numberResults videos; job.result is the first
//   await pipe.dispose();
//
// A job is a plan (lib/pipeline/plan.ts: every decision, made before native work) run by the
// executor below, stage by stage:
//   LoRAs merged -> text encoded -> image conditioning -> per result: noise for its seed, the
//   denoising loop -> frames decoded chunk by chunk [-> post-processed] -> result.
// LoRAs, text and image conditioning happen once per job; the rest once per result.
import { join } from 'node:path';

import { type DevicePreference, loadAddon } from '../bindings/loader.js';
import type { NativeDenoiseResult, NativeSchedulerConfig } from '../bindings/native-pipeline.js';
import type { NativeVae } from '../bindings/native-vae.js';
import type { NativeAddon, NativeResidency, NativeTensor, NativeTransformer } from '../bindings/native.js';
import { WanError, fromNativeError } from '../errors.js';
import { type LoraLoadReport, applyLoras, unmatchedWarnings } from '../lora/apply.js';
import type { FastLoraPair } from '../lora/fast.js';
import { resolveBudget } from '../memory/budget.js';
import { type ExpertResidency, type MemoryPlan, type MemoryPlanInput, type PlacementDecision, planMemory } from '../memory/plan.js';
import { readConfigJson } from '../model/config.js';
import { planTextEncoder } from '../model/text-encoder-plan.js';
import { planTransformer } from '../model/transformer-plan.js';
import type { TransformerPlan, VaeConfig } from '../model/types.js';
import { planVae } from '../model/vae-plan.js';
import type { RequestApi } from '../schemas/issues.js';
import { type SchedulerName, defaultsFor } from '../schemas/request.js';
import { PromptEncoder } from '../text/prompt-encoder.js';
import { UmT5Tokenizer } from '../text/tokenizer.js';
import { decodeFrames } from '../video/vae-decode.js';
import { RifeInterpolator } from '../interpolate/rife.js';
import { type FrameChunk, decodedFrameChunks, interpolateFrameChunks } from '../interpolate/stream.js';
import { planRife } from '../model/rife-plan.js';
import type { LoadImageOptions } from '../image/load.js';
import { imageConditioning } from './conditioning.js';
import { type PipelineImageEncoder, clipImageFeatures, loadRequestImages, planPipelineImageEncoder } from './image-inputs.js';
import { type GenerateResult, Job, type JobContext } from './job.js';
import { type ModelPaths, resolveModelParts } from './model-parts.js';
import { type TrajectoryPreview, decodePreview } from './previews.js';
import { type GenerationPlan, type ModelFacts, type PlanOptions, SCHEDULER_KINDS, checkLorasPlacement, normalizeForModel, resolveGeneration } from './plan.js';
import { schedulerFromDiffusersConfig } from './scheduler-config.js';
import { assertDenoisedFinite, assertFinite } from './nonfinite.js';

export interface LoadOptions {
  device?: DevicePreference;
  /** Free the text encoder after each prompt encoding (reloaded on a cache miss); default: as the memory plan decides. */
  releaseTextEncoder?: boolean;
  /** Bound of the prompt embedding cache in bytes. */
  embeddingCacheBytes?: number;
  /** Memory the models and a request may take on the backend's device: bytes or a size such as "16GB" / "16GiB"
   * (default: the device's free memory, or on the CPU the host's available memory, less a margin:
   * lib/memory/budget.ts). The memory plan (lib/memory/plan.ts) decides placements against it and a
   * folder or request that cannot fit fails with E_OOM before anything loads. */
  maxMemory?: string | number;
  /** The same budget in bytes (the older name; maxMemory wins when both are given). */
  memoryBudgetBytes?: number;
  /** The distilled 4-step LoRA pair a request's `fast: true` (Oxen `run_fast`) runs with (lib/lora/fast.ts). */
  fastLoras?: FastLoraPair;
  /** Wan2.1 I2V/FLF2V: the CLIP image encoder, a folder or a single file such as ComfyUI's
   * clip_vision_h.safetensors (default: the pipeline folder's image_encoder/ and image_processor/). */
  imageEncoder?: string;
  /** How request images are read: `allowPrivateNetwork` lets image URLs reach loopback/private
   * addresses (off by default: a server passes user input here), `limits` overrides IMAGE_LIMITS,
   * `allowFiles: false` refuses strings naming a file (a server's pipelines read no local files). */
  images?: Pick<LoadImageOptions, 'allowPrivateNetwork' | 'limits' | 'allowFiles'>;
  /** RIFE weights (.safetensors) for requests that ask for frame interpolation (lib/interpolate/); default $WAN_VIDEO_RIFE. */
  interpolator?: string;
}

export interface GenerateOptions {
  signal?: AbortSignal;
  /** Which API's shape the request is in, read with that API's ranges and defaults ('auto', the default, tells it by its fields). */
  api?: RequestApi | 'auto';
  /** Steps (0-based) whose clean-sample prediction is decoded into `result.previews` (first frame), after the initial noise. */
  previewSteps?: number[];
}

/**
 * Where the experts of a Wan2.2 A14B pair live, as the memory plan placed them. On the CPU backend
 * every weight is already in host memory, so parking the idle expert would save nothing: both stay
 * resident, or the folder is refused before loading when they do not fit the budget. On CUDA a
 * tight budget keeps one expert on the device and the other in pinned host memory ('one-resident').
 */
export type ExpertPlacement = ExpertResidency;

/** The prompt embeddings of a job, encoded once for all its results. */
interface TextEmbeddings {
  prompt: NativeTensor;
  negative: NativeTensor | null;
  timings: { encodeMs: number; cacheHits: number; cacheMisses: number };
}

/** The transformer inputs an image condition adds (none without one). */
type ImageConditioning = Awaited<ReturnType<typeof imageConditioning>> & { contextImage?: NativeTensor | null };

export class WanPipeline {
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;
  /** Plans made by this pipeline's plan(): generate() runs them as they are. */
  private readonly plans = new WeakSet<GenerationPlan>();

  private constructor(
    private readonly addon: NativeAddon,
    /** The (high-noise) transformer's plan: its variant, config and tensors. */
    readonly transformerPlan: TransformerPlan,
    private readonly transformer: NativeTransformer,
    private readonly transformer2: NativeTransformer | null,
    private readonly vae: NativeVae,
    /** The low-noise expert's plan (Wan2.2 A14B), for LoRA shapes. */
    private readonly plan2: TransformerPlan | null,
    private readonly vaeConfig: VaeConfig,
    private readonly prompts: PromptEncoder,
    /** What a plan needs to know about this model. */
    readonly facts: ModelFacts,
    /** Wan2.1 I2V/FLF2V's CLIP image encoder. */
    private readonly imageEncoder: PipelineImageEncoder | null,
    /** How request images are read (LoadOptions.images). */
    private readonly imageOptions: Pick<LoadImageOptions, 'allowPrivateNetwork' | 'limits'>,
    /** Frame interpolation for requests that ask for it (LoadOptions.interpolator). */
    readonly interpolator: RifeInterpolator | null,
    /** The memory plan of the load (at the model's default request size): its placements hold for every request. */
    readonly memory: MemoryPlan,
    /** What each request's memory plan is made from. */
    private readonly memoryInput: Omit<MemoryPlanInput, 'request'>,
  ) {}

  /** What loading noticed but did not refuse (e.g. scheduler fields this runtime ignores); every plan repeats it. */
  get warnings(): readonly string[] {
    return this.facts.warnings;
  }

  /** Where the experts live (reported in every result). */
  get experts(): ExpertPlacement {
    return this.memory.transformer.experts;
  }

  /** The placements the load made, which every request's plan keeps. */
  private get placement(): PlacementDecision {
    const t = this.memory.transformer;
    return { placement: t.placement, experts: t.experts, residentBlocks: t.residentBlocks, releaseTextEncoder: this.memory.textEncoder.release };
  }

  /** The pair `fast: true` uses. */
  get fastLoras(): FastLoraPair | null {
    return this.facts.fastLoras;
  }

  /** A diffusers pipeline folder, or components named one by one (single files included: see ModelPaths). */
  static async load(model: string | ModelPaths, opts: LoadOptions = {}): Promise<WanPipeline> {
    const parts = await resolveModelParts(model);
    const dir = parts.label;
    const { addon, kind } = loadAddon(opts.device);
    const plan = await planTransformer(parts.transformer, parts.transformer2 ? { expert: 'high-noise', pairedWith: true } : {});
    const plan2 = parts.transformer2 ? await planTransformer(parts.transformer2, { expert: 'low-noise', pairedWith: true }) : null;
    const vaePlan = await planVae(parts.vae);
    const textPlan = await planTextEncoder(parts.textEncoder);
    const imagePlan = await planPipelineImageEncoder(dir, plan.config, opts.imageEncoder);
    const rifeFile = opts.interpolator ?? (process.env.WAN_VIDEO_RIFE || undefined);
    const rifePlan = rifeFile ? await planRife(rifeFile) : null;
    // The memory plan, before anything loads: a folder that cannot fit fails early, naming what does
    // not fit; otherwise it decides where the transformer lives and whether the text encoder stays.
    const d = defaultsFor(plan.variant.variant);
    const onCuda = kind === 'cuda';
    const budget = resolveBudget(onCuda ? 'cuda' : 'cpu', opts.maxMemory ?? opts.memoryBudgetBytes, addon.info());
    // On CUDA, offloaded weights keep pinned copies in host memory: its available memory bounds them.
    const hostBudget = onCuda ? resolveBudget('cpu', undefined, null) : undefined;
    const memoryInput = { transformers: plan2 ? [plan, plan2] : [plan], vae: vaePlan, textEncoder: textPlan, imageEncoder: imagePlan, backend: onCuda ? ('cuda' as const) : ('cpu' as const), budget, hostBudget };
    let memory: MemoryPlan;
    try {
      memory = planMemory({ ...memoryInput, request: { width: d.width, height: d.height, numFrames: d.numFrames, steps: d.steps, textLength: 512 } });
    } catch (err) {
      if (err instanceof WanError) err.message = `${dir}: ${err.message}`;
      throw err;
    }
    const tokenizer = await UmT5Tokenizer.load(parts.tokenizerDir);
    let scheduler: ModelFacts['scheduler'] = null;
    const loadWarnings: string[] = [];
    // No scheduler config (a folder without one, or components named one by one): the request's scheduler at its defaults.
    if (parts.schedulerConfig) {
      const parsed = await readConfigJson(parts.schedulerConfig);
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new WanError('E_MODEL_FORMAT', `${parts.schedulerConfig}: expected a JSON object`);
      const json = parsed as Record<string, unknown>;
      const ignored: string[] = [];
      const mapped = schedulerFromDiffusersConfig(String(json._class_name), json, { unknownFields: 'ignore', ignored });
      if (ignored.length) loadWarnings.push(`scheduler_config.json fields not known to this runtime were ignored: ${ignored.join(', ')}`);
      if ('reason' in mapped) throw new WanError('E_MODEL_FORMAT', `${parts.schedulerConfig}: ${mapped.reason}`);
      const name = (Object.entries(SCHEDULER_KINDS) as Array<[SchedulerName, NativeSchedulerConfig['kind']]>).find(([, k]) => k === mapped.config.kind)![0];
      scheduler = { ...mapped, name };
    }
    const info = addon.info();
    const spatial = vaePlan.config.scaleFactorSpatial;
    if (spatial !== 8 && spatial !== 16) throw new WanError('E_MODEL_FORMAT', `${parts.vae}: a spatial compression of ${spatial} is not one of the Wan VAEs' (8, 16)`);
    const facts: ModelFacts = {
      variant: plan.variant.variant,
      description: plan.variant.description,
      transformer: plan.config,
      transformer2: plan2?.config ?? null,
      vae: { zDim: vaePlan.config.zDim, spatial, temporal: 4 },
      scheduler,
      boundaryRatio: parts.boundaryRatio,
      // Without model_index.json, TI2V's per-token timesteps follow from the model itself.
      expandTimesteps: parts.expandTimesteps ?? plan.variant.variant === 'wan2.2-ti2v-5b',
      fastLoras: opts.fastLoras ?? null,
      interpolator: rifePlan !== null,
      textLength: 512,
      device: { backend: info.backend, threads: info.threads },
      warnings: loadWarnings,
    };
    try {
      // The plan's residency goes with each transformer: the backend keeps `residentBlocks` blocks
      // on the device and streams the rest; with one A14B expert resident the low-noise one loads
      // parked in host memory and the two swap at the boundary. (No-ops on the CPU backend, where
      // every weight is host memory.)
      const t = memory.transformer;
      const swapExpert = t.experts === 'one-resident';
      const residency = (parked: boolean): NativeResidency => ({ residentBlocks: t.residentBlocks, swapExpert, parked: swapExpert && parked });
      const transformer = await addon.loadTransformer({ ...plan, config: { ...plan.config, ...residency(false) } });
      const transformer2 = plan2 ? await addon.loadTransformer({ ...plan2, config: { ...plan2.config, ...residency(true) } }) : null;
      const vae = await addon.loadVae(vaePlan);
      const prompts = new PromptEncoder({
        load: () => addon.loadTextEncoder(textPlan),
        tokenizer,
        encoderKey: textPlan.source,
        maxLength: facts.textLength,
        releaseAfterEncode: opts.releaseTextEncoder ?? memory.textEncoder.release,
        cacheBytes: opts.embeddingCacheBytes,
      });
      const imageEncoder = imagePlan ? { native: await addon.loadImageEncoder(imagePlan), processor: imagePlan.processor, plan: imagePlan } : null;
      const interpolator = rifePlan ? await RifeInterpolator.fromPlan(rifePlan, { addon }) : null;
      return new WanPipeline(addon, plan, transformer, transformer2, vae, plan2, vaePlan.config, prompts, facts, imageEncoder, opts.images ?? {}, interpolator, memory, memoryInput);
    } catch (err) {
      throw fromNativeError(err);
    }
  }

  /**
   * Validates a request (any accepted API shape) against this model without running anything:
   * the plan says what would run (size, steps, seeds, LoRAs, cache, estimated time); an invalid
   * request throws a WanError naming the field. generate(plan) runs it as planned.
   */
  async plan(request: unknown, opts: Pick<PlanOptions, 'api' | 'randomSeed'> & { signal?: AbortSignal } = {}): Promise<{ plan: GenerationPlan; warnings: string[] }> {
    if (this.disposed) throw new WanError('E_INVALID_ARGUMENT', 'the pipeline was disposed');
    const plan = await this.makePlan(request, opts);
    this.plans.add(plan);
    return { plan, warnings: plan.warnings };
  }

  /**
   * Queues a request (any accepted API shape, or a plan from plan()); one job runs at a time. A
   * request the model cannot serve (or an image that cannot be read) rejects the job at once,
   * without waiting for the queue.
   */
  generate(request: unknown, opts: GenerateOptions = {}): Job {
    if (this.disposed) throw new WanError('E_INVALID_ARGUMENT', 'the pipeline was disposed');
    const planned = this.plans.has(request as GenerationPlan)
      ? Promise.resolve(request as GenerationPlan)
      : this.makePlan(request, { api: opts.api, signal: opts.signal });
    planned.catch(() => undefined);
    // The job starts when the previous one has ended and its plan is made; a plan that fails ends it at once.
    const after = Promise.all([this.queue, planned]);
    const job = new Job(async (ctx) => this.execute(await planned, ctx, opts.previewSteps), opts.signal, after);
    this.queue = job.results.then(
      () => undefined,
      () => undefined,
    );
    return job;
  }

  /** Reads the request's images (they may set the size), then resolves the plan. */
  private async makePlan(request: unknown, opts: Pick<PlanOptions, 'api' | 'randomSeed'> & { signal?: AbortSignal }): Promise<GenerationPlan> {
    const { request: normalized, fields } = normalizeForModel(request, this.facts, opts);
    const images = await loadRequestImages(normalized, fields, { ...this.imageOptions, signal: opts.signal });
    const plan = resolveGeneration(request, this.facts, { api: opts.api, randomSeed: opts.randomSeed, images });
    // The request's memory under the load's placements: E_OOM here, before the job runs anything.
    plan.memory = planMemory({ ...this.memoryInput, request: { width: plan.width, height: plan.height, numFrames: plan.numFrames, steps: plan.sampling.steps, textLength: this.facts.textLength } }, this.placement);
    // A LoRA merge would be undone when a streamed block or a parked expert is copied back in.
    checkLorasPlacement(plan.loras, plan.memory);
    return plan;
  }

  // ---------------------------------------------------------------------------------------------
  // The executor: runs a plan, deciding nothing the plan did not.
  // ---------------------------------------------------------------------------------------------

  private async execute(plan: GenerationPlan, ctx: JobContext, previewSteps?: number[]): Promise<GenerateResult[]> {
    const t0 = performance.now();
    // Every warning goes out as an event when it arises and into the results.
    const warnings: string[] = [];
    const warn = (messages: readonly string[]) => {
      for (const message of messages) {
        warnings.push(message);
        ctx.emit({ type: 'warning', message });
      }
    };
    warn(plan.warnings);

    const loras = await this.mergeLoras(plan);
    warn(unmatchedWarnings(loras));
    ctx.throwIfCancelled();

    const text = await this.encodeText(plan, ctx, warn);
    ctx.throwIfCancelled();

    const conditioning = await this.conditionOnImages(plan, ctx);
    ctx.throwIfCancelled();

    const results: GenerateResult[] = [];
    for (const [index, seed] of plan.seeds.entries()) {
      const tDenoise = performance.now();
      const noise = { data: this.addon.randn(seed, [...plan.latentShape]), shape: [...plan.latentShape] };
      const denoised = await this.denoise(plan, noise, text, conditioning, ctx, index, previewSteps);
      assertDenoisedFinite(denoised.latents, plan.sampling.steps, denoised.previews, denoised.experts, {
        transformer: this.transformerPlan.source,
        transformer2: this.plan2?.source,
      });
      const denoiseMs = performance.now() - tDenoise;
      const tDecode = performance.now();
      const frames = await this.decode(plan, denoised.latents, ctx, index);
      const computed = denoised.calls.computed.filter(Boolean).length;
      const previews = previewSteps ? await this.previews(noise, denoised, ctx) : undefined;
      results.push({
        index,
        seed,
        frames,
        width: plan.width,
        height: plan.height,
        fps: plan.fps,
        experts: this.experts,
        memory: plan.memory ?? this.memory,
        forwards: { computed, skipped: denoised.calls.computed.length - computed, cache: plan.cache?.summary ?? null },
        loras,
        warnings,
        timings: { ...text.timings, denoiseMs, decodeMs: performance.now() - tDecode, totalMs: performance.now() - t0, stepMs: denoised.stepMs },
        ...(previews ? { previews } : {}),
      });
    }
    return results;
  }

  /** LoRAs (fast mode's pair and the request's) merged into the experts; the previous job's are taken out first. */
  private async mergeLoras(plan: GenerationPlan): Promise<LoraLoadReport> {
    const c = this.transformerPlan.config;
    try {
      return await applyLoras(
        { high: { native: this.transformer, config: c }, low: this.transformer2 && this.plan2 ? { native: this.transformer2, config: this.plan2.config } : null },
        plan.loras,
        { fieldOf: (i) => plan.loras[i].field },
      );
    } catch (err) {
      throw fromNativeError(err);
    }
  }

  /** The prompt (and, with guidance, the negative prompt) through the text encoder, or its cache. */
  private async encodeText(plan: GenerationPlan, ctx: JobContext, warn: (m: readonly string[]) => void): Promise<TextEmbeddings> {
    const texts = plan.negativePrompt === null ? [plan.prompt] : [plan.prompt, plan.negativePrompt];
    let encoded;
    try {
      encoded = await this.prompts.encode(texts, { cancelFlag: ctx.cancelFlag });
    } catch (err) {
      throw fromNativeError(err);
    }
    warn(encoded.warnings);
    const { encodeMs, cacheHits, cacheMisses, encoderLoads } = encoded.timings;
    ctx.emit({ type: 'encode', ms: encodeMs, cacheHits, cacheMisses, encoderLoads });
    const [, L, D] = encoded.embeds.shape;
    const textDim = this.transformerPlan.config.textDim;
    if (D !== textDim) throw new WanError('E_MODEL_FORMAT', `the text encoder gives ${D}-wide embeddings but the transformer expects text_dim ${textDim}`);
    assertFinite(encoded.embeds.data, encoded.embeds.shape, 'the text encoder', `check the text encoder weights${this.memoryInput.textEncoder ? ` (${this.memoryInput.textEncoder.source})` : ''} for NaN or infinite values`);
    return {
      prompt: { data: encoded.embeds.data.slice(0, L * D), shape: [1, L, D] },
      negative: plan.negativePrompt === null ? null : { data: encoded.embeds.data.slice(L * D), shape: [1, L, D] },
      timings: { encodeMs, cacheHits, cacheMisses },
    };
  }

  /**
   * The transformer inputs of the plan's images: the VAE condition (Wan I2V/FLF2V mask + channels,
   * TI2V's clean first frame) and, for Wan2.1 I2V/FLF2V, the CLIP features of the image(s); none
   * without images.
   */
  private async conditionOnImages(plan: GenerationPlan, ctx: JobContext): Promise<ImageConditioning> {
    if (!plan.image) return {};
    const { kind, image, lastImage } = plan.image;
    try {
      const conditioning: ImageConditioning = await imageConditioning(this.vae, this.vaeConfig, {
        ti2v: kind === 'ti2v',
        frames: plan.numFrames,
        height: plan.height,
        width: plan.width,
        latentShape: plan.latentShape,
        image,
        lastImage,
        cancelFlag: ctx.cancelFlag,
      });
      if (plan.image.clip) {
        if (!this.imageEncoder) throw new WanError('E_MODEL_FORMAT', 'this Wan2.1 I2V transformer was loaded without its image encoder');
        conditioning.contextImage = await clipImageFeatures(this.imageEncoder.native, this.imageEncoder.processor, lastImage ? [image, lastImage] : [image]);
      }
      return conditioning;
    } catch (err) {
      throw fromNativeError(err);
    }
  }

  /** The native loop from the seed's noise (torch.randn with a CPU generator), keeping x0 at `previewSteps`. */
  private async denoise(plan: GenerationPlan, noise: NativeTensor, text: TextEmbeddings, conditioning: ImageConditioning, ctx: JobContext, result: number, previewSteps?: number[]): Promise<NativeDenoiseResult> {
    const s = plan.sampling;
    try {
      return await this.addon.runDenoise({
        transformer: this.transformer,
        transformer2: this.transformer2,
        scheduler: s.scheduler,
        steps: s.steps,
        shift: s.shift,
        sigmas: s.sigmas,
        guidanceScale: s.guidanceScale,
        guidanceScale2: s.guidanceScale2,
        boundaryTimestep: s.boundaryTimestep,
        latents: noise,
        previewSteps,
        promptEmbeds: text.prompt,
        negativeEmbeds: text.negative,
        perTokenTimesteps: s.perTokenTimesteps,
        ...conditioning,
        cache: plan.cache?.native ?? null,
        onStep: (e) =>
          ctx.emit({
            type: 'step', result, index: e.index, total: e.total, timestep: e.timestep, expert: e.expert ? 'low-noise' : 'high-noise',
            forwards: e.forwards, computed: e.computed, cached: e.forwards - e.computed, ms: e.ms,
          }),
        cancelFlag: ctx.cancelFlag,
      });
    } catch (err) {
      throw fromNativeError(err);
    }
  }

  /** The trajectory's first frames: the noise, then x0 at each preview step (one small decode each). */
  private async previews(noise: NativeTensor, denoised: NativeDenoiseResult, ctx: JobContext): Promise<TrajectoryPreview[]> {
    const opts = { cancelFlag: ctx.cancelFlag };
    try {
      const out = [await decodePreview(this.vae, noise, 'noise', -1, opts)];
      for (const p of denoised.previews ?? []) out.push(await decodePreview(this.vae, p.latents, 'x0', p.step, opts));
      return out;
    } catch (err) {
      throw fromNativeError(err);
    }
  }

  /** Frames, as each latent chunk is decoded and, where the plan interpolates, once RIFE has run on the chunk. */
  private async decode(plan: GenerationPlan, latents: NativeTensor, ctx: JobContext, result: number): Promise<Buffer[]> {
    const frames: Buffer[] = [];
    let chunks: AsyncIterable<FrameChunk> = decodedFrameChunks(decodeFrames(this.vae, latents, { cancelFlag: ctx.cancelFlag }));
    if (plan.interpolation) chunks = interpolateFrameChunks(chunks, this.interpolator!, { frames: plan.interpolation.frames, signal: ctx.signal });
    try {
      for await (const chunk of chunks) {
        ctx.emit({ type: 'frames', result, index: chunk.index, frames: chunk.frames, width: chunk.width, height: chunk.height, fps: plan.fps });
        frames.push(...chunk.frames);
      }
    } catch (err) {
      throw fromNativeError(err);
    }
    return frames;
  }

  /** Frees every model once the queued jobs have ended. */
  async dispose(): Promise<void> {
    this.disposed = true;
    await this.queue;
    this.transformer.dispose();
    this.transformer2?.dispose();
    this.vae.dispose();
    this.interpolator?.dispose();
    this.prompts.release();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
