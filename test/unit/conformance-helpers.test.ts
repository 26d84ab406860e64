import { describe, expect, it } from 'vitest';

import { relL2 } from '../../lib/conformance/compare.js';
import { parsePythonJson } from '../../lib/conformance/manifest.js';

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
