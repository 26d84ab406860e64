import { describe, expect, it } from 'vitest';
import { assertDenoisedFinite, assertFinite, firstNonFinite } from '../../lib/pipeline/nonfinite.js';

describe('non-finite checks', () => {
  it('finds the first NaN or infinity, and nothing in finite data', () => {
    expect(firstNonFinite(new Float32Array([0, -0, 1e38, -3.4e38, 1e-45]))).toBe(-1);
    expect(firstNonFinite(new Float32Array([0, 1, NaN, Infinity]))).toBe(2);
    expect(firstNonFinite(new Float32Array([0, -Infinity]))).toBe(1);
  });

  it('E_NONFINITE says which stage, how many values and where', () => {
    expect(() => assertFinite(new Float32Array([1, NaN, 2, Infinity]), [2, 2], 'the text encoder', 'check it')).toThrow(
      expect.objectContaining({ code: 'E_NONFINITE', message: 'the text encoder produced 2 NaN or infinite value(s) of 4 (the first, NaN, at element 1 of [2, 2]); check it' }),
    );
    expect(() => assertFinite(new Float32Array([1, 2]), [2], 'x', 'y')).not.toThrow();
  });

  it('denoised latents: the step comes from the previews when the loop kept them', () => {
    const lat = { data: new Float32Array([0, NaN]), shape: [2] };
    const ok = { data: new Float32Array([0, 1]) };
    const bad = { data: new Float32Array([NaN, 1]) };
    expect(() => assertDenoisedFinite(lat, 4)).toThrow(expect.objectContaining({ code: 'E_NONFINITE', message: expect.stringMatching(/^the denoising loop \(4 step\(s\)\), produced 1 NaN .*VAE decode was skipped/) }));
    expect(() => assertDenoisedFinite(lat, 4, [{ step: 0, latents: ok }, { step: 2, latents: bad }, { step: 3, latents: bad }], [0, 0, 1, 1])).toThrow(
      expect.objectContaining({ message: expect.stringContaining('the denoising loop, by step 2 of 4 (transformer_2, the low-noise expert) (step 0 was still finite), produced') }),
    );
    expect(() => assertDenoisedFinite({ data: new Float32Array([0, 1]), shape: [2] }, 4, [{ step: 0, latents: bad }])).not.toThrow();
  });
});
