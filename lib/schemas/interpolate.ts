// Frame interpolation as a request asks for it: which network, how many frames between each pair of
// generated frames, and whether the frame rate follows (fal's fields, in canonical form).
import { z } from 'zod';

import { addUnsupported, bool, intIn, oneOf } from './fields.js';

/** Frames inserted between two generated frames: fal's documented range for num_interpolated_frames. */
export const MAX_INTERPOLATED_FRAMES = 4;

export const InterpolateSchema = z
  .strictObject({
    /** 'rife' (Practical-RIFE 4.25's IFNet). FILM is a different network, not implemented: refused by name. */
    model: oneOf(['rife', 'film']).default('rife'),
    /** Frames inserted between each pair: n frames become (n - 1) * (frames + 1) + 1. 0 is off. */
    frames: intIn(0, MAX_INTERPOLATED_FRAMES).default(1),
    /** Multiply the fps by frames + 1, so the video keeps its duration (fal's default). */
    adjustFps: bool().default(true),
    /**
     * Set by an API adapter for the API's own default (fal interpolates unless told not to): done when
     * the pipeline has an interpolator, otherwise left out with a warning. A request's explicit ask
     * without an interpolator is refused instead.
     */
    ifAvailable: bool().default(false),
  })
  .superRefine((r, ctx) => {
    if (r.model === 'film') {
      addUnsupported(ctx, ['model'], 'FILM is not implemented by wan-video; "rife" (Practical-RIFE 4.25) interpolates');
    }
  });

export type InterpolateSpec = z.output<typeof InterpolateSchema>;

/** The fps a video plays at after interpolation. */
export function interpolatedFps(fps: number, spec: InterpolateSpec | undefined): number {
  return spec && spec.frames > 0 && spec.adjustFps ? fps * (spec.frames + 1) : fps;
}

/** Frames after interpolation: n generated frames with `frames` inserted between each pair. */
export function interpolatedFrameCount(n: number, frames: number): number {
  return n <= 1 ? n : (n - 1) * (frames + 1) + 1;
}
