// Where a job's frames go: a video file (streamed into ffmpeg as frames arrive), PNG frames in a
// folder, or one contact-sheet PNG.
//
// An output is decided and checked before any generation starts: resolveOutput() takes the format
// from the file name and from whatever else asked for one (a --format flag, a request's
// outputFormat) and refuses, by name, a format it does not know or one that contradicts the file
// name; preflightOutput() refuses a missing or unwritable folder or file and an ffmpeg that cannot
// encode the format. What is written afterwards can still fail (a full disk); that rejects too.
import { constants, rmSync } from 'node:fs';
import { access, mkdir, open, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';

import { WanError } from '../errors.js';
import { OUTPUT_FORMATS, WRITE_MODES } from '../schemas/request.js';
import { checkVideoEncoding } from './ffmpeg.js';
import { contactSheet, encodePng } from './png.js';
import { type VideoFormat, VideoWriter, type WriteMode } from './writer.js';

/** mp4/webm/mov: a video file; png: a .png file is a contact sheet, a folder holds one PNG per frame; contact-sheet: one .png. */
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** What a file name says (an extension not listed here is refused; none at all means a folder of PNG frames). */
export const OUTPUT_EXTENSIONS: Record<string, OutputFormat> = { '.mp4': 'mp4', '.webm': 'webm', '.mov': 'mov', '.png': 'contact-sheet' };

const isVideo = (f: OutputFormat): f is VideoFormat => f === 'mp4' || f === 'webm' || f === 'mov';

/** A setting and where it came from, for messages: `--format`, `outputFormat (runware request)`. */
export interface Chosen<T> {
  value: T;
  from: string;
}

export interface OutputSpec {
  path: string;
  /** Resolved: 'png' here always means a folder of frames, a single .png is 'contact-sheet'. */
  format: OutputFormat;
  quality?: number;
  writeMode?: WriteMode;
}

const expectedNames = `.mp4, .webm, .mov, .png (a contact sheet of all frames) or a name without extension (a folder of PNG frames)`;

/** The format a file name asks for. */
export function formatFromPath(path: string): OutputFormat {
  const ext = extname(path).toLowerCase();
  if (ext === '' || path.endsWith('/')) return 'png';
  const f = OUTPUT_EXTENSIONS[ext];
  if (!f) throw new WanError('E_INVALID_ARGUMENT', `--out ${path}: ${ext} is not an output format wan-video writes; expected ${expectedNames}`);
  return f;
}

/** Whether `asked` is a way to say what the file name says. */
function agrees(asked: OutputFormat, fromName: OutputFormat): boolean {
  if (asked === fromName) return true;
  // "png" names both PNG outputs: a .png file (contact sheet) and a folder of frames.
  return asked === 'png' && fromName === 'contact-sheet';
}

/** Decides one output: its format (checked against the file name), quality and write mode. */
export function resolveOutput(path: string, o: { format?: Chosen<string>; quality?: Chosen<number>; writeMode?: Chosen<string> } = {}): OutputSpec {
  const fromName = formatFromPath(path);
  let format = fromName;
  if (o.format) {
    const asked = o.format.value.toLowerCase();
    if (!(OUTPUT_FORMATS as readonly string[]).includes(asked)) {
      throw new WanError('E_INVALID_ARGUMENT', `${o.format.from} ${o.format.value}: not an output format; expected one of ${OUTPUT_FORMATS.join(', ')}`);
    }
    if (!agrees(asked as OutputFormat, fromName)) {
      const says = fromName === 'png' ? 'a name without extension, i.e. a folder of PNG frames' : `${extname(path)}, i.e. ${fromName}`;
      throw new WanError('E_INVALID_ARGUMENT', `${o.format.from} ${o.format.value} contradicts --out ${path} (${says}): give the file the ${asked === 'contact-sheet' ? '.png' : asked === 'png' ? '.png extension or none' : `.${asked}`} extension, or leave the format out`);
    }
    format = fromName;
  }
  const q = o.quality;
  if (q && !(Number.isInteger(q.value) && q.value >= 20 && q.value <= 99)) {
    throw new WanError('E_INVALID_ARGUMENT', `${q.from} ${q.value}: expected an integer from 20 to 99`);
  }
  const w = o.writeMode;
  if (w && !(WRITE_MODES as readonly string[]).includes(w.value)) {
    throw new WanError('E_INVALID_ARGUMENT', `${w.from} ${w.value}: expected ${WRITE_MODES.join(', ')}`);
  }
  if (!isVideo(format)) {
    // Quality and write mode are encoder settings; PNG is lossless. Said by name rather than ignored.
    for (const c of [q, w]) {
      if (c && !c.from.endsWith('(default)')) throw new WanError('E_INVALID_ARGUMENT', `${c.from} applies to video files (.mp4, .webm, .mov); --out ${path} is ${format === 'png' ? 'a folder of PNG frames' : 'a PNG contact sheet'}`);
    }
    return { path, format };
  }
  return { path, format, quality: q?.value, writeMode: w?.value as WriteMode | undefined };
}

/** The path of result `index` of a request that makes several: x.mp4, x-1.mp4, x-2.mp4, ... */
export function resultPath(path: string, index: number): string {
  if (index === 0) return path;
  const trailing = path.endsWith('/') ? '/' : '';
  const bare = trailing ? path.slice(0, -1) : path;
  const ext = extname(bare);
  return `${bare.slice(0, bare.length - ext.length)}-${index}${ext}${trailing}`;
}

async function checkWritableFile(path: string): Promise<void> {
  const dir = dirname(resolve(path));
  const st = await stat(dir).catch(() => null);
  if (!st) throw new WanError('E_INVALID_ARGUMENT', `--out ${path}: the folder ${dir} does not exist`);
  if (!st.isDirectory()) throw new WanError('E_INVALID_ARGUMENT', `--out ${path}: ${dir} is not a folder`);
  const existing = await stat(path).catch(() => null);
  if (existing?.isDirectory()) throw new WanError('E_INVALID_ARGUMENT', `--out ${path}: is a folder, not a file`);
  // Opening is the only honest test (permissions, read-only mounts, root's exemptions).
  try {
    const fh = await open(path, existing ? 'r+' : 'wx');
    await fh.close();
    if (!existing) await rm(path, { force: true });
  } catch (err) {
    throw new WanError('E_INVALID_ARGUMENT', `--out ${path}: cannot be written (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
}

async function checkFramesFolder(path: string): Promise<void> {
  const st = await stat(path).catch(() => null);
  if (st && !st.isDirectory()) throw new WanError('E_INVALID_ARGUMENT', `--out ${path}: exists and is not a folder (a name without extension is a folder of PNG frames)`);
  const target = st ? path : dirname(resolve(path));
  const parent = await stat(target).catch(() => null);
  if (!parent?.isDirectory()) throw new WanError('E_INVALID_ARGUMENT', `--out ${path}: the folder ${target} does not exist`);
  try {
    await access(target, constants.W_OK);
  } catch (err) {
    throw new WanError('E_INVALID_ARGUMENT', `--out ${path}: ${target} is not writable`, { cause: err });
  }
}

/** Refuses an output that cannot be written, before any work: folder, permissions, ffmpeg. */
export async function preflightOutput(spec: OutputSpec): Promise<void> {
  if (spec.format === 'png') return checkFramesFolder(spec.path);
  await checkWritableFile(spec.path);
  if (isVideo(spec.format)) checkVideoEncoding(spec.format);
}

export interface FrameSink {
  /** Takes frames as they are decoded. */
  add(frames: Buffer[], width: number, height: number, fps: number): Promise<void>;
  /** Finishes the output; returns the files written. */
  finish(): Promise<string[]>;
  /** Stops and removes what was written (a cancelled or failed job). */
  abort(): Promise<void>;
}

export function openOutput(spec: OutputSpec): FrameSink {
  const { path, format } = spec;
  if (isVideo(format)) {
    let writer: VideoWriter | undefined;
    return {
      async add(frames, width, height, fps) {
        writer ??= VideoWriter.open(path, { format, width, height, fps, quality: spec.quality, writeMode: spec.writeMode });
        for (const f of frames) await writer.write(f);
      },
      async finish() {
        if (!writer) throw new WanError('E_NATIVE', `${path}: no frames were produced`);
        await writer.close();
        return [path];
      },
      async abort() {
        // A cancelled or failed job leaves no half-written video behind.
        if (!writer) return;
        writer.abort();
        await writer.gone();
        rmSync(path, { force: true });
      },
    };
  }
  const kept: Buffer[] = [];
  let size = { width: 0, height: 0 };
  const written: string[] = [];
  return {
    async add(frames, width, height) {
      kept.push(...frames);
      size = { width, height };
    },
    async finish() {
      if (kept.length === 0) throw new WanError('E_NATIVE', `${path}: no frames were produced`);
      if (format === 'contact-sheet') {
        const sheet = contactSheet(kept, size.width, size.height);
        await writeFile(path, encodePng(sheet.rgb, sheet.width, sheet.height));
        written.push(path);
        return [path];
      }
      await mkdir(path, { recursive: true });
      for (const [i, f] of kept.entries()) {
        const file = join(path, `frame_${String(i).padStart(4, '0')}.png`);
        await writeFile(file, encodePng(f, size.width, size.height));
        written.push(file);
      }
      return [...written];
    },
    async abort() {
      for (const f of written) rmSync(f, { force: true });
    },
  };
}

/** A short description for messages: `wan-video-demo.mp4 (H.264)`. */
export function describeOutput(spec: OutputSpec): string {
  const what = { mp4: 'H.264 .mp4', mov: 'H.264 .mov', webm: 'VP9 .webm', 'contact-sheet': 'PNG contact sheet', png: 'PNG frames' }[spec.format];
  return `${basename(spec.path)} (${what}${spec.quality !== undefined ? `, quality ${spec.quality}` : ''}${spec.writeMode ? `, ${spec.writeMode}` : ''})`;
}

