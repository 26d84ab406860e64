// Which ffmpeg encodes videos: $FFMPEG_PATH, else the system's `ffmpeg`, else the binary the
// optional @ffmpeg-installer/ffmpeg package ships (installed from the npm registry, nothing downloaded
// at run time).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

import { WanError } from '../errors.js';

export interface FfmpegBinary {
  path: string;
  source: 'FFMPEG_PATH' | 'system' | '@ffmpeg-installer/ffmpeg';
}

let cached: FfmpegBinary | undefined;

const runs = (path: string) => spawnSync(path, ['-hide_banner', '-version'], { stdio: 'ignore' }).status === 0;

export function findFfmpeg(): FfmpegBinary {
  if (cached) return cached;
  const fromEnv = process.env.FFMPEG_PATH;
  if (fromEnv) {
    if (!runs(fromEnv)) throw new WanError('E_UNSUPPORTED', `FFMPEG_PATH=${fromEnv} does not run`);
    return (cached = { path: fromEnv, source: 'FFMPEG_PATH' });
  }
  if (runs('ffmpeg')) return (cached = { path: 'ffmpeg', source: 'system' });
  try {
    const pkg = createRequire(import.meta.url)('@ffmpeg-installer/ffmpeg') as { path: string };
    if (runs(pkg.path)) return (cached = { path: pkg.path, source: '@ffmpeg-installer/ffmpeg' });
  } catch {
    // not installed (it is an optional dependency)
  }
  throw new WanError(
    'E_UNSUPPORTED',
    'no ffmpeg found: install one (apt-get install ffmpeg, brew install ffmpeg), set FFMPEG_PATH, or install @ffmpeg-installer/ffmpeg; PNG output works without it',
  );
}
