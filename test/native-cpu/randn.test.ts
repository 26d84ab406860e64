// torch.randn with a CPU generator: the public rng cases through the conformance runner, PyTorch's
// well-known first values, an independent TypeScript model of the algorithm (mt19937 + the two
// Box-Muller paths) for sizes the cases do not cover, seeds above 2^32, and argument checks.
import { beforeAll, describe, expect, it } from 'vitest';

import { loadAddon } from '../../lib/bindings/loader.js';
import type { NativeAddon } from '../../lib/bindings/native.js';
import { listCases, runCase } from '../../lib/conformance/runner.js';
import type { ModelCache } from '../../lib/conformance/types.js';
import { fixturesRoot, haveFixtures } from '../helpers/paths.js';

const noCache: ModelCache = { get: async (_k, load) => (await load()).value };

/** The reference Mersenne Twister (Matsumoto & Nishimura's init_genrand and genrand_int32). */
class Mt19937 {
  private readonly mt = new Uint32Array(624);
  private index = 624;
  constructor(seed: number) {
    this.mt[0] = seed >>> 0;
    for (let i = 1; i < 624; i++) {
      const prev = this.mt[i - 1] ^ (this.mt[i - 1] >>> 30);
      // 1812433253 * prev + i modulo 2^32, split to stay exact in doubles.
      this.mt[i] = (((((prev & 0xffff0000) >>> 16) * 1812433253) << 16) + (prev & 0x0000ffff) * 1812433253 + i) >>> 0;
    }
  }
  next(): number {
    if (this.index >= 624) {
      for (let i = 0; i < 624; i++) {
        const y = (this.mt[i] & 0x80000000) | (this.mt[(i + 1) % 624] & 0x7fffffff);
        this.mt[i] = this.mt[(i + 397) % 624] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      this.index = 0;
    }
    let y = this.mt[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }
}

/** What torch.randn(numel) gives, modelled independently (doubles where the C++ uses floats). */
function modelRandn(seed: number, numel: number): number[] {
  const mt = new Mt19937(seed);
  const out: number[] = [];
  if (numel >= 16) {
    const u = () => (mt.next() & 0xffffff) / 16777216;
    const d = Array.from({ length: numel }, u);
    const block = (at: number) => {
      for (let j = 0; j < 8; j++) {
        const r = Math.sqrt(-2 * Math.log(1 - d[at + j]));
        const theta = Math.fround(2 * Math.PI * d[at + j + 8]);
        [d[at + j], d[at + j + 8]] = [r * Math.cos(theta), r * Math.sin(theta)];
      }
    };
    for (let i = 0; i + 16 <= numel; i += 16) block(i);
    if (numel % 16) {
      for (let i = numel - 16; i < numel; i++) d[i] = u();
      block(numel - 16);
    }
    return d;
  }
  // 53-bit uniform doubles from (hi << 32 | lo); pairs (cos, sin) with the sine cached.
  const u53 = () => {
    const hi = mt.next();
    const lo = mt.next();
    return ((hi & 0x1fffff) * 4294967296 + lo) / 9007199254740992;
  };
  while (out.length < numel) {
    const u1 = u53();
    const u2 = u53();
    const r = Math.sqrt(-2 * Math.log1p(-u2));
    out.push(r * Math.cos(2 * Math.PI * u1), r * Math.sin(2 * Math.PI * u1));
  }
  return out.slice(0, numel);
}

describe('torch-compatible randn', () => {
  let addon: NativeAddon;
  beforeAll(() => {
    addon = loadAddon('cpu').addon;
  });

  it.runIf(haveFixtures)('passes every public rng case', async () => {
    const names = await listCases(fixturesRoot, ['rng']);
    expect(names.length).toBeGreaterThanOrEqual(4);
    for (const name of names) {
      const r = await runCase(fixturesRoot, name, addon, noCache);
      expect(r.status, `${name}: ${r.reason ?? ''}`).toBe('pass');
    }
  });

  it('gives PyTorch\'s first values for seed 0 (torch.manual_seed(0); torch.randn(2, 3))', () => {
    const got = Array.from(addon.randn(0, [2, 3]));
    [1.541, -0.2934, -2.1788, 0.5684, -1.0845, -1.3986].forEach((v, i) => expect(got[i]).toBeCloseTo(v, 4));
  });

  it('matches the independent model on both paths and on the tail window', () => {
    expect(new Mt19937(0).next()).toBe(2357136044); // mt19937's first output for seed 0
    for (const seed of [0, 7, 123456789, 4294967295]) {
      for (const n of [1, 2, 3, 5, 15, 16, 17, 31, 32, 33, 50]) {
        const got = addon.randn(seed, [n]);
        const want = modelRandn(seed, n);
        expect(got.length).toBe(n);
        want.forEach((w, i) => expect(Math.abs(got[i] - w), `seed ${seed} n ${n} [${i}]`).toBeLessThan(2e-6 * Math.max(1, Math.abs(w))));
      }
    }
  });

  it('draws in row-major order: only the element count matters', () => {
    expect(Array.from(addon.randn(42, [2, 3, 4]))).toEqual(Array.from(addon.randn(42, [24])));
    expect(Array.from(addon.randn(42, []))).toEqual(Array.from(addon.randn(42, [1])));
    expect(addon.randn(42, [3, 0, 2]).length).toBe(0);
  });

  it('is deterministic and takes 64-bit seeds as PyTorch does (low 32 bits seed the engine)', () => {
    const a = addon.randn(1234, [5, 7]);
    expect(Array.from(addon.randn(1234, [5, 7]))).toEqual(Array.from(a));
    expect(Array.from(addon.randn(1234n, [5, 7]))).toEqual(Array.from(a));
    expect(Array.from(addon.randn(1235, [5, 7]))).not.toEqual(Array.from(a));
    expect(Array.from(addon.randn(4294967303, [35]))).toEqual(Array.from(addon.randn(7, [35])));
    expect(Array.from(addon.randn((1n << 64n) - 1n, [9]))).toEqual(Array.from(addon.randn(4294967295, [9])));
  });

  it('refuses seeds and shapes outside the range, with a coded error', () => {
    for (const seed of [-1, 1.5, Number.NaN, 2 ** 53, -1n, 1n << 64n]) {
      expect(() => addon.randn(seed, [4]), String(seed)).toThrow(expect.objectContaining({ code: 'E_INVALID_ARGUMENT', message: expect.stringMatching(/seed/) }));
    }
    expect(() => addon.randn('7' as unknown as number, [4])).toThrow(expect.objectContaining({ code: 'E_INVALID_ARGUMENT' }));
    for (const shape of [[-1], [2.5], [65536, 65536]]) {
      expect(() => addon.randn(0, shape), JSON.stringify(shape)).toThrow(expect.objectContaining({ code: 'E_INVALID_ARGUMENT' }));
    }
  });
});
