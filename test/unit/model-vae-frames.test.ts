// Frames as the VAE hands them out: bytes as the pipelines post-process floats, and float chunks
// back in the reference decoder's [B, 3, T, H, W] layout.
import { describe, expect, it } from 'vitest';

import type { NativeVaeChunk } from '../../lib/bindings/native-vae.js';
import { assembleVideo, frameViews, toRgb8 } from '../../lib/video/frames.js';

describe('VAE frames', () => {
  it('maps [-1, 1] to bytes: (x + 1) / 2 clamped, times 255, rounded half to even', () => {
    expect(Array.from(toRgb8(new Float32Array([-1, 1, 0, -2, 2, NaN])))).toEqual([0, 255, 128, 0, 255, 0]);
    // These land exactly on 64.5 and 65.5 in float32 arithmetic.
    expect(Array.from(toRgb8(new Float32Array([-0.4941176474094391, -0.48627451062202454])))).toEqual([64, 66]);
  });

  it('assembles float chunks of a batch into [B, 3, T, H, W]', () => {
    const chunk = (sample: number, frameStart: number, frames: number): NativeVaeChunk => ({
      sample, frameStart, frames, height: 1, width: 2,
      data: Float32Array.from({ length: frames * 2 * 3 }, (_, i) => sample * 1000 + frameStart * 100 + i),
    });
    const v = assembleVideo([chunk(0, 0, 1), chunk(0, 1, 2), chunk(1, 0, 1), chunk(1, 1, 2)], 2);
    expect(v.shape).toEqual([2, 3, 3, 1, 2]);
    // sample 1, channel 2, frame 2, pixel 1 = chunk (1, 1)'s frame 1, pixel 1, channel 2
    expect(v.data[((1 * 3 + 2) * 3 + 2) * 2 + 1]).toBe(1000 + 100 + (1 * 2 + 1) * 3 + 2);
    expect(() => assembleVideo([{ ...chunk(0, 0, 1), data: undefined }], 1)).toThrow(/float/);
  });

  it('views the frames of a byte chunk without copying', () => {
    const rgb = Buffer.from(Array.from({ length: 2 * 2 * 3 }, (_, i) => i));
    const views = frameViews({ sample: 0, frameStart: 0, frames: 2, height: 1, width: 2, rgb });
    expect(views.map((v) => Array.from(v))).toEqual([[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]]);
    expect(views[1].buffer).toBe(rgb.buffer);
  });
});
