// A request's `cache` turned into what the native loop runs: the TeaCache polynomial and threshold
// for the loaded model, the step window, the consecutive-skip bound.
//
// TeaCache's rescaling polynomials are fitted per model by the TeaCache authors
// (ali-vilab/TeaCache, TeaCache4Wan2.1/teacache_generate.py); each has two fits, one for the time
// embedding e (the default) and one for its projection e0 (their `use_ret_steps`). The thresholds
// are the ranges their README gives per model (slow .. fast), which we read as:
//   Wan2.1 T2V 1.3B 0.05 .. 0.08, T2V 14B 0.14 .. 0.20, I2V 480p 0.13 .. 0.26, I2V 720p 0.18 .. 0.30.
// Wan2.2 has no published fit. Our documented choice, as the community wrappers do: the A14B experts
// (T2V and I2V) use the Wan2.1 14B fit of their task (same width, 5120), the TI2V 5B uses the
// Wan2.1 14B T2V fit too (no smaller fit matches its width of 3072 better), and a warning says the
// polynomial was not fitted for that model. A custom transformer picks by width and input channels.
import type { ModelVariant } from '../model/types.js';
import type { NativeStepCache } from '../bindings/native-pipeline.js';
import { invalidIssue, RequestError } from '../schemas/issues.js';
import type { CacheSpec } from '../schemas/request.js';

export type TeaCacheFit = 't2v-1.3b' | 't2v-14b' | 'i2v-480p' | 'i2v-720p';

interface Fit {
  e: number[];
  e0: number[];
  /** The published threshold range: conservative, fast. */
  thresholds: [number, number];
}

export const TEACACHE_FITS: Record<TeaCacheFit, Fit> = {
  't2v-1.3b': {
    e: [2.39676752e3, -1.31110545e3, 2.01331979e2, -8.29855975, 1.37887774e-1],
    e0: [-5.21862437e4, 9.23041404e3, -5.28275948e2, 1.36987616e1, -4.99875664e-2],
    thresholds: [0.05, 0.08],
  },
  't2v-14b': {
    e: [-5784.54975374, 5449.50911966, -1811.16591783, 256.27178429, -13.02252404],
    e0: [-3.03318725e5, 4.90537029e4, -2.65530556e3, 5.87365115e1, -3.15583525e-1],
    thresholds: [0.14, 0.2],
  },
  'i2v-480p': {
    e: [-3.0233167e2, 2.23948934e2, -5.2546397e1, 5.8734844, -2.01973289e-1],
    e0: [2.57151496e5, -3.54229917e4, 1.40286849e3, -1.35890334e1, 1.32517977e-1],
    thresholds: [0.13, 0.26],
  },
  'i2v-720p': {
    e: [-114.36346466, 65.26524496, -18.82220707, 4.91518089, -0.23412683],
    e0: [8.1070546e3, 2.13393892e3, -3.72934672e2, 1.66203073e1, -4.17769401e-2],
    thresholds: [0.18, 0.3],
  },
};

/** First Block Cache's threshold when a request names none (the middle of the 0.05 .. 0.15 commonly used for video DiTs). */
export const FBCACHE_DEFAULT_THRESHOLD = 0.1;

/**
 * DBCache's settings when a request leaves them out: cache-dit's DBCacheConfig defaults
 * (vipshop/cache-dit, cache_config.py): Fn 8, Bn 0, residual-diff threshold 0.08, 8 warmup steps
 * every one computed, no bound on cached steps.
 */
export const DBCACHE_DEFAULTS = { fnBlocks: 8, bnBlocks: 0, threshold: 0.08, warmupSteps: 8, warmupInterval: 1 } as const;

export interface TransformerShape {
  variant: ModelVariant;
  /** Hidden width (heads x head size). */
  dim: number;
  /** Transformer input channels (16 T2V, 36 Wan2.1/2.2 I2V, 48 TI2V). */
  inChannels: number;
  /** 16 or 48 latent channels: an input wider than the latent carries an image condition. */
  latentChannels: number;
  /** Transformer blocks (DBCache's fnBlocks + bnBlocks may not exceed them); unknown: checked natively. */
  numLayers?: number;
}

/** Which fit serves a model at a size, and whether it was fitted for that model. */
export function teaCacheFitFor(model: TransformerShape, width: number, height: number): { fit: TeaCacheFit; fitted: boolean } {
  const i2vFit: TeaCacheFit = width * height >= 1280 * 720 * 0.75 ? 'i2v-720p' : 'i2v-480p';
  switch (model.variant) {
    case 'wan2.1-t2v-1.3b':
      return { fit: 't2v-1.3b', fitted: true };
    case 'wan2.1-t2v-14b':
      return { fit: 't2v-14b', fitted: true };
    case 'wan2.1-i2v-14b':
      return { fit: i2vFit, fitted: true };
    case 'wan2.1-flf2v-14b':
      return { fit: 'i2v-720p', fitted: false };
    case 'wan2.2-t2v-a14b':
      return { fit: 't2v-14b', fitted: false };
    case 'wan2.2-i2v-a14b':
      return { fit: i2vFit, fitted: false };
    case 'wan2.2-ti2v-5b':
      return { fit: 't2v-14b', fitted: false };
    default: {
      const imageInput = model.inChannels > model.latentChannels;
      if (imageInput) return { fit: i2vFit, fitted: false };
      return { fit: model.dim <= 1536 ? 't2v-1.3b' : 't2v-14b', fitted: false };
    }
  }
}

export interface ResolvedStepCache {
  native: NativeStepCache;
  /** What was chosen, for the result and the warning event. */
  summary: string;
  warnings: string[];
}

/**
 * The native cache for a request. Window defaults follow the references: TeaCache computes the
 * first step and the last (TeaCache4Wan2.1's ret_steps 1 step, cutoff steps - 1); First Block Cache
 * has no window (diffusers'). cacheMaxConsecutive left out means no bound.
 */
export function resolveStepCache(spec: CacheSpec, model: TransformerShape, size: { width: number; height: number; steps: number }): ResolvedStepCache {
  const { steps } = size;
  const percentStep = (p: number) => Math.round((p / 100) * steps);
  const startStep = spec.startStep ?? (spec.startPercent !== undefined ? percentStep(spec.startPercent) : undefined);
  let endStep = spec.endStep ?? (spec.endPercent !== undefined ? percentStep(spec.endPercent) : undefined);
  if (endStep !== undefined && startStep !== undefined && endStep <= startStep) endStep = Math.min(steps, startStep + 1);
  const warnings: string[] = [];
  const window = (start: number, end: number | undefined) =>
    `steps ${start}..${(end ?? steps) - 1} may skip${spec.maxConsecutive ? `, at most ${spec.maxConsecutive} in a row` : ''}`;

  if (spec.kind === 'dbcache') return resolveDbCache(spec, model, startStep, endStep, window);
  if (spec.kind === 'fbcache') {
    const threshold = spec.threshold ?? FBCACHE_DEFAULT_THRESHOLD;
    const start = startStep ?? 0;
    return {
      native: { kind: 'fbcache', threshold, startStep: start, endStep, maxConsecutive: spec.maxConsecutive ?? 0 },
      summary: `First Block Cache, threshold ${threshold}, ${window(start, endStep)}`,
      warnings,
    };
  }
  const { fit, fitted } = teaCacheFitFor(model, size.width, size.height);
  const f = TEACACHE_FITS[fit];
  // `level` is a model-independent aggressiveness (Runware's teaCacheDistance): 0.5 is the
  // authors' fast threshold for this model, 0 never skips, 1 doubles the fast threshold.
  const threshold = spec.threshold ?? (spec.level !== undefined ? 2 * spec.level * f.thresholds[1] : f.thresholds[0]);
  if (!fitted) warnings.push(`cache: TeaCache has no polynomial fitted for ${model.variant}; using the ${fit} fit (see lib/pipeline/step-cache.ts)`);
  const start = startStep ?? Math.min(1, steps - 1);
  const end = endStep ?? (steps > 2 ? steps - 1 : undefined);
  return {
    native: { kind: 'teacache', threshold, startStep: start, endStep: end, maxConsecutive: spec.maxConsecutive ?? 0, coefficients: f.e, indicator: 'e' },
    summary: `TeaCache (${fit} fit), threshold ${Number(threshold.toPrecision(4))}, ${window(start, end)}`,
    warnings,
  };
}

/**
 * DBCache: cache-dit's settings, its defaults for what the request leaves out. Its warmup steps
 * already keep the first steps computed, so the window starts at step 0 unless the request moves it;
 * `maxConsecutive` is cache-dit's max_continuous_cached_steps.
 */
function resolveDbCache(
  spec: CacheSpec,
  model: TransformerShape,
  startStep: number | undefined,
  endStep: number | undefined,
  window: (start: number, end: number | undefined) => string,
): ResolvedStepCache {
  const d = DBCACHE_DEFAULTS;
  const fnBlocks = spec.fnBlocks ?? d.fnBlocks;
  const bnBlocks = spec.bnBlocks ?? d.bnBlocks;
  const warnings: string[] = [];
  const layers = model.numLayers;
  if (layers !== undefined) {
    // cache-dit asserts each of Fn and Bn against the block count, not their sum.
    const over = ([['cache.fnBlocks', fnBlocks], ['cache.bnBlocks', bnBlocks]] as const).filter(([, n]) => n > layers);
    if (over.length > 0) {
      throw new RequestError('canonical', over.map(([field, n]) => invalidIssue(field, n, `at most the transformer's ${layers} blocks`)));
    }
    if (fnBlocks + bnBlocks > layers) {
      warnings.push(
        `cache: fnBlocks ${fnBlocks} + bnBlocks ${bnBlocks} exceed the transformer's ${layers} blocks: as in cache-dit, ` +
          `blocks ${layers - bnBlocks}..${fnBlocks - 1} run twice in every call (first and last ranges overlap)`,
      );
    }
  }
  const threshold = spec.threshold ?? d.threshold;
  const warmupSteps = spec.warmupSteps ?? d.warmupSteps;
  const warmupInterval = spec.warmupInterval ?? d.warmupInterval;
  const start = startStep ?? 0;
  const native: NativeStepCache = {
    kind: 'dbcache', threshold, startStep: start, endStep, maxConsecutive: spec.maxConsecutive ?? 0,
    fnBlocks, bnBlocks, warmupSteps, warmupInterval, maxCachedSteps: spec.maxCachedSteps ?? -1,
  };
  const warmup = warmupInterval === 1 ? `${warmupSteps} warmup steps` : `${warmupSteps} warmup steps (every ${warmupInterval}th computed)`;
  const bound = spec.maxCachedSteps !== undefined ? `, at most ${spec.maxCachedSteps} cached steps per branch` : '';
  return {
    native,
    summary: `DBCache F${fnBlocks}B${bnBlocks}, threshold ${threshold}, ${warmup}${bound}, ${window(start, endStep)}`,
    warnings,
  };
}
