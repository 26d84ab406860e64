// What the pipelines pass to the transformer: the encoder's rows for the prompt's tokens, zero rows
// after them (T5EncoderModel.__call__ cuts at the sequence length, the pipelines pad back).
import type { NativeTensor } from '../bindings/native.js';

/** last_hidden_state [B, L, D] and mask [B, L] -> prompt_embeds [B, L, D] with rows past each length zeroed. */
export function toPromptEmbeds(lastHidden: NativeTensor, mask: ArrayLike<number>): { embeds: NativeTensor; seqLens: number[] } {
  const [B, L, D] = lastHidden.shape;
  const data = new Float32Array(lastHidden.data.length);
  const seqLens: number[] = [];
  for (let b = 0; b < B; b++) {
    let len = 0;
    for (let i = 0; i < L; i++) len += mask[b * L + i] ? 1 : 0;
    seqLens.push(len);
    data.set(lastHidden.data.subarray(b * L * D, (b * L + len) * D), b * L * D);
  }
  return { embeds: { data, shape: [B, L, D] }, seqLens };
}
