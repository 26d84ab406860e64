// Interpolation as frames are decoded: a transform over the async iterator of decoded frame chunks.
// The last frame of each chunk is kept to interpolate across the boundary with the next one, so a
// video of n frames becomes (n - 1) * (k + 1) + 1 frames, chunk by chunk, without waiting for the
// whole video.
import type { NativeVaeChunk } from '../bindings/native-vae.js';
import { WanError } from '../errors.js';
import { frameViews } from '../video/frames.js';

/** A run of consecutive RGB frames of a video; `index` is its first frame's place in the video. */
export interface FrameChunk {
  index: number;
  frames: Buffer[];
  width: number;
  height: number;
}

/** What the transform needs from an interpolator (RifeInterpolator has it). */
export interface FrameInterpolator {
  between(frames: readonly Uint8Array[], width: number, height: number, count: number): Promise<Buffer[]>;
}

/** The VAE's RGB chunks as frame chunks (views, no copy). */
export async function* decodedFrameChunks(chunks: AsyncIterable<NativeVaeChunk>): AsyncGenerator<FrameChunk> {
  for await (const c of chunks) yield { index: c.frameStart, frames: frameViews(c), width: c.width, height: c.height };
}

export interface InterpolateChunksOptions {
  /** Frames inserted between each pair (1 to 4). */
  frames: number;
  signal?: AbortSignal;
  /** Called with the milliseconds each chunk's interpolation took. */
  onChunk?: (ms: number) => void;
}

export async function* interpolateFrameChunks(
  source: AsyncIterable<FrameChunk>,
  interpolator: FrameInterpolator,
  opts: InterpolateChunksOptions,
): AsyncGenerator<FrameChunk> {
  let last: Buffer | null = null;
  let index = 0;
  for await (const chunk of source) {
    if (opts.signal?.aborted) throw new WanError('E_CANCELLED', 'the job was cancelled');
    if (chunk.frames.length === 0) continue;
    const run: Buffer[] = last ? [last, ...chunk.frames] : chunk.frames;
    const t0 = performance.now();
    const mids = run.length > 1 ? await interpolator.between(run, chunk.width, chunk.height, opts.frames) : [];
    opts.onChunk?.(performance.now() - t0);
    const out: Buffer[] = last ? [] : [run[0]];
    for (let k = 1; k < run.length; k++) out.push(...mids.slice((k - 1) * opts.frames, k * opts.frames), run[k]);
    last = run[run.length - 1];
    yield { index, frames: out, width: chunk.width, height: chunk.height };
    index += out.length;
  }
}
