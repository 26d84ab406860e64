// The budget of a load on the CUDA backend: the device's free memory (not host RAM, which is the
// CPU backend's budget). What the models need there is estimateMemory(plans, size, 'cuda')
// (lib/model/memory.ts: weights as the CUDA backend keeps them, its activations).
import type { NativeInfo } from '../bindings/native.js';

/** What a load may take on the device: the driver's free memory plus the pool's cached blocks. */
export function deviceBudgetBytes(info: NativeInfo): number | null {
  const m = info.deviceMemory;
  return m && m.total > 0 ? m.free + m.cached : null;
}
