// Frames stream into ffmpeg as they are decoded (rawvideo RGB on stdin), so a long video never sits
// in memory as a whole. Quality follows the hosted APIs: outputQuality 20-99 (higher is better) and
// a write mode trading encode time for size.
//
// Every way ffmpeg can go wrong ends in a rejected promise that names the file and quotes ffmpeg:
// it fails to start, exits early (an unwritable path, a missing encoder: its stdin then breaks,
// EPIPE, which is recorded instead of thrown), or exits non-zero at the end. One listener of each
// kind is attached for the writer's life; a write waiting for 'drain' is woken by 'drain' or by the
// exit, whichever comes, so no listener is added per wait.
import { type ChildProcess, spawn } from 'node:child_process';

import { WanError } from '../errors.js';
import { findFfmpeg } from './ffmpeg.js';

export type VideoFormat = 'mp4' | 'webm' | 'mov';
export type WriteMode = 'fast' | 'balanced' | 'small';

/** The encoder each container gets (what `ffmpeg -encoders` must list). */
export const VIDEO_ENCODERS: Record<VideoFormat, string> = { mp4: 'libx264', mov: 'libx264', webm: 'libvpx-vp9' };

export interface VideoWriterOptions {
  format: VideoFormat;
  width: number;
  height: number;
  fps: number;
  /** 20..99, higher is better (default 85). */
  quality?: number;
  writeMode?: WriteMode;
}

/** The encoder arguments for a format, quality and write mode. */
export function codecArgs(o: Pick<VideoWriterOptions, 'format' | 'quality' | 'writeMode'>): string[] {
  const q = Math.min(99, Math.max(20, o.quality ?? 85));
  const mode = o.writeMode ?? 'balanced';
  if (o.format === 'webm') {
    // VP9 constant quality: crf 0..63, lower is better.
    const crf = Math.round(55 - ((q - 20) * 40) / 79);
    const speed = { fast: ['-deadline', 'realtime', '-cpu-used', '8'], balanced: ['-deadline', 'good', '-cpu-used', '4'], small: ['-deadline', 'good', '-cpu-used', '1'] }[mode];
    return ['-c:v', VIDEO_ENCODERS.webm, '-crf', String(crf), '-b:v', '0', ...speed, '-pix_fmt', 'yuv420p'];
  }
  // H.264: crf 0..51, lower is better; 20 -> 40, 99 -> 12.
  const crf = Math.round(40 - ((q - 20) * 28) / 79);
  const preset = { fast: 'veryfast', balanced: 'medium', small: 'slow' }[mode];
  return ['-c:v', VIDEO_ENCODERS[o.format], '-crf', String(crf), '-preset', preset, '-pix_fmt', 'yuv420p', ...(o.format === 'mp4' ? ['-movflags', '+faststart'] : [])];
}

/** The whole ffmpeg command line after the binary: raw RGB frames on stdin to `target`. */
export function ffmpegArgs(o: VideoWriterOptions, target: string, muxer?: string): string[] {
  return [
    '-hide_banner', '-loglevel', 'error', '-nostdin', '-y',
    '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${o.width}x${o.height}`, '-r', String(o.fps), '-i', 'pipe:0',
    ...codecArgs(o), '-r', String(o.fps), ...(muxer ? ['-f', muxer] : []), target,
  ];
}

export class VideoWriter {
  private stderr = '';
  private closed = false;
  /** Why ffmpeg cannot take more frames (spawn error, broken stdin), once known. */
  private failure: Error | null = null;
  private exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private readonly exited: Promise<void>;
  /** The write waiting for 'drain', if any. */
  private wake: (() => void) | null = null;

  private constructor(private readonly proc: ChildProcess, readonly file: string) {
    proc.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    proc.stdin?.on('error', (err) => {
      this.failure ??= err;
      this.resume();
    });
    proc.stdin?.on('drain', () => this.resume());
    this.exited = new Promise((resolve) => {
      proc.on('error', (err) => {
        this.failure ??= err;
        this.exit ??= { code: null, signal: null };
        this.resume();
        resolve();
      });
      // 'close': the process has exited and its stderr is read to the end.
      proc.on('close', (code, signal) => {
        this.exit = { code, signal };
        this.resume();
        resolve();
      });
    });
  }

  static open(file: string, o: VideoWriterOptions): VideoWriter {
    if (o.width % 2 || o.height % 2) throw new WanError('E_INVALID_ARGUMENT', `video size ${o.width}x${o.height}: H.264/VP9 need even sizes`);
    const ffmpeg = findFfmpeg();
    return new VideoWriter(spawn(ffmpeg.path, ffmpegArgs(o, file), { stdio: ['pipe', 'ignore', 'pipe'] }), file);
  }

  private resume(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private error(): WanError {
    const why = this.stderr.trim() || this.failure?.message || (this.exit ? `exit ${this.exit.code ?? this.exit.signal}` : 'unknown');
    const how = this.exit ? `ffmpeg ${this.exit.signal ? `was killed (${this.exit.signal})` : `exited with status ${this.exit.code}`}` : 'ffmpeg stopped taking frames';
    return new WanError('E_NATIVE', `writing ${this.file} failed: ${how}: ${why}`, { cause: this.failure ?? undefined });
  }

  /** Queues one RGB frame; resolves when ffmpeg has taken it (backpressure), rejects if ffmpeg has failed. */
  async write(frame: Uint8Array): Promise<void> {
    if (this.closed) throw new WanError('E_INVALID_ARGUMENT', `${this.file}: the writer is closed`);
    if (this.failure || this.exit) {
      await this.exited;
      throw this.error();
    }
    if (this.proc.stdin!.write(frame)) return;
    await new Promise<void>((resolve) => {
      this.wake = resolve;
    });
    if (this.failure || this.exit) {
      await this.exited;
      throw this.error();
    }
  }

  /** Finishes the file; rejects with ffmpeg's message if it failed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.exit) this.proc.stdin!.end();
    await this.exited;
    if (this.failure || this.exit?.code !== 0) throw this.error();
  }

  /** Stops ffmpeg (a cancelled or failed job); the caller removes the partial file. */
  abort(): void {
    this.closed = true;
    if (!this.exit) this.proc.kill('SIGKILL');
  }

  /** Resolves once the ffmpeg process is gone. */
  async gone(): Promise<void> {
    await this.exited;
  }
}
