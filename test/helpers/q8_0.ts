// ggml's Q8_0 for tests that write GGUF files: blocks of 32 values, each an f16 scale
// d = max|x| / 127 and 32 int8s q = round(x / d).
import { floatToF16Bits } from '../../lib/model/safetensors-writer.js';

export function quantizeQ8_0(x: Float32Array): Uint8Array {
  const blocks = x.length / 32;
  const out = Buffer.alloc(blocks * 34);
  for (let b = 0; b < blocks; b++) {
    let amax = 0;
    for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[b * 32 + i]));
    const d = amax / 127;
    const id = d ? 1 / d : 0;
    out.writeUInt16LE(floatToF16Bits(d), b * 34);
    for (let i = 0; i < 32; i++) out.writeInt8(Math.round(x[b * 32 + i] * id), b * 34 + 2 + i);
  }
  return out;
}
