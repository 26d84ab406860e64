// The small preview a progress stream may carry: the latest decoded frame, box-downscaled to at most
// `maxSide` pixels on its longer side, as a PNG.
import { encodePng } from '../video/png.js';

export function previewPng(rgb: Uint8Array, width: number, height: number, maxSide = 160): Buffer {
  const f = Math.max(1, Math.ceil(Math.max(width, height) / maxSide));
  const w = Math.max(1, Math.floor(width / f));
  const h = Math.max(1, Math.floor(height / f));
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let dy = 0; dy < f; dy++) for (let dx = 0; dx < f; dx++) sum += rgb[((y * f + dy) * width + x * f + dx) * 3 + c];
        out[(y * w + x) * 3 + c] = Math.round(sum / (f * f));
      }
    }
  }
  return encodePng(out, w, h);
}
