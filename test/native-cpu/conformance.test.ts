// The conformance run over ../shared/fixtures on the CPU backend: any FAIL fails the suite, and the
// transformer cases must actually run (PASS), not be skipped.
import { beforeAll, describe, expect, it } from 'vitest';

import { loadAddon } from '../../lib/bindings/loader.js';
import { listCases, runConformance } from '../../lib/conformance/runner.js';
import type { ConformanceReport } from '../../lib/conformance/types.js';
import { fixturesRoot, haveFixtures } from '../helpers/paths.js';

describe.runIf(haveFixtures)('conformance on the CPU backend', () => {
  let report: ConformanceReport;

  beforeAll(async () => {
    report = await runConformance(fixturesRoot, loadAddon('cpu').addon);
  });

  it('has no failing case', () => {
    const failed = report.cases.filter((c) => c.status === 'fail').map((c) => `${c.case}: ${c.reason}`);
    expect(failed).toEqual([]);
  });

  it('runs every case, and skips only with a reason', async () => {
    expect(report.cases.map((c) => c.case)).toEqual(await listCases(fixturesRoot));
    for (const c of report.cases.filter((r) => r.status === 'skip')) expect(c.reason, c.case).toMatch(/\S/);
  });

  it('passes every dit case and the transformer case of the layout family', () => {
    const transformerCases = report.cases.filter((c) => c.case.startsWith('dit/') || c.case === 'layout/dit-original-keys');
    expect(transformerCases.length).toBeGreaterThanOrEqual(8);
    for (const c of transformerCases) {
      expect(c.status, `${c.case}: ${c.reason ?? ''}`).toBe('pass');
      expect(c.worst).toBeLessThanOrEqual(1e-4);
    }
  });

  it('compares the intermediates a case holds, not only the sample', () => {
    const square = report.cases.find((c) => c.case === 'dit/t2v-tiny-square');
    expect(Object.keys(square?.tensors ?? {}).sort()).toEqual(
      ['out.block0', 'out.patch_embedding', 'out.sample', 'out.temb', 'out.text_embedding', 'out.timestep_proj'].sort(),
    );
    const i2v = report.cases.find((c) => c.case === 'dit/i2v21-tiny');
    expect(i2v?.tensors?.['out.image_embedding']).toBeLessThan(1e-4);
  });

  it('runs the image preprocessing and CLIP vision cases (not skipped) within their tolerance', () => {
    const cases = report.cases.filter((c) => c.case.startsWith('image/') || c.case.startsWith('clip/'));
    expect(cases.filter((c) => c.case.startsWith('image/')).length).toBeGreaterThanOrEqual(4);
    expect(cases.filter((c) => c.case.startsWith('clip/')).length).toBeGreaterThanOrEqual(2);
    for (const c of cases) expect(c.status, `${c.case}: ${c.reason ?? ''}`).toBe('pass');
    // The Pillow-convention resampler lands on the reference's bytes, far inside the 1e-2 bound.
    for (const c of cases.filter((x) => x.case.startsWith('image/'))) expect(c.worst, c.case).toBeLessThan(1e-6);
    for (const c of cases.filter((x) => x.case.startsWith('clip/'))) expect(Object.keys(c.tensors ?? {}).sort(), c.case).toEqual(['out.last_hidden_state', 'out.penultimate']);
  });

  it('runs the step-cache cases and makes the reference skip decisions', () => {
    const cacheCases = report.cases.filter((c) => /fbcache/.test(c.case) || c.case.startsWith('teacache/'));
    expect(cacheCases.length).toBeGreaterThanOrEqual(6);
    for (const c of cacheCases) {
      expect(c.status, `${c.case}: ${c.reason ?? ''}`).toBe('pass');
      // one flipped decision in 24 calls would be a rel_l2 of about 0.2
      expect(c.tensors?.['out.computed']).toBe(0);
    }
    const teacache = cacheCases.filter((c) => c.case.startsWith('teacache/'));
    for (const c of teacache) expect(c.tensors?.['out.computed@original'], c.case).toBe(0);
  });
});

describe('conformance on the repository\'s own cases (test/fixtures)', () => {
  it('runs the Wan2.1 image-to-video input cases (diffusers-generated) and passes them', async () => {
    const { repoRoot } = await import('../helpers/paths.js');
    const { join } = await import('node:path');
    const report = await runConformance(join(repoRoot, 'test', 'fixtures'), loadAddon('cpu').addon, { families: ['i2v'] });
    expect(report.cases.length).toBeGreaterThanOrEqual(2);
    for (const c of report.cases) {
      expect(c.status, `${c.case}: ${c.reason ?? ''}`).toBe('pass');
      expect(Object.keys(c.tensors ?? {}).sort()).toEqual(['out.condition', 'out.image_embeds', 'out.sample']);
    }
  });
});
