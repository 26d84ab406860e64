// Frames stream into ffmpeg as they are decoded (rawvideo RGB on stdin), so a long video never sits
// in memory as a whole. Quality follows the hosted APIs: outputQuality 20-99 (higher is better) and
// a write mode trading encode time for size.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';

import { WanError } from '../errors.js';
import { findFfmpeg } from './ffmpeg.js';

export type VideoFormat = 'mp4' | 'webm' | 'mov';
export type WriteMode = 'fast' | 'balanced' | 'small';

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
export function codecArgs(o: VideoWriterOptions): string[] {
  const q = Math.min(99, Math.max(20, o.quality ?? 85));
  const mode = o.writeMode ?? 'balanced';
  if (o.format === 'webm') {
    // VP9 constant quality: crf 0..63, lower is better.
    const crf = Math.round(55 - ((q - 20) * 40) / 79);
    const speed = { fast: ['-deadline', 'realtime', '-cpu-used', '8'], balanced: ['-deadline', 'good', '-cpu-used', '4'], small: ['-deadline', 'good', '-cpu-used', '1'] }[mode];
    return ['-c:v', 'libvpx-vp9', '-crf', String(crf), '-b:v', '0', ...speed, '-pix_fmt', 'yuv420p'];
  }
  // H.264: crf 0..51, lower is better; 20 -> 40, 99 -> 12.
  const crf = Math.round(40 - ((q - 20) * 28) / 79);
  const preset = { fast: 'veryfast', balanced: 'medium', small: 'slow' }[mode];
  return ['-c:v', 'libx264', '-crf', String(crf), '-preset', preset, '-pix_fmt', 'yuv420p', ...(o.format === 'mp4' ? ['-movflags', '+faststart'] : [])];
}

export class VideoWriter {
  private stderr = '';
  private closed = false;

  private constructor(private readonly proc: ChildProcess, readonly file: string) {
    proc.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
  }

  static open(file: string, o: VideoWriterOptions): VideoWriter {
    if (o.width % 2 || o.height % 2) throw new WanError('E_INVALID_ARGUMENT', `video size ${o.width}x${o.height}: H.264/VP9 need even sizes`);
    const ffmpeg = findFfmpeg();
    const args = [
      '-hide_banner', '-loglevel', 'error', '-y',
      '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${o.width}x${o.height}`, '-r', String(o.fps), '-i', 'pipe:0',
      ...codecArgs(o), '-r', String(o.fps), file,
    ];
    return new VideoWriter(spawn(ffmpeg.path, args, { stdio: ['pipe', 'ignore', 'pipe'] }), file);
  }

  /** Queues one RGB frame; resolves when ffmpeg has taken it (backpressure). */
  async write(frame: Uint8Array): Promise<void> {
    const stdin = this.proc.stdin!;
    if (!stdin.write(frame)) await Promise.race([once(stdin, 'drain'), once(this.proc, 'exit')]);
  }

  /** Finishes the file; rejects with ffmpeg's message if it failed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const exited = this.proc.exitCode !== null ? Promise.resolve([this.proc.exitCode]) : once(this.proc, 'exit');
    this.proc.stdin!.end();
    const [code] = (await exited) as [number | null];
    if (code !== 0) throw new WanError('E_NATIVE', `ffmpeg failed writing ${this.file} (exit ${code}): ${this.stderr.trim()}`);
  }

  /** Stops ffmpeg and leaves no finished file behind (a cancelled job). */
  abort(): void {
    this.closed = true;
    this.proc.kill('SIGKILL');
  }
}
