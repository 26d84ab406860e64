// How long a request will take, estimated before it starts from the work the transformer does (the
// matrix products of one forward at the request's token count, times the calls the loop makes) and
// one throughput figure per backend. The transformer is nearly all of a generation's arithmetic;
// the text encoder and the VAE are left out, so the estimate is a lower bound.
import type { TransformerConfig } from '../model/types.js';

/** One matrix product shape of a forward: C[m, n] += A[m, k] B[k, n], `batch` x `count` times. */
export interface MatmulShape {
  what: string;
  m: number;
  n: number;
  k: number;
  batch: number;
  count: number;
}

/** The matrix products of one transformer forward over `tokens` video tokens and `textLen` text tokens (the benchmark's list too). */
export function ditMatmuls(c: Pick<TransformerConfig, 'numHeads' | 'headDim' | 'patchSize' | 'numLayers' | 'inChannels' | 'outChannels' | 'textDim' | 'ffnDim'>, tokens: number, textLen: number): MatmulShape[] {
  const dim = c.numHeads * c.headDim;
  const P = c.patchSize[0] * c.patchSize[1] * c.patchSize[2];
  const L = c.numLayers;
  return [
    { what: 'patch_embedding', m: tokens, n: dim, k: c.inChannels * P, batch: 1, count: 1 },
    { what: 'text_embedding.1', m: textLen, n: dim, k: c.textDim, batch: 1, count: 1 },
    { what: 'text_embedding.2', m: textLen, n: dim, k: dim, batch: 1, count: 1 },
    { what: 'attn q/k/v/o, cross q/o', m: tokens, n: dim, k: dim, batch: 1, count: 6 * L },
    { what: 'cross k/v', m: textLen, n: dim, k: dim, batch: 1, count: 2 * L },
    { what: 'ffn in', m: tokens, n: c.ffnDim, k: dim, batch: 1, count: L },
    { what: 'ffn out', m: tokens, n: dim, k: c.ffnDim, batch: 1, count: L },
    { what: 'self-attention qk^T', m: tokens, n: tokens, k: c.headDim, batch: c.numHeads, count: L },
    { what: 'self-attention pv', m: tokens, n: c.headDim, k: tokens, batch: c.numHeads, count: L },
    { what: 'cross-attention qk^T', m: tokens, n: textLen, k: c.headDim, batch: c.numHeads, count: L },
    { what: 'cross-attention pv', m: tokens, n: c.headDim, k: textLen, batch: c.numHeads, count: L },
    { what: 'proj_out', m: tokens, n: c.outChannels * P, k: dim, batch: 1, count: 1 },
  ];
}

export const flopsOf = (mm: readonly MatmulShape[]): number => mm.reduce((s, x) => s + 2 * x.m * x.n * x.k * x.batch * x.count, 0);

/**
 * Sustained transformer throughput per backend, declared once here.
 * - CPU: measured by `npm run bench -- dit` (bench/results/2026-11-21-cpu-dit.json): the Wan2.1
 *   1.3B forward at 390 tokens, 1194 GFLOP in 6.89 s = 173 GFLOP/s on 2 threads of an AMD EPYC with
 *   OpenBLAS (the portable kernel: 174), i.e. about 87 GFLOP/s per thread; scaled by the backend's
 *   thread count. Attention at long sequences runs below the GEMM rate, so large requests take
 *   longer than this says.
 * - CUDA: declared, not measured (the CUDA kernels have not run on a GPU yet; bench/cuda/ will
 *   measure it): 150 TFLOP/s, about half of an A100's dense bf16 tensor-core peak (312) and a
 *   sixth of an H100's (989), the fraction DiT inference commonly sustains.
 */
export const TRANSFORMER_THROUGHPUT = {
  cpu: { flopsPerSecondPerThread: 86.7e9, source: 'measured: npm run bench -- dit, 173 GFLOP/s on 2 threads (bench/results/2026-11-21-cpu-dit.json)' },
  cuda: { flopsPerSecond: 150e12, source: 'declared, not measured: about half an A100\'s bf16 peak' },
} as const;

/** A request estimated to take longer than this gets a warning before it starts. */
export const LONG_REQUEST_SECONDS = 600;

export interface DeviceFacts {
  backend: 'cpu' | 'cuda';
  /** CPU backend threads. */
  threads: number;
}

export interface GenerationEstimate {
  /** Transformer calls the loop makes (all results; a step cache may skip some). */
  calls: number;
  tokens: number;
  flopsPerCall: number;
  flops: number;
  flopsPerSecond: number;
  /** Lower bound: the transformer alone, at the backend's sustained rate. */
  seconds: number;
  source: string;
}

export function estimateGeneration(
  config: Parameters<typeof ditMatmuls>[0],
  work: { tokens: number; textLen: number; calls: number },
  device: DeviceFacts,
): GenerationEstimate {
  const flopsPerCall = flopsOf(ditMatmuls(config, work.tokens, work.textLen));
  const t = TRANSFORMER_THROUGHPUT;
  const flopsPerSecond = device.backend === 'cuda' ? t.cuda.flopsPerSecond : t.cpu.flopsPerSecondPerThread * Math.max(1, device.threads);
  const flops = flopsPerCall * work.calls;
  return {
    calls: work.calls,
    tokens: work.tokens,
    flopsPerCall,
    flops,
    flopsPerSecond,
    seconds: flops / flopsPerSecond,
    source: device.backend === 'cuda' ? t.cuda.source : t.cpu.source,
  };
}

/** 90 s, 12 min, 3.4 h, 2.1 days. */
export function formatDuration(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} days`;
}
