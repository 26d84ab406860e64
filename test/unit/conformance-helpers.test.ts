import { describe, expect, it } from 'vitest';

import { relL2 } from '../../lib/conformance/compare.js';
import { imagePreprocessUnsupported, runImagePreprocess } from '../../lib/conformance/kinds/image.js';
import { type CaseManifest, parsePythonJson } from '../../lib/conformance/manifest.js';
import type { CaseContext } from '../../lib/conformance/types.js';

describe('relL2', () => {
  it('is the L2 norm of the difference over the L2 norm of the expected tensor', () => {
    expect(relL2(new Float32Array([3, 4]), new Float32Array([3, 4]))).toBe(0);
    expect(relL2(new Float32Array([3, 5]), new Float32Array([3, 4]))).toBeCloseTo(1 / 5, 12);
  });
  it('never lets NaN, a length mismatch or a zero reference pass', () => {
    expect(relL2(new Float32Array([NaN, 1]), new Float32Array([1, 1]))).toBe(Infinity);
    expect(relL2(new Float32Array([1]), new Float32Array([1, 1]))).toBe(Infinity);
    expect(relL2(new Float32Array([0, 1e-9]), new Float32Array([0, 0]))).toBe(Infinity);
    expect(relL2(new Float32Array([0, 0]), new Float32Array([0, 0]))).toBe(0);
  });
});

describe('parsePythonJson', () => {
  it("reads Python's NaN and infinities outside strings and leaves strings alone", () => {
    const v = parsePythonJson('{"a": -Infinity, "b": [NaN, Infinity], "c": "NaN -Infinity \\"x\\"", "d": 1e-5}') as Record<string, unknown>;
    expect(v.a).toBe(-Infinity);
    expect(v.b).toEqual([NaN, Infinity]);
    expect(v.c).toBe('NaN -Infinity "x"');
    expect(v.d).toBe(1e-5);
  });
  it('still rejects what is not JSON', () => {
    expect(() => parsePythonJson('{"a": Inf}')).toThrow();
  });
});

describe('image conformance kinds: malformed cases named, not run', () => {
  const manifest = (params: Record<string, unknown>) =>
    ({ kind: 'image_preprocess', model: null, params, tolerance: { rel_l2: 1e-2 }, inputs: ['in.image'], outputs: ['out.pixel_values'], shapes: {} }) as unknown as CaseManifest;
  const ctx = (data: Float32Array, shape: number[]) =>
    ({ manifest: manifest({ height: 8, width: 8, config: { vae_scale_factor: 8 } }), inputs: new Map([['in.image', { data, shape }]]) }) as unknown as CaseContext;

  it('refuses a VAE factor, height or width the processor could not take', () => {
    expect(imagePreprocessUnsupported(manifest({ height: 64, width: 64, config: { vae_scale_factor: 0 } }))).toMatch(/vae_scale_factor must be an integer >= 1, got 0/);
    expect(imagePreprocessUnsupported(manifest({ height: 5, width: 64, config: { vae_scale_factor: 8 } }))).toMatch(/params\.height must be an integer >= vae_scale_factor \(8\), got 5/);
    expect(imagePreprocessUnsupported(manifest({ height: 64, width: 1e9, config: { vae_scale_factor: 8 } }))).toMatch(/over the image limit/);
    expect(imagePreprocessUnsupported(manifest({ height: 64, width: 48, config: { vae_scale_factor: 8 } }))).toBeNull();
  });

  it('refuses an input image that is empty or not 8-bit values, naming the pixel', async () => {
    await expect(runImagePreprocess(ctx(new Float32Array(0), [0, 4, 3]))).rejects.toThrow(/in\.image must be \[H, W, 3\] with H, W >= 1/);
    const px = new Float32Array(2 * 2 * 3).fill(10);
    px[7] = 300; // pixel [1, 0], channel 1
    await expect(runImagePreprocess(ctx(px, [2, 2, 3]))).rejects.toThrow('in.image must hold integers 0..255; [1, 0, 1] is 300');
    px[7] = NaN;
    await expect(runImagePreprocess(ctx(px, [2, 2, 3]))).rejects.toThrow(/\[1, 0, 1\] is NaN/);
    px[7] = 12;
    const out = await runImagePreprocess(ctx(px, [2, 2, 3]));
    expect(out.get('out.pixel_values')?.shape).toEqual([1, 3, 8, 8]);
  });
});
