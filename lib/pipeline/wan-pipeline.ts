// WanPipeline: a model folder loaded once, requests turned into videos one at a time.
//   const pipe = await WanPipeline.load(dir, { device });
//   const job = pipe.generate(request, { signal });
//   for await (const ev of job) { ... }       // encode, step, frames, warning, done
//   const { frames, width, height, fps, seed, timings } = await job.result;
//   await pipe.dispose();
import { readFile } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { join } from 'node:path';

import { type DevicePreference, loadAddon } from '../bindings/loader.js';
import type { NativeSchedulerConfig } from '../bindings/native-pipeline.js';
import type { NativeVae } from '../bindings/native-vae.js';
import type { NativeAddon, NativeTransformer } from '../bindings/native.js';
import { WanError, fromNativeError } from '../errors.js';
import { inspectModelFolder } from '../model/folder.js';
import { estimateMemory } from '../model/memory.js';
import { planTextEncoder } from '../model/text-encoder-plan.js';
import { planTransformer } from '../model/transformer-plan.js';
import type { TransformerPlan, VaeConfig } from '../model/types.js';
import { planVae } from '../model/vae-plan.js';
import { defaultsFor } from '../schemas/request.js';
import { normalizeRequest } from '../schemas/normalize.js';
import { PromptEncoder } from '../text/prompt-encoder.js';
import { UmT5Tokenizer } from '../text/tokenizer.js';
import { frameViews } from '../video/frames.js';
import { decodeFrames } from '../video/vae-decode.js';
import { type GenerateResult, Job, type JobEvent } from './job.js';
import { type RgbImage, imageConditioning } from './conditioning.js';
import { schedulerFromDiffusersConfig } from './scheduler-config.js';
import { type LoraRequest, applyLoras, unmatchedWarnings } from '../lora/apply.js';
import { type FastLoraPair, type FastSampling, fastSampling } from '../lora/fast.js';
import { resolveStepCache } from './step-cache.js';

export interface LoadOptions {
  device?: DevicePreference;
  /** Free the text encoder after each prompt encoding (reloaded on a cache miss). */
  releaseTextEncoder?: boolean;
  /** Bound of the prompt embedding cache in bytes. */
  embeddingCacheBytes?: number;
  /** Host memory the models may take (default: the machine's total memory); a folder that cannot fit fails before loading. */
  memoryBudgetBytes?: number;
  /** The distilled 4-step LoRA pair a request's `fast: true` (Oxen `run_fast`) runs with (lib/lora/fast.ts). */
  fastLoras?: FastLoraPair;
}

/**
 * Where the experts of a Wan2.2 A14B pair live. On the CPU backend every weight is already in host
 * memory, so parking the idle expert would save nothing: both stay resident, or the folder is
 * refused before loading when they do not fit the budget. (Swapping at the boundary is a device
 * backend's choice: GPU memory is the scarce one.)
 */
export type ExpertPlacement = 'single' | 'both-resident';

const SCHEDULER_KINDS: Record<string, NativeSchedulerConfig['kind']> = { unipc: 'unipc', 'dpm++2m': 'dpmsolver', euler: 'euler' };

/** A raw RGB image at the output size; files and data URLs need a decoder and a resize not written yet. */
function rawImage(src: unknown, field: string, width: number, height: number): RgbImage | undefined {
  if (src === undefined) return undefined;
  if (typeof src === 'string') throw new WanError('E_UNSUPPORTED', `${field}: image files and data URLs are not decoded yet; pass {data: Uint8Array RGB, width, height}`);
  const img = src as RgbImage;
  if (img.width !== width || img.height !== height) {
    throw new WanError('E_UNSUPPORTED', `${field}: the image is ${img.width}x${img.height} but the video is ${width}x${height}; resizing is not implemented yet`);
  }
  return img;
}

export class WanPipeline {
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  private constructor(
    private readonly addon: NativeAddon,
    readonly plan: TransformerPlan,
    private readonly transformer: NativeTransformer,
    private readonly transformer2: NativeTransformer | null,
    private readonly vae: NativeVae,
    /** The low-noise expert's plan (Wan2.2 A14B), for LoRA shapes. */
    private readonly plan2: TransformerPlan | null,
    private readonly vaeConfig: VaeConfig,
    private readonly prompts: PromptEncoder,
    private readonly scheduler: { config: NativeSchedulerConfig; shift: number; name: string } | null,
    private readonly boundaryRatio: number | null,
    /** model_index.json's expand_timesteps (Wan2.2 TI2V): one timestep per token. */
    private readonly expandTimesteps: boolean,
  ) {}

  /** What loading noticed but did not refuse (e.g. scheduler fields this runtime ignores). */
  readonly warnings: string[] = [];
  /** Where the experts live (reported in every result). */
  experts: ExpertPlacement = 'single';
  /** The pair `fast: true` uses. */
  fastLoras: FastLoraPair | null = null;

  static async load(dir: string, opts: LoadOptions = {}): Promise<WanPipeline> {
    const folder = await inspectModelFolder(dir);
    if (folder.missing.length) {
      throw new WanError('E_MODEL_FORMAT', `${join(dir, 'model_index.json')}: components ${folder.missing.join(', ')} are declared but their folders are missing`);
    }
    const { addon } = loadAddon(opts.device);
    const paired = folder.present.includes('transformer_2');
    const plan = await planTransformer(join(dir, 'transformer'), paired ? { expert: 'high-noise', pairedWith: true } : {});
    const plan2 = paired ? await planTransformer(join(dir, 'transformer_2'), { expert: 'low-noise', pairedWith: true }) : null;
    const vaePlan = await planVae(join(dir, 'vae'));
    const textPlan = await planTextEncoder(join(dir, 'text_encoder'));
    // Memory is estimated before anything loads, so a folder that cannot fit fails early and clearly.
    const d = defaultsFor(plan.variant.variant);
    const need = estimateMemory({ transformers: plan2 ? [plan, plan2] : [plan], vae: vaePlan, textEncoder: textPlan }, { width: d.width, height: d.height, numFrames: d.numFrames });
    const budget = opts.memoryBudgetBytes ?? totalmem();
    if (need.weightsBytes > budget) {
      const gib = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;
      throw new WanError('E_OOM', `${dir}: the models need ${gib(need.weightsBytes)} as float32 on the CPU backend (${gib(need.totalBytes)} with a ${d.width}x${d.height}x${d.numFrames} request), more than the memory budget of ${gib(budget)}`);
    }
    const tokenizer = await UmT5Tokenizer.load(join(dir, 'tokenizer'));
    let scheduler: { config: NativeSchedulerConfig; shift: number; name: string } | null = null;
    const loadWarnings: string[] = [];
    try {
      const json = JSON.parse(await readFile(join(dir, 'scheduler', 'scheduler_config.json'), 'utf8')) as Record<string, unknown>;
      const ignored: string[] = [];
      const mapped = schedulerFromDiffusersConfig(String(json._class_name), json, { unknownFields: 'ignore', ignored });
      if (ignored.length) loadWarnings.push(`scheduler_config.json fields not known to this runtime were ignored: ${ignored.join(', ')}`);
      if ('reason' in mapped) throw new WanError('E_MODEL_FORMAT', `${join(dir, 'scheduler', 'scheduler_config.json')}: ${mapped.reason}`);
      const name = Object.entries(SCHEDULER_KINDS).find(([, k]) => k === mapped.config.kind)![0];
      scheduler = { ...mapped, name };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    try {
      const transformer = await addon.loadTransformer(plan);
      const transformer2 = plan2 ? await addon.loadTransformer(plan2) : null;
      const vae = await addon.loadVae(vaePlan);
      const prompts = new PromptEncoder({
        load: () => addon.loadTextEncoder(textPlan),
        tokenizer,
        encoderKey: textPlan.source,
        releaseAfterEncode: opts.releaseTextEncoder,
        cacheBytes: opts.embeddingCacheBytes,
      });
      const pipe = new WanPipeline(addon, plan, transformer, transformer2, vae, plan2, vaePlan.config, prompts, scheduler, folder.boundaryRatio, folder.expandTimesteps === true);
      pipe.experts = transformer2 ? 'both-resident' : 'single';
      pipe.fastLoras = opts.fastLoras ?? null;
      pipe.warnings.push(...loadWarnings);
      return pipe;
    } catch (err) {
      throw fromNativeError(err);
    }
  }

  /** Queues a request (any accepted API shape); one job runs at a time. */
  generate(request: unknown, opts: { signal?: AbortSignal } = {}): Job {
    if (this.disposed) throw new WanError('E_INVALID_ARGUMENT', 'the pipeline was disposed');
    const previous = this.queue;
    const job = new Job(async (ctx) => {
      await previous.catch(() => undefined);
      return this.run(request, ctx);
    }, opts.signal);
    this.queue = job.result.catch(() => undefined);
    return job;
  }

  private async run(input: unknown, { emit, signal }: { emit: (e: JobEvent) => void; signal: AbortSignal }): Promise<GenerateResult> {
    const t0 = performance.now();
    const cancelled = () => new WanError('E_CANCELLED', 'the job was cancelled');
    if (signal.aborted) throw cancelled();
    const c = this.plan.config;
    const spatial = this.vaeConfig.scaleFactorSpatial as 8 | 16;
    const normalized = normalizeRequest(input, { vaeScale: { spatial, temporal: 4 }, patch: c.patchSize });
    const { request } = normalized;
    // Every warning goes out as an event when it arises and into the result.
    const warnings: string[] = [];
    const warn = (messages: readonly string[]) => {
      for (const message of messages) {
        warnings.push(message);
        emit({ type: 'warning', message });
      }
    };
    warn([...this.warnings, ...normalized.warnings]);
    // Fast mode: a distilled pair decides steps, guidance, shift and the expert switch.
    const fastNotes: string[] = [];
    const fast = this.resolveFast(request.fast, request.cache !== undefined, fastNotes);
    if (fast) {
      if (request.cache) fastNotes.push('fast mode runs 4 distilled steps: the step cache is not used');
      for (const [k, v] of [['steps', request.steps], ['guidanceScale', request.guidanceScale], ['guidanceScale2', request.guidanceScale2], ['shift', request.shift], ['boundaryRatio', request.boundaryRatio]] as const) {
        if (v !== undefined) fastNotes.push(`${k} ${v} is replaced by fast mode's distilled setting`);
      }
    }
    warn(fastNotes);
    if (request.numberResults !== 1) throw new WanError('E_UNSUPPORTED', 'numberResults above 1 is not supported yet');
    const d = defaultsFor(this.plan.variant.variant);
    const width = request.width ?? d.width;
    const height = request.height ?? d.height;
    const numFrames = request.numFrames ?? d.numFrames;
    const steps = fast?.sampling.steps ?? request.steps ?? d.steps;
    const guidanceScale = fast?.sampling.guidanceScale ?? request.guidanceScale ?? d.guidanceScale;
    const guidanceScale2 = fast?.sampling.guidanceScale2 ?? request.guidanceScale2 ?? d.guidanceScale2 ?? guidanceScale;
    const schedulerName = fast ? fast.sampling.scheduler : request.scheduler;
    const fromFolder = this.scheduler && this.scheduler.name === schedulerName && !fast ? this.scheduler : null;
    const shift = fast?.sampling.shift ?? request.shift ?? fromFolder?.shift ?? d.shift;
    const schedulerConfig: NativeSchedulerConfig = fromFolder?.config ?? { kind: SCHEDULER_KINDS[schedulerName] };
    const boundaryRatio = request.boundaryRatio ?? this.boundaryRatio ?? d.boundaryRatio;
    const cache = request.cache && !fast
      ? resolveStepCache(request.cache, { variant: this.plan.variant.variant, dim: c.numHeads * c.headDim, inChannels: c.inChannels, latentChannels: this.vaeConfig.zDim, numLayers: c.numLayers }, { width, height, steps })
      : null;
    if (cache) warn(cache.warnings);
    const boundaryTimestep = fast ? fast.sampling.boundaryTimestep : boundaryRatio !== undefined && boundaryRatio !== null ? boundaryRatio * 1000 : undefined;

    // LoRAs: merged into the experts (the previous request's are taken out first).
    const loraList: LoraRequest[] = [
      ...(fast ? [{ path: fast.pair.high, weight: 1, transformer: 'high' as const }, { path: fast.pair.low, weight: 1, transformer: 'low' as const }] : []),
      ...(request.loras ?? []),
    ];
    const nFast = fast ? 2 : 0;
    let loras;
    try {
      loras = await applyLoras(
        { high: { native: this.transformer, config: c }, low: this.transformer2 && this.plan2 ? { native: this.transformer2, config: this.plan2.config } : null },
        loraList,
        { fieldOf: (i) => (i < nFast ? `fast.${i === 0 ? 'high' : 'low'}${fast!.fromLoad ? ' (LoadOptions.fastLoras)' : ''}` : `${normalized.fields[`loras[${i - nFast}].path`] ?? `loras[${i - nFast}].path`}`) },
      );
    } catch (err) {
      throw fromNativeError(err);
    }
    warn(unmatchedWarnings(loras));
    if (signal.aborted) throw cancelled();

    // Text.
    const useCfg = guidanceScale > 1;
    const encoded = await this.prompts.encode(useCfg ? [request.prompt, request.negativePrompt] : [request.prompt]);
    warn(encoded.warnings);
    emit({ type: 'encode', ms: encoded.timings.encodeMs, cacheHits: encoded.timings.cacheHits, cacheMisses: encoded.timings.cacheMisses, encoderLoads: encoded.timings.encoderLoads });
    const [, L, D] = encoded.embeds.shape;
    if (D !== c.textDim) throw new WanError('E_MODEL_FORMAT', `the text encoder gives ${D}-wide embeddings but the transformer expects text_dim ${c.textDim}`);
    const promptEmbeds = { data: encoded.embeds.data.slice(0, L * D), shape: [1, L, D] };
    const negativeEmbeds = useCfg ? { data: encoded.embeds.data.slice(L * D), shape: [1, L, D] } : null;
    if (signal.aborted) throw cancelled();

    // Noise for the seed, as torch.randn with a CPU generator gives it.
    const shape = [1, this.vaeConfig.zDim, Math.floor((numFrames - 1) / 4) + 1, height / spatial, width / spatial];
    const latents = { data: this.addon.randn(request.seed, shape), shape };

    // Image conditioning (Wan2.2 I2V / FLF2V channels, TI2V's clean first frame).
    const image = rawImage(request.image, 'image', width, height);
    const lastImage = rawImage(request.lastImage, 'lastImage', width, height);
    let conditioning = {};
    if (image) {
      const ti2v = this.expandTimesteps;
      if (!ti2v && c.inChannels !== this.vaeConfig.zDim * 2 + 4) {
        throw new WanError('E_INVALID_ARGUMENT', `image: this transformer (${this.plan.variant.description}) takes no image condition`);
      }
      if (c.imageDim !== null) throw new WanError('E_UNSUPPORTED', 'image: Wan2.1 I2V needs CLIP image features, which are not implemented yet');
      if (ti2v && lastImage) throw new WanError('E_INVALID_ARGUMENT', 'lastImage: TI2V conditions on a first frame only');
      conditioning = await imageConditioning(this.vae, this.vaeConfig, { ti2v, frames: numFrames, height, width, latentShape: shape, image, lastImage });
    } else if (c.inChannels !== this.vaeConfig.zDim) {
      throw new WanError('E_INVALID_ARGUMENT', `image: this transformer (${this.plan.variant.description}) needs an image`);
    }
    if (signal.aborted) throw cancelled();

    // The loop.
    const tDenoise = performance.now();
    const cancelFlag = new Int32Array(new SharedArrayBuffer(4));
    const onAbort = () => Atomics.store(cancelFlag, 0, 1);
    signal.addEventListener('abort', onAbort, { once: true });
    let denoised;
    try {
      denoised = await this.addon.runDenoise({
        transformer: this.transformer,
        transformer2: this.transformer2,
        scheduler: schedulerConfig,
        steps,
        shift,
        sigmas: fast?.sampling.sigmas,
        guidanceScale,
        guidanceScale2,
        boundaryTimestep: this.transformer2 ? boundaryTimestep : undefined,
        latents,
        promptEmbeds,
        negativeEmbeds,
        perTokenTimesteps: this.expandTimesteps,
        ...conditioning,
        cache: cache?.native ?? null,
        onStep: (e) =>
          emit({
            type: 'step', index: e.index, total: e.total, timestep: e.timestep, expert: e.expert ? 'low-noise' : 'high-noise',
            forwards: e.forwards, computed: e.computed, cached: e.forwards - e.computed, ms: e.ms,
          }),
        cancelFlag,
      });
    } catch (err) {
      throw fromNativeError(err);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    const denoiseMs = performance.now() - tDenoise;
    const computedCalls = denoised.calls.computed.filter(Boolean).length;

    // Frames, as each latent chunk is decoded.
    const tDecode = performance.now();
    const frames: Buffer[] = [];
    for await (const chunk of decodeFrames(this.vae, denoised.latents, { signal })) {
      const views = frameViews(chunk);
      emit({ type: 'frames', index: chunk.frameStart, frames: views, width: chunk.width, height: chunk.height, fps: request.fps });
      frames.push(...views);
    }
    return {
      frames,
      width,
      height,
      fps: request.fps,
      seed: request.seed,
      experts: this.experts,
      forwards: {
        computed: computedCalls,
        skipped: denoised.calls.computed.length - computedCalls,
        cache: cache?.summary ?? null,
      },
      loras,
      warnings,
      timings: {
        encodeMs: encoded.timings.encodeMs,
        denoiseMs,
        decodeMs: performance.now() - tDecode,
        totalMs: performance.now() - t0,
        stepMs: denoised.stepMs,
        cacheHits: encoded.timings.cacheHits,
        cacheMisses: encoded.timings.cacheMisses,
      },
    };
  }

  /** The distilled pair and its sampling for `fast`, or null; refuses what cannot run. */
  private resolveFast(fast: boolean | FastLoraPair | undefined, hasCache: boolean, warnings: string[]): { pair: FastLoraPair; sampling: FastSampling; fromLoad: boolean } | null {
    if (fast === undefined || fast === false) return null;
    // An API's speed switch (fast: true beside a cache) falls back to the cache where no pair applies.
    if (fast === true && hasCache && (!this.transformer2 || !this.fastLoras)) {
      warnings.push(
        !this.transformer2
          ? 'fast: the distilled 4-step LoRA pair is made for the two Wan2.2 A14B experts; this model has one transformer, so the step cache is used instead'
          : 'fast: no distilled LoRA pair was given to WanPipeline.load (fastLoras), so the step cache is used instead',
      );
      return null;
    }
    if (!this.transformer2) {
      throw new WanError('E_UNSUPPORTED', `fast: the distilled 4-step LoRA pair is made for the two experts of Wan2.2 A14B; this model (${this.plan.variant.description}) has one transformer`);
    }
    if (fast === true && !this.fastLoras) {
      throw new WanError(
        'E_INVALID_ARGUMENT',
        'fast: no distilled 4-step LoRA pair: pass fast: {high, low} (e.g. lightx2v\'s wan2.2_t2v_A14b_high_noise_lora_rank64_lightx2v_4step_1217.safetensors and its low_noise twin) or load the pipeline with {fastLoras: {high, low}}',
      );
    }
    const pair = fast === true ? this.fastLoras! : fast;
    return { pair, sampling: fastSampling(), fromLoad: fast === true };
  }

  /** Frees every model once the queued jobs have ended. */
  async dispose(): Promise<void> {
    this.disposed = true;
    await this.queue;
    this.transformer.dispose();
    this.transformer2?.dispose();
    this.vae.dispose();
    this.prompts.release();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
