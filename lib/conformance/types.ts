import type { NativeAddon, NativeTensor } from '../bindings/native.js';
import type { CaseManifest } from './manifest.js';

export type KindOutputs = Map<string, NativeTensor>;

/** Loaded models shared by the cases of one run (keyed by what they load), disposed at the end. */
export interface ModelCache {
  get<T>(key: string, load: () => Promise<{ value: T; dispose: () => void }>): Promise<T>;
}

export interface CaseContext {
  root: string;
  manifest: CaseManifest;
  inputs: Map<string, NativeTensor>;
  addon: NativeAddon;
  cache: ModelCache;
}

export type KindRunner = (ctx: CaseContext) => Promise<KindOutputs>;

export interface CaseResult {
  case: string;
  status: 'pass' | 'fail' | 'skip';
  worst?: number;
  /** The tensor with the worst error. */
  worstTensor?: string;
  /** The rel_l2 bound applied (the manifest's, or the family's bf16 bound on CUDA). */
  tolerance?: number;
  tensors?: Record<string, number>;
  reason?: string;
}

export interface ConformanceReport {
  cases: CaseResult[];
  passed: number;
  failed: number;
  skipped: number;
}
