// The memory budget a plan is made against: what the user gave (`--max-memory`, `maxMemory`, parsed
// from "16GB" / "16GiB" / bytes), or by default what the backend's device has free now, less a margin.
import { readFileSync } from 'node:fs';
import { freemem } from 'node:os';

import type { NativeInfo } from '../bindings/native.js';
import { WanError } from '../errors.js';
import { deviceBudgetBytes } from '../model/cuda-memory.js';
import type { MemoryBackend } from '../model/memory.js';

const MiB = 2 ** 20;

/**
 * What the default budget leaves aside, declared once (policy, not measured):
 * - cpu: 512 MiB for what the plan does not count in host memory: the Node heap and the JS-side
 *   frame buffers of other jobs, the addon's thread stacks, malloc's slack.
 * - cuda: cuBLASLt's 32 MiB workspace (CublasLtGemm::kWorkspaceBytes, allocated from the same pool
 *   at backend start) plus 480 MiB for what the caching pool cannot hand back (fragmentation
 *   between block sizes) and kernels loaded lazily at first launch. Not measured on a GPU here.
 */
export const BUDGET_MARGIN_BYTES: Record<MemoryBackend, number> = { cpu: 512 * MiB, cuda: 32 * MiB + 480 * MiB };

const UNITS: Record<string, number> = {
  '': 1, b: 1,
  kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12,
  k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40,
  kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40,
};

/** "16GB" (10^9), "16GiB" / "16G" (2^30), "1.5 GiB", "17179869184" or a number of bytes -> bytes. */
export function parseMemorySize(value: string | number, field = 'maxMemory'): number {
  const bad = () => new WanError('E_INVALID_ARGUMENT', `${field} ${JSON.stringify(value)}: expected a size such as 16GB, 16GiB or a number of bytes`);
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value <= 0) throw bad();
    return Math.floor(value);
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) throw bad();
  const bytes = Math.floor(Number(m[1]) * unit);
  if (bytes <= 0) throw bad();
  return bytes;
}

/** Host memory a new allocation can take without swapping: Linux's MemAvailable, else os.freemem(). */
export function availableHostBytes(meminfo = '/proc/meminfo'): { bytes: number; source: string } {
  try {
    const m = /^MemAvailable:\s+(\d+)\s*kB/m.exec(readFileSync(meminfo, 'utf8'));
    if (m) return { bytes: Number(m[1]) * 1024, source: 'MemAvailable (/proc/meminfo)' };
  } catch {
    // not Linux: os.freemem() below
  }
  return { bytes: freemem(), source: 'os.freemem()' };
}

export interface MemoryBudget {
  bytes: number;
  /** Where it came from, for messages: "--max-memory 16GB", "the device's free memory less 512 MiB". */
  source: string;
}

/** The user's budget when given, else the backend's free memory less BUDGET_MARGIN_BYTES. */
export function resolveBudget(
  backend: MemoryBackend,
  given: string | number | undefined,
  info: NativeInfo | null,
  field = 'maxMemory',
  readHost: () => { bytes: number; source: string } = availableHostBytes,
): MemoryBudget {
  if (given !== undefined) return { bytes: parseMemorySize(given, field), source: `${field} ${typeof given === 'number' ? `${given} bytes` : given}` };
  const margin = BUDGET_MARGIN_BYTES[backend];
  const marginText = `${margin / MiB} MiB`;
  if (backend === 'cuda') {
    // The driver's free memory plus what the addon's pool holds cached (info().deviceMemory).
    const free = info ? deviceBudgetBytes(info) : null;
    if (free === null) throw new WanError('E_DEVICE', `the CUDA addon reports no device memory: pass ${field} to plan without it`);
    return { bytes: Math.max(0, free - margin), source: `the device's free memory less ${marginText}` };
  }
  const host = readHost();
  return { bytes: Math.max(0, host.bytes - margin), source: `available host memory (${host.source}) less ${marginText}` };
}
