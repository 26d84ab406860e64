// The bf16 tolerance table (lib/conformance/tolerances.ts): every fixture family has a stated
// precision, the bounds follow the derivation, and the CPU keeps the manifest's tolerance.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import type { CaseManifest } from '../../lib/conformance/manifest.js';
import { BF16_MARGIN, bf16Bound, caseTolerance, E_PRODUCT, FAMILY_PRECISION } from '../../lib/conformance/tolerances.js';
import { fixturesRoot, haveFixtures, repoFixturesRoot } from '../helpers/paths.js';

const manifest = (relL2: number) => ({ tolerance: { rel_l2: relL2 } }) as CaseManifest;

describe('bf16 conformance tolerances', () => {
  const familiesOf = (root: string) => readdirSync(join(root, 'cases'), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  const unstated = (families: string[]) => families.filter((f) => !(f in FAMILY_PRECISION));

  it.runIf(haveFixtures)('states every family of the public fixtures', () => {
    const families = familiesOf(fixturesRoot);
    expect(families.length).toBeGreaterThan(5);
    expect(unstated(families), 'families without a bf16 tolerance in lib/conformance/tolerances.ts').toEqual([]);
  });

  it("states every family of the repository's own fixtures (the device check runs them on CUDA too)", () => {
    const families = familiesOf(repoFixturesRoot);
    expect(families).toEqual(expect.arrayContaining(['dbcache', 'gguf-blocks', 'i2v', 'rife']));
    expect(unstated(families), 'families without a bf16 tolerance in lib/conformance/tolerances.ts').toEqual([]);
  });

  it('derives each bf16 bound from the product error, the depth and the amplification', () => {
    for (const [family, p] of Object.entries(FAMILY_PRECISION)) {
      expect(p.derivation, family).toMatch(/\S/);
      if (p.precision === 'f32') {
        expect(bf16Bound(p), family).toBe(0);
        continue;
      }
      expect(p.products, family).toBeGreaterThan(0);
      expect(bf16Bound(p)).toBeCloseTo(BF16_MARGIN * E_PRODUCT * (p.amplification ?? 1) * Math.sqrt(p.products!), 12);
    }
    // A transformer of 2 layers: 24 products in series -> 2 x 2.1e-3 x sqrt(24) ~ 2.06e-2.
    expect(bf16Bound(FAMILY_PRECISION.dit)).toBeCloseTo(2.06e-2, 3);
  });

  it('keeps the manifest tolerance on the CPU, and never goes below it on CUDA', () => {
    expect(caseTolerance('dit', manifest(1e-4), 'cpu')).toBe(1e-4);
    expect(caseTolerance('dit', manifest(1e-4), 'cuda')).toBe(bf16Bound(FAMILY_PRECISION.dit));
    expect(caseTolerance('dit', manifest(0.5), 'cuda')).toBe(0.5);
    expect(caseTolerance('tokenizer', manifest(0), 'cuda')).toBe(0);
    expect(caseTolerance('rng', manifest(1e-6), 'cuda')).toBe(1e-6);
  });

  it('refuses a CUDA run of a family the table does not state, naming the table', () => {
    expect(() => caseTolerance('no-such-family', manifest(1e-4), 'cuda')).toThrow(/no bf16 tolerance .*no-such-family.*tolerances\.ts/);
    expect(caseTolerance('no-such-family', manifest(1e-4), 'cpu')).toBe(1e-4);
  });
});
