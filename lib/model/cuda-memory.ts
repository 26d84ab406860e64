// The memory check of a load on the CUDA backend: what the models need on the device, against the
// device's free memory (not a float32 estimate against host RAM, which is the CPU backend's check,
// lib/model/memory.ts). The CUDA backend stores weight matrices (2-D tensors) as bf16, 2 bytes a
// parameter, and every other tensor as float32; its activations are float32 device tensors, the
// same buffers the CPU estimate counts.
import type { NativeInfo } from '../bindings/native.js';
import { estimateMemory, type MemoryEstimate } from './memory.js';
import type { TextEncoderPlan, TransformerPlan, VaePlan } from './types.js';

type Plans = Parameters<typeof estimateMemory>[0];
type Request = Parameters<typeof estimateMemory>[1];

const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Bytes the CUDA backend stores for a plan's tensors: bf16 matrices, float32 otherwise. */
export function cudaWeightBytes(plans: { transformers: TransformerPlan[]; vae: VaePlan; textEncoder?: TextEncoderPlan }): number {
  const tensors = [...plans.transformers.flatMap((p) => p.tensors), ...plans.vae.tensors, ...(plans.textEncoder?.tensors ?? [])];
  return tensors.reduce((n, t) => n + numel(t.shape) * (t.shape.length === 2 ? 2 : 4), 0);
}

export function estimateCudaMemory(plans: Plans, request: Request): MemoryEstimate {
  const cpu = estimateMemory(plans, request);
  const weightsBytes = cudaWeightBytes(plans);
  const peak = Math.max(cpu.transformerActivationsBytes, cpu.vaeDecodeBytes, cpu.textEncoderActivationsBytes);
  return { ...cpu, weightsBytes, totalBytes: weightsBytes + peak };
}

/** What a load may take on the device: the driver's free memory plus the pool's cached blocks. */
export function deviceBudgetBytes(info: NativeInfo): number | null {
  const m = info.deviceMemory;
  return m && m.total > 0 ? m.free + m.cached : null;
}
