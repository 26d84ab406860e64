// Picks the addon and says why.
//
// CPU: the addon node-gyp-build finds: build/Release when this is a clone that built it, else the
// prebuild the package carries (prebuilds/<platform>-<arch>/wan-video.<libc>.node).
//
// CUDA: optional, never required. Candidates, in order: $WAN_VIDEO_CUDA_ADDON (a path), a clone's
// own `npm run build:cuda` output (build-cuda/Release), and the per-CUDA-major packages a user
// installs beside wan-video (@wan-video/<platform>-<arch>-cuda<major>, newest major first). Each
// candidate is first loaded in a child process (probe-addon.js): a binary that fails to load or
// crashes starting its device (no CUDA runtime, a driver too old for its toolkit) costs that child,
// not this process. The first candidate whose probe sees a device is loaded here; otherwise the CPU
// addon is, and the reason lists what each candidate said (`wan-video info` prints it).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { WanError } from '../errors.js';
import type { NativeAddon, NativeInfo } from './native.js';

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));

/** The package root (where binding.gyp, build/ and prebuilds/ live), from dist/bindings or lib/bindings. */
export const packageRoot = join(here, '..', '..');

export const cudaAddonPath = join(packageRoot, 'build-cuda', 'Release', 'wan_video.node');

/** CUDA majors with an optional addon package, newest first (scripts/pack-cuda.mjs makes them). */
export const CUDA_MAJORS = [13, 12] as const;

/** The optional CUDA addon package for a CUDA major on this platform. */
export function cudaPackageName(major: number, platform: string = process.platform, arch: string = process.arch): string {
  return `@wan-video/${platform}-${arch}-cuda${major}`;
}

export type DevicePreference = 'auto' | 'cpu' | 'cuda';

export interface LoadedAddon {
  addon: NativeAddon;
  kind: 'cpu' | 'cuda';
  path: string;
  /** Why this addon was chosen, for `wan-video info`. */
  reason: string;
}

export interface CudaCandidate {
  /** Where it came from, for messages: `$WAN_VIDEO_CUDA_ADDON`, `build-cuda/`, or the package name. */
  label: string;
  path: string;
}

export interface ProbeResult {
  ok: boolean;
  /** What the probe saw, in words (a device list, or why the addon cannot be used). */
  reason: string;
  info?: NativeInfo;
}

let cached: Map<DevicePreference, LoadedAddon> | undefined;
const probes = new Map<string, ProbeResult>();

/** Forgets the loaded addons and probe results (tests). */
export function clearAddonCache(): void {
  cached = undefined;
  probes.clear();
}

function loadCpuAddon(): { addon: NativeAddon; path: string } {
  const nodeGypBuild = require('node-gyp-build') as { resolve(dir: string): string };
  let path: string;
  try {
    path = nodeGypBuild.resolve(packageRoot);
  } catch (err) {
    throw new WanError(
      'E_NATIVE',
      `no CPU addon for ${process.platform}-${process.arch} (this package carries no prebuild for it and none was built): ` +
        'build it from source with `npx wan-video build` (needs a C++17 compiler, make and python3)',
      { cause: err },
    );
  }
  return { addon: require(path) as NativeAddon, path };
}

/** The CUDA addons that exist here, in the order they are tried. */
export function cudaCandidates(): CudaCandidate[] {
  const out: CudaCandidate[] = [];
  const fromEnv = process.env.WAN_VIDEO_CUDA_ADDON;
  if (fromEnv) out.push({ label: '$WAN_VIDEO_CUDA_ADDON', path: fromEnv });
  if (existsSync(cudaAddonPath)) out.push({ label: 'build-cuda/ (npm run build:cuda)', path: cudaAddonPath });
  for (const major of CUDA_MAJORS) {
    const name = cudaPackageName(major);
    try {
      const manifest = require.resolve(`${name}/package.json`, { paths: [packageRoot] });
      out.push({ label: name, path: join(dirname(manifest), 'wan_video.node') });
    } catch {
      // not installed
    }
  }
  return out;
}

/** The compiled probe: beside this file in dist/, or dist/'s copy when this runs from lib/ (tests). */
function probeScript(): string {
  const beside = join(here, 'probe-addon.js');
  return existsSync(beside) ? beside : join(packageRoot, 'dist', 'bindings', 'probe-addon.js');
}

/** Loads an addon in a child process and reports whether it has a CUDA device to run on. */
export function probeAddon(path: string, timeoutMs = 60_000): ProbeResult {
  const hit = probes.get(path);
  if (hit) return hit;
  const r = spawnSync(process.execPath, [probeScript(), path], { encoding: 'utf8', timeout: timeoutMs, env: process.env });
  const lastLine = (s: string) => s.trim().split('\n').filter((l) => l.trim()).slice(-3).join(' ').slice(0, 400);
  let result: ProbeResult;
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT') result = { ok: false, reason: `did not answer within ${timeoutMs / 1000} s` };
  else if (r.error) result = { ok: false, reason: `could not start the probe (${r.error.message})` };
  else if (r.signal) result = { ok: false, reason: `crashed while loading (${r.signal})${r.stderr.trim() ? `: ${lastLine(r.stderr)}` : ''}` };
  else if (r.status !== 0) result = { ok: false, reason: `failed to load: ${lastLine(r.stderr) || `exit status ${r.status}`}` };
  else {
    let info: NativeInfo;
    try {
      info = JSON.parse(r.stdout) as NativeInfo;
    } catch {
      info = { cudaBuild: false } as NativeInfo;
    }
    const devices = info.cudaDevices ?? [];
    if (!info.cudaBuild) result = { ok: false, reason: 'is not a CUDA build', info };
    else if (devices.length === 0) result = { ok: false, reason: `loaded, but no CUDA device answered (${info.cudaError ?? 'no device'})`, info };
    else {
      const names = devices.map((d) => `${d.name}, sm ${d.computeCapability}`).join('; ');
      result = { ok: true, reason: `${devices.length} device(s) answered (${names})`, info };
    }
  }
  probes.set(path, result);
  return result;
}

export function loadAddon(preference: DevicePreference = envPreference()): LoadedAddon {
  cached ??= new Map();
  const hit = cached.get(preference);
  if (hit) return hit;
  let why: string;
  if (preference === 'cpu') {
    why = 'the CPU backend was requested';
  } else {
    const candidates = cudaCandidates();
    const failures: string[] = [];
    for (const c of candidates) {
      const probe = probeAddon(c.path);
      if (!probe.ok) {
        failures.push(`${c.label} ${probe.reason}`);
        continue;
      }
      const loaded: LoadedAddon = { addon: require(c.path) as NativeAddon, kind: 'cuda', path: c.path, reason: `CUDA addon ${c.label}: ${probe.reason}` };
      cached.set(preference, loaded);
      return loaded;
    }
    why = candidates.length
      ? failures.join('; ')
      : `no CUDA addon is installed (${CUDA_MAJORS.map((m) => cudaPackageName(m)).join(' or ')}, matching your CUDA driver) or built (npm run build:cuda in a clone)`;
    if (preference === 'cuda') throw new WanError('E_DEVICE', `CUDA was requested but ${why}`);
  }
  const cpu = loadCpuAddon();
  const loaded: LoadedAddon = { addon: cpu.addon, kind: 'cpu', path: cpu.path, reason: `CPU addon: ${why}` };
  cached.set(preference, loaded);
  return loaded;
}

function envPreference(): DevicePreference {
  const v = process.env.WAN_VIDEO_DEVICE;
  return v === 'cpu' || v === 'cuda' ? v : 'auto';
}
