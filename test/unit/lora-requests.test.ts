// LoRA and fast-mode fields of the canonical request and of the hosted-API adapters.
import { describe, expect, it } from 'vitest';

import { LIGHTX2V_4STEP, fastSampling } from '../../lib/lora/fast.js';
import { fromFal } from '../../lib/schemas/adapters/fal.js';
import { fromOxen } from '../../lib/schemas/adapters/oxen.js';
import { normalizeRequest } from '../../lib/schemas/normalize.js';
import { onlyIssue, refused } from '../helpers/requests.js';

const canonical = (x: unknown) => normalizeRequest(x, { api: 'canonical', randomSeed: () => 1n });

describe('LoRA request fields', () => {
  it('refuses a LoRA URL as not supported, naming the field', () => {
    const e = refused(() => canonical({ prompt: 'p', loras: [{ path: '/a.safetensors' }, { path: 'https://hf.co/x.safetensors' }] }));
    expect(e.code).toBe('E_UNSUPPORTED');
    expect(onlyIssue(e, 'loras[1].path').expected).toContain('LoRAs are not downloaded');
    expect(onlyIssue(refused(() => canonical({ prompt: 'p', fast: { high: 'http://x/h.safetensors', low: '/l' } })), 'fast.high').kind).toBe('unsupported');
  });

  it('takes fast as true, false or a {high, low} pair', () => {
    expect(canonical({ prompt: 'p', fast: true }).request.fast).toBe(true);
    expect(canonical({ prompt: 'p', fast: { high: '/h', low: '/l' } }).request.fast).toEqual({ high: '/h', low: '/l' });
    expect(refused(() => canonical({ prompt: 'p', fast: { high: '/h' } })).issues[0].field).toBe('fast');
  });

  it('maps fal loras (scale -> weight) with fal field names in messages', () => {
    const valid = { prompt: 'p', interpolator_model: 'none' };
    const r = fromFal({ ...valid, loras: [{ path: '/style.safetensors', scale: 0.6, transformer: 'low' }, { path: '/b.safetensors' }] });
    expect(r.request.loras).toEqual([
      { path: '/style.safetensors', weight: 0.6, transformer: 'low' },
      { path: '/b.safetensors', weight: 1, transformer: 'both' },
    ]);
    expect(r.warnings).toContain('loras[1].transformer not given: the LoRA is applied to both experts');
    const e = refused(() => fromFal({ ...valid, loras: [{ path: '/a.safetensors', scale: 5 }] }));
    expect(onlyIssue(e, 'loras[0].scale').expected).toBe('a number from -4 to 4');
    expect(refused(() => fromFal({ ...valid, loras: [{ path: '/a', weight_name: 'x.safetensors' }] })).code).toBe('E_UNSUPPORTED');
  });

  it("maps Oxen's run_fast to fast mode (with the step cache as the fallback)", () => {
    const r = fromOxen({ prompt: 'p', run_fast: true }).request;
    expect(r.fast).toBe(true);
    expect(r.cache).toEqual({ kind: 'teacache' });
    expect(fromOxen({ prompt: 'p', run_fast: false }).request.fast).toBeUndefined();
  });

  it("reproduces lightx2v's 4-step schedule", () => {
    const s = fastSampling();
    expect(s.sigmas.map((x) => Math.round(x * 1e6) / 1e6)).toEqual([1, 0.9375, 0.833333, 0.625]);
    expect([s.steps, s.guidanceScale, s.guidanceScale2, s.shift, s.scheduler]).toEqual([4, 1, 1, 5, 'euler']);
    expect(s.boundaryTimestep).toBeLessThan(937.5);
    expect(s.boundaryTimestep).toBeGreaterThan(833.34);
    expect(LIGHTX2V_4STEP.boundaryStepIndex).toBe(2);
  });
});
