// Which TeaCache fit, threshold and window a request gets for the loaded model.
import { describe, expect, it } from 'vitest';

import { DBCACHE_DEFAULTS, FBCACHE_DEFAULT_THRESHOLD, TEACACHE_FITS, resolveStepCache, teaCacheFitFor } from '../../lib/pipeline/step-cache.js';
import { RequestError } from '../../lib/schemas/issues.js';
import type { TransformerShape } from '../../lib/pipeline/step-cache.js';

const model = (variant: TransformerShape['variant'], dim = 5120, inChannels = 16): TransformerShape => ({ variant, dim, inChannels, latentChannels: 16 });

describe('teaCacheFitFor', () => {
  it('uses the published fit of each Wan2.1 model, I2V by resolution', () => {
    expect(teaCacheFitFor(model('wan2.1-t2v-1.3b', 1536), 832, 480)).toEqual({ fit: 't2v-1.3b', fitted: true });
    expect(teaCacheFitFor(model('wan2.1-t2v-14b'), 1280, 720)).toEqual({ fit: 't2v-14b', fitted: true });
    expect(teaCacheFitFor(model('wan2.1-i2v-14b', 5120, 36), 832, 480)).toEqual({ fit: 'i2v-480p', fitted: true });
    expect(teaCacheFitFor(model('wan2.1-i2v-14b', 5120, 36), 1280, 720)).toEqual({ fit: 'i2v-720p', fitted: true });
  });

  it('borrows a Wan2.1 fit for Wan2.2 and says it was not fitted', () => {
    expect(teaCacheFitFor(model('wan2.2-t2v-a14b'), 1280, 720)).toEqual({ fit: 't2v-14b', fitted: false });
    expect(teaCacheFitFor(model('wan2.2-i2v-a14b', 5120, 36), 832, 480)).toEqual({ fit: 'i2v-480p', fitted: false });
    expect(teaCacheFitFor(model('wan2.2-ti2v-5b', 3072, 48), 1280, 704).fitted).toBe(false);
    expect(teaCacheFitFor(model('custom', 64), 32, 32)).toEqual({ fit: 't2v-1.3b', fitted: false });
  });
});

describe('resolveStepCache', () => {
  const size = { width: 832, height: 480, steps: 50 };

  it('TeaCache: the fit of the model, its conservative threshold, first and last step computed', () => {
    const r = resolveStepCache({ kind: 'teacache' }, model('wan2.1-t2v-1.3b', 1536), size);
    expect(r.native).toEqual({ kind: 'teacache', threshold: 0.05, startStep: 1, endStep: 49, maxConsecutive: 0, coefficients: TEACACHE_FITS['t2v-1.3b'].e, indicator: 'e' });
    expect(r.warnings).toEqual([]);
    expect(r.summary).toMatch(/TeaCache \(t2v-1\.3b fit\), threshold 0\.05/);
  });

  it('level maps onto the model: 0.5 is the published fast threshold', () => {
    expect(resolveStepCache({ kind: 'teacache', level: 0.5 }, model('wan2.1-t2v-14b'), size).native.threshold).toBeCloseTo(0.2);
    expect(resolveStepCache({ kind: 'teacache', level: 0.5 }, model('wan2.1-t2v-1.3b', 1536), size).native.threshold).toBeCloseTo(0.08);
    expect(resolveStepCache({ kind: 'teacache', level: 0 }, model('wan2.1-t2v-1.3b', 1536), size).native.threshold).toBe(0);
  });

  it('windows in steps or percent, and the consecutive bound, pass through', () => {
    expect(resolveStepCache({ kind: 'fbcache', threshold: 0.2, startPercent: 10, endPercent: 90, maxConsecutive: 3 }, model('custom', 64), size).native).toEqual({
      kind: 'fbcache', threshold: 0.2, startStep: 5, endStep: 45, maxConsecutive: 3,
    });
    expect(resolveStepCache({ kind: 'fbcache', startStep: 2, endStep: 20 }, model('custom', 64), size).native).toEqual({
      kind: 'fbcache', threshold: FBCACHE_DEFAULT_THRESHOLD, startStep: 2, endStep: 20, maxConsecutive: 0,
    });
  });

  it('DBCache: cache-dit\'s defaults (F8B0, threshold 0.08, 8 warmup steps, no bounds) for what the request leaves out', () => {
    expect(DBCACHE_DEFAULTS).toEqual({ fnBlocks: 8, bnBlocks: 0, threshold: 0.08, warmupSteps: 8, warmupInterval: 1 });
    const r = resolveStepCache({ kind: 'dbcache' }, { ...model('wan2.1-t2v-14b'), numLayers: 40 }, size);
    expect(r.native).toEqual({
      kind: 'dbcache', threshold: 0.08, startStep: 0, endStep: undefined, maxConsecutive: 0,
      fnBlocks: 8, bnBlocks: 0, warmupSteps: 8, warmupInterval: 1, maxCachedSteps: -1,
    });
    expect(r.summary).toBe('DBCache F8B0, threshold 0.08, 8 warmup steps, steps 0..49 may skip');
    const set = resolveStepCache(
      { kind: 'dbcache', threshold: 0.2, fnBlocks: 4, bnBlocks: 2, warmupSteps: 4, warmupInterval: 2, maxCachedSteps: 10, maxConsecutive: 3, endPercent: 90 },
      { ...model('wan2.1-t2v-14b'), numLayers: 40 }, size,
    );
    expect(set.native).toEqual({
      kind: 'dbcache', threshold: 0.2, startStep: 0, endStep: 45, maxConsecutive: 3,
      fnBlocks: 4, bnBlocks: 2, warmupSteps: 4, warmupInterval: 2, maxCachedSteps: 10,
    });
  });

  it('DBCache: refuses Fn or Bn blocks beyond the block count of the transformer, naming the field', () => {
    const small = { ...model('custom', 64), numLayers: 2 };
    const e = (() => {
      try {
        resolveStepCache({ kind: 'dbcache' }, small, size);
      } catch (err) {
        return err;
      }
      return null;
    })();
    expect(e).toBeInstanceOf(RequestError);
    expect((e as RequestError).code).toBe('E_INVALID_ARGUMENT');
    expect((e as RequestError).issues[0].field).toBe('cache.fnBlocks');
    expect((e as RequestError).message).toMatch(/at most the transformer's 2 blocks/);
    expect(resolveStepCache({ kind: 'dbcache', fnBlocks: 1, bnBlocks: 1 }, small, size).warnings).toEqual([]);
    expect(() => resolveStepCache({ kind: 'dbcache', fnBlocks: 1, bnBlocks: 3 }, small, size)).toThrow(/cache\.bnBlocks/);
    // cache-dit bounds Fn and Bn each, not their sum: overlapping ranges run their blocks twice, with a warning
    const overlap = resolveStepCache({ kind: 'dbcache', fnBlocks: 2, bnBlocks: 1 }, small, size);
    expect(overlap.native).toMatchObject({ fnBlocks: 2, bnBlocks: 1 });
    expect(overlap.warnings[0]).toMatch(/blocks 1\.\.1 run twice/);
  });

  it('warns when the polynomial was not fitted for the model', () => {
    expect(resolveStepCache({ kind: 'teacache' }, model('wan2.2-t2v-a14b'), size).warnings[0]).toMatch(/no polynomial fitted for wan2\.2-t2v-a14b/);
  });
});
