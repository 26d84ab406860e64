/** ‖ours − expected‖₂ / ‖expected‖₂, accumulated in double; NaN anywhere makes it Infinity. */
export function relL2(ours: Float32Array, expected: Float32Array): number {
  if (ours.length !== expected.length) return Infinity;
  let num = 0;
  let den = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = ours[i] - expected[i];
    num += d * d;
    den += expected[i] * expected[i];
  }
  if (!Number.isFinite(num)) return Infinity;
  if (den === 0) return num === 0 ? 0 : Infinity;
  return Math.sqrt(num / den);
}
