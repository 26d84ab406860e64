// A short deterministic fuzz of the weight-file readers (the full run is `npm run fuzz`): every
// mutated input is either accepted or refused by a WanError naming the file; nothing else escapes.
import { describe, expect, it } from 'vitest';
import { WanError } from '../../lib/errors.js';
import { FUZZ_FILE, type FuzzTarget, Rng, fuzzTarget, loaderFuzzTargets, mutate, runFuzzInput } from '../../lib/model/fuzz-targets.js';

const INPUTS = 3000;
const SEED = 20261205;

describe('loader fuzz (short, fixed seed)', () => {
  for (const target of loaderFuzzTargets()) {
    it(`${target.name}: ${INPUTS} inputs, 0 uncoded exceptions, every rejection coded and naming the file`, () => {
      for (const s of target.seeds) expect(runFuzzInput(target, s)).toEqual({ kind: 'accepted' });
      const stats = fuzzTarget(target, INPUTS, SEED);
      expect(stats.crashSamples).toEqual([]);
      expect(stats.crashes).toBe(0);
      expect(stats.inputs).toBe(INPUTS);
      // Not a degenerate run: mutations both keep some inputs valid and break most.
      expect(stats.accepted).toBeGreaterThan(0);
      expect(stats.rejected.E_MODEL_FORMAT).toBeGreaterThan(INPUTS / 2);
      expect(stats.accepted + Object.values(stats.rejected).reduce((a, b) => a + b, 0)).toBe(INPUTS);
    });
  }

  it('the same seed gives the same inputs', () => {
    const [t] = loaderFuzzTargets();
    const a = new Rng(7);
    const b = new Rng(7);
    for (let i = 0; i < 50; i++) expect(mutate(t, t.seeds[0], a)).toEqual(mutate(t, t.seeds[0], b));
  });

  it('counts as crashes an uncoded exception and a coded error that does not name the file', () => {
    const base: FuzzTarget = { name: 'broken', file: FUZZ_FILE, seeds: [new Uint8Array(1)], run: () => undefined };
    const typeError = runFuzzInput({ ...base, run: (b) => void (b as unknown as { x: { y: number } }).x.y }, new Uint8Array(1));
    expect(typeError).toMatchObject({ kind: 'crash', error: expect.stringMatching(/^TypeError/) });
    const unnamed = runFuzzInput({ ...base, run: () => { throw new WanError('E_MODEL_FORMAT', 'bad'); } }, new Uint8Array(1));
    expect(unnamed).toMatchObject({ kind: 'crash', error: expect.stringContaining('not naming the file') });
    const stats = fuzzTarget({ ...base, run: (b) => { if (b.length > 3) throw new RangeError('boom'); } }, 500, 1);
    expect(stats.crashes).toBeGreaterThan(0);
    expect(stats.crashSamples[0].error).toBe('RangeError: boom');
  });
});
