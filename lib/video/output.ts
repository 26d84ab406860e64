// Where a job's frames go: a video file (streamed into ffmpeg as frames arrive), PNG frames in a
// folder, or one contact-sheet PNG. The format comes from --format or the file extension.
import { rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';

import { WanError } from '../errors.js';
import { contactSheet, encodePng } from './png.js';
import { type VideoFormat, VideoWriter, type WriteMode } from './writer.js';

export type OutputFormat = VideoFormat | 'png' | 'contact-sheet';

export function formatFromPath(path: string): OutputFormat {
  const ext = extname(path).toLowerCase();
  if (ext === '.mp4' || ext === '.webm' || ext === '.mov') return ext.slice(1) as VideoFormat;
  if (ext === '.png') return 'contact-sheet';
  if (ext === '') return 'png';
  throw new WanError('E_INVALID_ARGUMENT', `--out ${path}: expected .mp4, .webm, .mov, .png (contact sheet) or a folder (PNG frames)`);
}

export interface FrameSink {
  /** Takes frames as they are decoded. */
  add(frames: Buffer[], width: number, height: number): Promise<void>;
  /** Finishes the output; returns the files written. */
  finish(): Promise<string[]>;
  abort(): void;
}

export function openOutput(path: string, o: { format?: OutputFormat; fps: number; quality?: number; writeMode?: WriteMode }): FrameSink {
  const format = o.format ?? formatFromPath(path);
  if (format === 'mp4' || format === 'webm' || format === 'mov') {
    let writer: VideoWriter | undefined;
    return {
      async add(frames, width, height) {
        writer ??= VideoWriter.open(path, { format, width, height, fps: o.fps, quality: o.quality, writeMode: o.writeMode });
        for (const f of frames) await writer.write(f);
      },
      async finish() {
        if (!writer) throw new WanError('E_NATIVE', 'no frames were produced');
        await writer.close();
        return [path];
      },
      abort() {
        // A cancelled job leaves no half-written video behind.
        writer?.abort();
        if (writer) rmSync(path, { force: true });
      },
    };
  }
  const kept: Buffer[] = [];
  let size = { width: 0, height: 0 };
  return {
    async add(frames, width, height) {
      kept.push(...frames);
      size = { width, height };
    },
    async finish() {
      if (format === 'contact-sheet') {
        const sheet = contactSheet(kept, size.width, size.height);
        await writeFile(path, encodePng(sheet.rgb, sheet.width, sheet.height));
        return [path];
      }
      await mkdir(path, { recursive: true });
      const files: string[] = [];
      for (const [i, f] of kept.entries()) {
        const file = join(path, `frame_${String(i).padStart(4, '0')}.png`);
        await writeFile(file, encodePng(f, size.width, size.height));
        files.push(file);
      }
      return files;
    },
    abort() {},
  };
}
