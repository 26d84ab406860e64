// Which ffmpeg encodes videos: $FFMPEG_PATH, else the system's `ffmpeg`, else the binary the
// optional @ffmpeg-installer/ffmpeg package ships (installed from the npm registry, nothing downloaded
// at run time). checkVideoEncoding() proves, before any generation, that the chosen binary encodes
// the format asked for: a missing encoder or a broken binary is refused up front, not after the
// denoising loop.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { WanError } from '../errors.js';
import { type VideoFormat, VIDEO_ENCODERS, ffmpegArgs } from './writer.js';

export interface FfmpegBinary {
  path: string;
  source: 'FFMPEG_PATH' | 'system' | '@ffmpeg-installer/ffmpeg';
}

let cached: FfmpegBinary | undefined;
const checked = new Map<string, true>();

const runs = (path: string) => spawnSync(path, ['-hide_banner', '-version'], { stdio: 'ignore', timeout: 20_000 }).status === 0;

export function findFfmpeg(): FfmpegBinary {
  if (cached) return cached;
  const fromEnv = process.env.FFMPEG_PATH;
  if (fromEnv) {
    if (!runs(fromEnv)) throw new WanError('E_UNSUPPORTED', `FFMPEG_PATH=${fromEnv} does not run (\`${fromEnv} -version\` failed)`);
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

/**
 * Encodes two tiny frames with the same encoder and muxer a `format` video will use, into a
 * temporary file; throws E_UNSUPPORTED naming the binary and quoting ffmpeg when that fails.
 * Remembered per binary and format.
 */
export function checkVideoEncoding(format: VideoFormat): FfmpegBinary {
  const ffmpeg = findFfmpeg();
  const key = `${ffmpeg.path}\0${format}`;
  if (checked.has(key)) return ffmpeg;
  const dir = mkdtempSync(join(tmpdir(), 'wan-ffmpeg-check-'));
  try {
    const o = { format, width: 16, height: 16, fps: 16, writeMode: 'fast' as const };
    const r = spawnSync(ffmpeg.path, ffmpegArgs(o, join(dir, `check.${format}`)), { input: Buffer.alloc(16 * 16 * 3 * 2), encoding: 'buffer', timeout: 60_000 });
    if (r.status !== 0) {
      const said = (r.stderr?.toString() ?? '').trim().split('\n').slice(-4).join(' ') || (r.error?.message ?? `exit ${r.status ?? r.signal}`);
      throw new WanError('E_UNSUPPORTED', `${format} output: ${ffmpeg.path} (${ffmpeg.source}) cannot encode ${VIDEO_ENCODERS[format]} into .${format}: ${said}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  checked.set(key, true);
  return ffmpeg;
}
