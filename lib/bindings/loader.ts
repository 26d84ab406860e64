// Picks the addon: the CUDA build when it exists and a device answers, else the CPU build
// (a prebuild found by node-gyp-build, or the one `npm ci` compiled). Says why either way.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { WanError } from '../errors.js';
import type { NativeAddon } from './native.js';

const require = createRequire(import.meta.url);

/** The package root (where binding.gyp and build/ live), from dist/bindings or lib/bindings. */
export const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const cudaAddonPath = join(packageRoot, 'build-cuda', 'Release', 'wan_video.node');

export type DevicePreference = 'auto' | 'cpu' | 'cuda';

export interface LoadedAddon {
  addon: NativeAddon;
  kind: 'cpu' | 'cuda';
  path: string;
  /** Why this addon was chosen, for `wan-video info`. */
  reason: string;
}

let cached: Map<DevicePreference, LoadedAddon> | undefined;

function loadCpuAddon(): { addon: NativeAddon; path: string } {
  // node-gyp-build resolves prebuilds/<platform>-<arch>/ first, then build/Release.
  const nodeGypBuild = require('node-gyp-build') as { (dir: string): NativeAddon; resolve(dir: string): string };
  let path: string;
  try {
    path = nodeGypBuild.resolve(packageRoot);
  } catch (err) {
    throw new WanError(
      'E_NATIVE',
      `no CPU addon found for ${process.platform}-${process.arch} (no prebuild, no build/Release): run \`npx wan-video build\` or \`npm run build:native\``,
      { cause: err },
    );
  }
  return { addon: require(path) as NativeAddon, path };
}

export function loadAddon(preference: DevicePreference = envPreference()): LoadedAddon {
  cached ??= new Map();
  const hit = cached.get(preference);
  if (hit) return hit;
  let why = '';
  if (preference !== 'cpu') {
    if (existsSync(cudaAddonPath)) {
      try {
        const addon = require(cudaAddonPath) as NativeAddon;
        const info = addon.info();
        const devices = info.cudaDevices ?? [];
        if (devices.length > 0) {
          const loaded: LoadedAddon = {
            addon,
            kind: 'cuda',
            path: cudaAddonPath,
            reason: `CUDA addon built and ${devices.length} device(s) answered (${devices[0].name}, sm ${devices[0].computeCapability})`,
          };
          cached.set(preference, loaded);
          return loaded;
        }
        why = `the CUDA addon is built but no device answered (${info.cudaError ?? 'no device'})`;
      } catch (err) {
        why = `the CUDA addon failed to load (${err instanceof Error ? err.message : String(err)})`;
      }
    } else {
      why = 'no CUDA addon is built (npm run build:cuda builds it where a CUDA toolkit is installed)';
    }
    if (preference === 'cuda') throw new WanError('E_DEVICE', `CUDA was requested but ${why}`);
  } else {
    why = 'the CPU backend was requested';
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
