// Decoded frames as the VAE hands them out: channels-last chunks [frames, height, width, 3], RGB
// bytes or [-1, 1] floats. Views of single frames, and the reference's [B, 3, T, H, W] layout.
import type { NativeVaeChunk } from '../bindings/native-vae.js';
import type { NativeTensor } from '../bindings/native.js';

/** The RGB frames of a byte chunk, each [height, width, 3], as views (no copy). */
export function frameViews(chunk: NativeVaeChunk): Buffer[] {
  if (!chunk.rgb) throw new TypeError('frameViews needs a chunk decoded with format "rgb8"');
  const size = chunk.height * chunk.width * 3;
  return Array.from({ length: chunk.frames }, (_, i) => chunk.rgb!.subarray(i * size, (i + 1) * size));
}

/** [-1, 1] floats to RGB bytes as the pipelines post-process them: (x + 1) / 2 clamped to [0, 1],
 * times 255, rounded half to even (torch and numpy round that way). The native decoder does the
 * same on its thread; this is for floats that are already in JavaScript. */
export function toRgb8(pixels: Float32Array, out: Uint8Array = new Uint8Array(pixels.length)): Uint8Array {
  const f = new Float32Array(1);
  for (let i = 0; i < pixels.length; i++) {
    f[0] = pixels[i] / 2 + 0.5;
    const v = Math.fround(Math.min(1, Math.max(0, f[0])) * 255);
    const r = Math.round(v);
    out[i] = r - v === 0.5 && r % 2 === 1 ? r - 1 : r;
  }
  return out;
}

/** Float chunks of a batch of videos -> one [B, 3, T, H, W] tensor, the reference decoder's layout. */
export function assembleVideo(chunks: readonly NativeVaeChunk[], batch: number): NativeTensor {
  if (chunks.length === 0) throw new TypeError('no frames to assemble');
  const { height: H, width: W } = chunks[0];
  const frames = Math.max(...chunks.map((c) => c.frameStart + c.frames));
  const plane = H * W;
  const data = new Float32Array(batch * 3 * frames * plane);
  for (const c of chunks) {
    if (!c.data) throw new TypeError('assembleVideo needs chunks decoded with format "float"');
    for (let f = 0; f < c.frames; f++) {
      const src = f * plane * 3;
      for (let ch = 0; ch < 3; ch++) {
        const dst = ((c.sample * 3 + ch) * frames + c.frameStart + f) * plane;
        for (let p = 0; p < plane; p++) data[dst + p] = c.data[src + p * 3 + ch];
      }
    }
  }
  return { data, shape: [batch, 3, frames, H, W] };
}
