// The canonical request, the per-model defaults table, the normaliser (rounding, seeds, auto-detection)
// and the zod-issue formatter.
import { describe, expect, it } from 'vitest';
import { onlyIssue, refused } from '../helpers/requests.js';
import { z } from 'zod';
import { WanError } from '../../lib/errors.js';
import { intIn } from '../../lib/schemas/fields.js';
import { describeValue, formatPath, zodToRequestError } from '../../lib/schemas/issues.js';
import { detectApi, normalizeRequest, roundFrames, roundSize, seedsFor } from '../../lib/schemas/normalize.js';
import {
  defaultsFor,
  GenerateRequestSchema,
  MODEL_VARIANTS,
  shiftFor,
  WAN21_FLF2V_NEGATIVE_PROMPT,
  WAN21_I2V_NEGATIVE_PROMPT,
  WAN_DEFAULT_NEGATIVE_PROMPT,
} from '../../lib/schemas/request.js';
import { MAX_STEPS } from '../../lib/schemas/limits.js';

// ---- helpers (kept in this file: only schemas*.test.ts files belong to this area) ----


function withField(obj: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const copy = structuredClone(obj);
  const keys = path.replace(/\[(\d+)\]/g, '.$1').split('.');
  let o: Record<string, unknown> = copy;
  for (const k of keys.slice(0, -1)) {
    if (o[k] === undefined) o[k] = {};
    o = o[k] as Record<string, unknown>;
  }
  o[keys[keys.length - 1]] = value;
  return copy;
}

const canonical = (x: unknown) => normalizeRequest(x, { api: 'canonical', randomSeed: () => 5n });
const PNG = 'data:image/png;base64,iVBORw0KGgo=';

// ------------------------------------------------------------------------------------------------
describe('canonical request', () => {
  it('the default negative prompt is the official Wan one, byte for byte', () => {
    expect(WAN_DEFAULT_NEGATIVE_PROMPT).toBe(
      '色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走',
    );
    expect(WAN21_I2V_NEGATIVE_PROMPT).toBe(`镜头晃动，${WAN_DEFAULT_NEGATIVE_PROMPT}`);
    expect(WAN21_FLF2V_NEGATIVE_PROMPT).toBe(`镜头切换，镜头晃动，${WAN_DEFAULT_NEGATIVE_PROMPT}`);
  });

  it('fills only the model-independent defaults (fps and the negative prompt are the model\'s: defaultsFor)', () => {
    expect(GenerateRequestSchema.parse({ prompt: 'a cat' })).toEqual({
      prompt: 'a cat',
      scheduler: 'unipc',
      output: { format: 'mp4', writeMode: 'balanced' },
      numberResults: 1,
    });
  });

  it('accepts a full request', () => {
    const rgb = { data: new Uint8Array(2 * 3 * 3), width: 2, height: 3 };
    const { request, warnings, api } = canonical({
      prompt: 'two cats boxing',
      negativePrompt: '',
      width: 832,
      height: 480,
      numFrames: 81,
      fps: 16,
      steps: 40,
      guidanceScale: 4,
      guidanceScale2: 3,
      shift: 12,
      seed: '18446744073709551615',
      scheduler: 'dpm++2m',
      boundaryRatio: 0.875,
      image: rgb,
      lastImage: PNG,
      loras: [{ path: '/l/high.safetensors', transformer: 'high' }],
      cache: { kind: 'fbcache', threshold: 0.1, startPercent: 10, endPercent: 90, maxConsecutive: 2 },
      output: { format: 'contact-sheet', quality: 90, writeMode: 'small' },
      numberResults: 3,
    });
    expect(api).toBe('canonical');
    expect(warnings).toEqual([]);
    expect(request).toEqual({
      prompt: 'two cats boxing',
      negativePrompt: '',
      width: 832,
      height: 480,
      numFrames: 81,
      fps: 16,
      steps: 40,
      guidanceScale: 4,
      guidanceScale2: 3,
      shift: 12,
      seed: 18446744073709551615n,
      scheduler: 'dpm++2m',
      boundaryRatio: 0.875,
      image: rgb,
      lastImage: PNG,
      loras: [{ path: '/l/high.safetensors', weight: 1, transformer: 'high' }],
      cache: { kind: 'fbcache', threshold: 0.1, startPercent: 10, endPercent: 90, maxConsecutive: 2 },
      output: { format: 'contact-sheet', quality: 90, writeMode: 'small' },
      numberResults: 3,
    });
    expect(seedsFor(request)).toEqual([18446744073709551615n, 0n, 1n]);
  });

  it('enforces its ranges, naming the field path', () => {
    const base = { prompt: 'a cat', steps: 40, loras: [{ path: '/a.safetensors' }], cache: { kind: 'teacache' } };
    const cases: Array<{ field: string; inside: unknown[]; outside: unknown[]; allowed: string }> = [
      { field: 'width', inside: [16, 4096], outside: [15, 4097, 100.5], allowed: 'an integer from 16 to 4096' },
      { field: 'height', inside: [16, 4096], outside: [15, 4097], allowed: 'an integer from 16 to 4096' },
      { field: 'numFrames', inside: [1, 1025], outside: [0, 1026], allowed: 'an integer from 1 to 1025' },
      { field: 'fps', inside: [1, 120], outside: [0, 121], allowed: 'an integer from 1 to 120' },
      { field: 'steps', inside: [1, MAX_STEPS], outside: [0, MAX_STEPS + 1], allowed: `an integer from 1 to ${MAX_STEPS}` },
      { field: 'guidanceScale', inside: [0, 50], outside: [-0.5, 50.5], allowed: 'a number from 0 to 50' },
      { field: 'guidanceScale2', inside: [0, 50], outside: [-0.5, 50.5], allowed: 'a number from 0 to 50' },
      { field: 'shift', inside: [0.01, 100], outside: [0, 100.5], allowed: 'a number greater than 0 and at most 100' },
      { field: 'boundaryRatio', inside: [0, 1], outside: [-0.1, 1.1], allowed: 'a number from 0 to 1' },
      { field: 'numberResults', inside: [1, 20], outside: [0, 21], allowed: 'an integer from 1 to 20' },
      { field: 'scheduler', inside: ['euler', 'unipc'], outside: ['ddim'], allowed: 'one of "unipc", "dpm++2m", "euler"' },
      { field: 'output.quality', inside: [20, 99], outside: [19, 100], allowed: 'an integer from 20 to 99' },
      { field: 'output.format', inside: ['webm', 'png'], outside: ['gif'], allowed: 'one of "mp4", "webm", "mov", "png", "contact-sheet"' },
      { field: 'output.writeMode', inside: ['fast'], outside: ['slow'], allowed: 'one of "fast", "balanced", "small"' },
      { field: 'loras[0].weight', inside: [-4, 4], outside: [-4.5, 4.5], allowed: 'a number from -4 to 4' },
      { field: 'loras[0].transformer', inside: ['low'], outside: ['mid'], allowed: 'one of "high", "low", "both"' },
      { field: 'cache.kind', inside: ['fbcache'], outside: ['deepcache'], allowed: 'one of "teacache", "fbcache", "dbcache"' },
      { field: 'cache.threshold', inside: [0, 1], outside: [-0.1, 1.1], allowed: 'a number from 0 to 1' },
      { field: 'cache.maxConsecutive', inside: [1, 5], outside: [0, 6], allowed: 'an integer from 1 to 5' },
      { field: 'cache.startPercent', inside: [0, 99], outside: [-1, 100], allowed: 'an integer from 0 to 99' },
      { field: 'cache.endPercent', inside: [1, 100], outside: [0, 101], allowed: 'an integer from 1 to 100' },
      { field: 'cache.endStep', inside: [1, 40], outside: [41], allowed: 'an integer from startStep + 1 to steps (40)' },
      { field: 'cache.startStep', inside: [0, 39], outside: [41], allowed: 'an integer from 0 to steps (40)' },
    ];
    for (const c of cases) {
      for (const v of c.inside) expect(() => canonical(withField(base, c.field, v)), `${c.field} = ${describeValue(v)}`).not.toThrow();
      for (const v of c.outside) {
        const e = refused(() => canonical(withField(base, c.field, v)));
        expect(e.code, `${c.field} = ${describeValue(v)}`).toBe('E_INVALID_ARGUMENT');
        const issue = onlyIssue(e, c.field);
        expect([issue.kind, issue.value, issue.expected]).toEqual(['invalid', v, c.allowed]);
        expect(e.message).toBe(`Invalid wan-video request: ${c.field} = ${describeValue(v)} is not allowed: expected ${c.allowed}`);
      }
    }
  });

  it('DBCache settings: their ranges, and only with kind "dbcache"', () => {
    const base = { prompt: 'a cat', steps: 40, cache: { kind: 'dbcache' } };
    const cases: Array<{ field: string; inside: unknown[]; outside: unknown[]; allowed: string }> = [
      { field: 'cache.fnBlocks', inside: [1, 64], outside: [0, 65, 1.5], allowed: 'an integer from 1 to 64' },
      { field: 'cache.bnBlocks', inside: [0, 64], outside: [-1, 65], allowed: 'an integer from 0 to 64' },
      { field: 'cache.warmupSteps', inside: [0, 1000], outside: [-1, 1001], allowed: 'an integer from 0 to 1000' },
      { field: 'cache.warmupInterval', inside: [1, 1000], outside: [0, 1001], allowed: 'an integer from 1 to 1000' },
      { field: 'cache.maxCachedSteps', inside: [0, 1000], outside: [-1, 1001], allowed: 'an integer from 0 to 1000' },
    ];
    for (const c of cases) {
      for (const v of c.inside) expect(() => canonical(withField(base, c.field, v)), `${c.field} = ${describeValue(v)}`).not.toThrow();
      for (const v of c.outside) expect(onlyIssue(refused(() => canonical(withField(base, c.field, v))), c.field).expected).toBe(c.allowed);
    }
    const full = { kind: 'dbcache', threshold: 0.12, fnBlocks: 4, bnBlocks: 2, warmupSteps: 3, warmupInterval: 2, maxCachedSteps: 10, maxConsecutive: 2 };
    expect(canonical({ prompt: 'p', cache: full }).request.cache).toEqual(full);
    const fb = refused(() => canonical({ prompt: 'p', cache: { kind: 'fbcache', fnBlocks: 2 } }));
    expect(onlyIssue(fb, 'cache.fnBlocks').expected).toBe('fnBlocks with kind "dbcache" (a DBCache setting)');
    expect(onlyIssue(refused(() => canonical({ prompt: 'p', cache: { kind: 'dbcache', level: 0.5 } })), 'cache.level').expected).toBe(
      'level with kind "teacache" (DBCache takes a threshold)',
    );
  });

  it('seeds: a safe integer, a bigint or a digit string, 0 to 2^64 - 1', () => {
    const seed = (s: unknown) => canonical({ prompt: 'p', seed: s }).request.seed;
    expect([seed(0), seed(2 ** 53 - 1), seed(2n ** 64n - 1n), seed('123')]).toEqual([0n, 2n ** 53n - 1n, 2n ** 64n - 1n, 123n]);
    const range = 'an integer from 0 to 18446744073709551615 (a number, a bigint, or a string of digits)';
    for (const bad of [-1, 1.5, 2n ** 64n, '18446744073709551616', '-3', 2 ** 53]) {
      expect(onlyIssue(refused(() => canonical({ prompt: 'p', seed: bad })), 'seed').expected).toBe(range);
    }
  });

  it('prompt must hold something', () => {
    for (const p of ['', '   ']) {
      expect(refused(() => canonical({ prompt: p })).message).toBe(`Invalid wan-video request: prompt = ${JSON.stringify(p)} is not allowed: expected a non-empty string`);
    }
    expect(refused(() => canonical({ seed: 1 })).message).toBe('Invalid wan-video request: prompt is missing: expected a non-empty string');
  });

  it('images: path, URL, data URI, base64 or raw RGB; other strings refused by name', () => {
    expect(canonical({ prompt: 'p', image: '/frames/first.png' }).request.image).toBe('/frames/first.png');
    expect(canonical({ prompt: 'p', image: 'https://example.com/a.png' }).request.image).toBe('https://example.com/a.png');
    expect(canonical({ prompt: 'p', image: 'iVBORw0KGgoAAAANSUhEUg==' }).request.image).toBe('iVBORw0KGgoAAAANSUhEUg==');
    expect(canonical({ prompt: 'p', image: PNG }).request.image).toBe(PNG);
    expect(onlyIssue(refused(() => canonical({ prompt: 'p', image: 'data:text/plain;base64,AAAA' })), 'image').expected).toBe(
      'a data URI of the form data:image/png|jpeg|webp;base64,<data>',
    );
    expect(onlyIssue(refused(() => canonical({ prompt: 'p', image: 'data:image/png;base64,!!!' })), 'image').expected).toBe('a data URI whose body is base64');
    expect(onlyIssue(refused(() => canonical({ prompt: 'p', image: 'ftp://example.com/a.png' })), 'image').expected).toMatch(/the scheme ftp: is not read/);
    expect(onlyIssue(refused(() => canonical({ prompt: 'p', image: ' ' })), 'image').kind).toBe('invalid');
    const raw = refused(() => canonical({ prompt: 'p', image: { data: new Uint8Array(5), width: 2, height: 1 } }));
    expect(onlyIssue(raw, 'image.data').expected).toBe('width x height x 3 = 6 bytes of RGB (got 5)');
    expect(onlyIssue(refused(() => canonical({ prompt: 'p', lastImage: PNG })), 'lastImage').expected).toBe(
      'lastImage together with image (a last frame needs a first frame)',
    );
  });

  it('cache window: steps or percent, end after start', () => {
    expect(onlyIssue(refused(() => canonical({ prompt: 'p', cache: { kind: 'teacache', startStep: 2, endPercent: 90 } })), 'cache.endPercent').expected).toBe(
      'either startStep/endStep or startPercent/endPercent, not both',
    );
    expect(onlyIssue(refused(() => canonical({ prompt: 'p', cache: { kind: 'teacache', startStep: 5, endStep: 5 } })), 'cache.endStep').expected).toBe(
      'an integer greater than startStep (5)',
    );
  });

  it('refuses unknown fields by name', () => {
    const e = refused(() => canonical({ prompt: 'p', guidance: 5, output: { format: 'mp4', crf: 18 } }));
    expect(e.issues.map((i) => [i.field, i.kind])).toEqual([
      ['output.crf', 'unknown-field'],
      ['guidance', 'unknown-field'],
    ]);
    expect(e.message).toBe(
      'Invalid wan-video request: unknown field "output.crf" (not a field of the wan-video request); unknown field "guidance" (not a field of the wan-video request)',
    );
  });
});

// ------------------------------------------------------------------------------------------------
describe('defaultsFor', () => {
  it('carries the reference defaults of every variant', () => {
    const row = (v: (typeof MODEL_VARIANTS)[number]) => {
      const d = defaultsFor(v);
      return [v, `${d.width}x${d.height}`, d.numFrames, d.fps, d.steps, d.guidanceScale, d.guidanceScale2, d.shift, d.boundaryRatio, d.vaeScale.spatial];
    };
    expect(MODEL_VARIANTS.map(row)).toEqual([
      ['wan2.1-t2v-1.3b', '832x480', 81, 16, 50, 5, undefined, 5, undefined, 8],
      ['wan2.1-t2v-14b', '1280x720', 81, 16, 50, 5, undefined, 5, undefined, 8],
      ['wan2.1-i2v-14b', '1280x720', 81, 16, 40, 5, undefined, 5, undefined, 8],
      ['wan2.1-flf2v-14b', '1280x720', 81, 16, 50, 5, undefined, 16, undefined, 8],
      ['wan2.2-t2v-a14b', '1280x720', 81, 16, 40, 4, 3, 12, 0.875, 8],
      ['wan2.2-i2v-a14b', '1280x720', 81, 16, 40, 3.5, 3.5, 5, 0.9, 8],
      ['wan2.2-ti2v-5b', '1280x704', 121, 24, 50, 5, undefined, 5, undefined, 16],
      ['custom', '832x480', 81, 16, 50, 5, undefined, 3, undefined, 8],
    ]);
    expect(defaultsFor('wan2.1-i2v-14b').negativePrompt).toBe(WAN21_I2V_NEGATIVE_PROMPT);
    expect(defaultsFor('wan2.1-flf2v-14b').negativePrompt).toBe(WAN21_FLF2V_NEGATIVE_PROMPT);
    expect(defaultsFor('wan2.2-t2v-a14b').negativePrompt).toBe(WAN_DEFAULT_NEGATIVE_PROMPT);
    expect(defaultsFor('wan2.2-ti2v-5b').supportedSizes).toEqual([[1280, 704], [704, 1280]]);
  });

  it('Wan2.1 I2V uses shift 3 at 480p, 5 otherwise', () => {
    expect([shiftFor('wan2.1-i2v-14b', 832, 480), shiftFor('wan2.1-i2v-14b', 480, 832), shiftFor('wan2.1-i2v-14b', 1280, 720), shiftFor('wan2.1-flf2v-14b', 832, 480)]).toEqual([3, 3, 5, 16]);
  });

  it('returns a copy, and refuses an unknown variant', () => {
    const d = defaultsFor('wan2.1-t2v-14b');
    d.steps = 1;
    expect(defaultsFor('wan2.1-t2v-14b').steps).toBe(50);
    expect(() => defaultsFor('wan3' as never)).toThrow(WanError);
    expect(() => defaultsFor('toString' as never)).toThrow(/unknown model variant "toString"/);
  });
});

// ------------------------------------------------------------------------------------------------
describe('normalizeRequest: rounding', () => {
  it('frames go to 4k+1 the way diffusers does', () => {
    expect([1, 2, 4, 5, 79, 80, 81, 82, 83, 84, 85, 120].map((n) => roundFrames(n))).toEqual([1, 1, 5, 5, 77, 81, 81, 81, 81, 85, 85, 121]);
    const { request, warnings } = canonical({ prompt: 'p', numFrames: 80, seed: 1 });
    expect(request.numFrames).toBe(81);
    expect(warnings).toEqual([
      "numFrames: 80 frames is not 4k+1 (the VAE packs 4 frames per latent after the first); using 81, as diffusers' WanPipeline rounds (num_frames // 4 * 4 + 1)",
    ]);
    expect(canonical({ prompt: 'p', numFrames: 81, seed: 1 }).warnings).toEqual([]);
  });

  it('sizes are floored to VAE x patch multiples', () => {
    expect([roundSize(1000, 16), roundSize(720, 32), roundSize(1280, 32), roundSize(31, 32)]).toEqual([992, 704, 1280, 0]);
    const { request, warnings } = canonical({ prompt: 'p', width: 1000, height: 481, seed: 1 });
    expect([request.width, request.height]).toEqual([992, 480]);
    expect(warnings).toEqual([
      "height: height 481 is not a multiple of 16 (VAE 8 x patch 2); using 480, rounded down as diffusers' WanPipeline does",
      "width: width 1000 is not a multiple of 16 (VAE 8 x patch 2); using 992, rounded down as diffusers' WanPipeline does",
    ]);
  });

  it('the Wan2.2 TI2V VAE (16) rounds 720 to 704, with the API field names', () => {
    const ti2v = { vaeScale: { spatial: 16, temporal: 4 }, patch: [1, 2, 2], randomSeed: () => 9n } as const;
    const c = normalizeRequest({ prompt: 'p', width: 1280, height: 720 }, ti2v);
    expect([c.request.width, c.request.height]).toEqual([1280, 704]);
    expect(c.warnings[0]).toBe("height: height 720 is not a multiple of 32 (VAE 16 x patch 2); using 704, rounded down as diffusers' WanPipeline does");
    const f = normalizeRequest({ prompt: 'p', resolution: '720p', interpolator_model: 'none', seed: 3 }, ti2v);
    expect([f.request.width, f.request.height]).toEqual([1280, 704]);
    expect(f.warnings).toEqual([
      "resolution/aspect_ratio (height): height 720 is not a multiple of 32 (VAE 16 x patch 2); using 704, rounded down as diffusers' WanPipeline does",
    ]);
    const small = refused(() => normalizeRequest({ prompt: 'p', width: 16, height: 480 }, ti2v));
    expect(small.message).toBe('Invalid wan-video request: width = 16 is not allowed: expected at least 32 (the VAE\'s 16 x the patch\'s 2)');
  });

  it('a cache window past the steps is refused in the user\'s names', () => {
    const e = refused(() => normalizeRequest({ positivePrompt: 'ab', duration: 5, acceleratorOptions: { teaCache: true, cacheEndStep: 30 }, steps: 20 }));
    expect(onlyIssue(e, 'acceleratorOptions.cacheEndStep').expected).toBe('an integer from cacheStartStep + 1 to steps (20)');
  });
});

// ------------------------------------------------------------------------------------------------
describe('normalizeRequest: seeds', () => {
  it('draws and reports a seed when none is given', () => {
    const { request, warnings } = normalizeRequest({ prompt: 'p' }, { randomSeed: () => 1234n });
    expect(request.seed).toBe(1234n);
    expect(warnings).toEqual(['seed: not given; using random seed 1234 (pass it to reproduce this video)']);
    const drawn = normalizeRequest({ prompt: 'p' }).request.seed;
    expect(drawn >= 0n && drawn < 2n ** 63n).toBe(true);
  });

  it('one seed per result, consecutive, wrapping at 2^64', () => {
    expect(seedsFor({ seed: 7n, numberResults: 3 })).toEqual([7n, 8n, 9n]);
    expect(seedsFor({ seed: 2n ** 64n - 2n, numberResults: 3 })).toEqual([2n ** 64n - 2n, 2n ** 64n - 1n, 0n]);
    const r = normalizeRequest({ positivePrompt: 'ab', duration: 1, seed: 100, numberResults: 4 }).request;
    expect(seedsFor(r)).toEqual([100n, 101n, 102n, 103n]);
  });
});

// ------------------------------------------------------------------------------------------------
describe('normalizeRequest: auto-detection', () => {
  it('tells the shape by characteristic fields', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ positivePrompt: 'ab', duration: 5 }, 'runware'],
      [{ taskType: 'videoInference', positivePrompt: 'ab', duration: 5 }, 'runware'],
      [{ prompt: 'p', num_inference_steps: 30, run_fast: true }, 'oxen'],
      [{ prompt: 'p', run_fast: false }, 'oxen'],
      [{ prompt: 'p', resolution: '480p' }, 'fal'],
      [{ prompt: 'p', aspect_ratio: '9:16' }, 'fal'],
      [{ prompt: 'p', frames_per_second: 24 }, 'fal'],
      [{ prompt: 'p', num_inference_steps: 30, enable_safety_checker: false }, 'fal'],
      [{ prompt: 'p', num_frames: 81 }, 'oxen'],
      [{ prompt: 'p', numFrames: 81, shift: 5 }, 'canonical'],
      [{ prompt: 'p' }, 'canonical'],
    ];
    expect(cases.map(([input]) => detectApi(input))).toEqual(cases.map(([, api]) => api));
    for (const [input, api] of cases) {
      if (api === 'runware' || api === 'canonical') expect(normalizeRequest(input, { randomSeed: () => 1n }).api).toBe(api);
    }
    expect(normalizeRequest({ prompt: 'p', resolution: '480p', interpolator_model: 'none' }, { randomSeed: () => 1n }).request.width).toBe(832);
  });

  it('an explicit api overrides detection', () => {
    const e = refused(() => normalizeRequest({ prompt: 'p', resolution: '480p' }, { api: 'canonical' }));
    expect(onlyIssue(e, 'resolution').kind).toBe('unknown-field');
    expect(normalizeRequest({ prompt: 'p', num_frames: 81 }, { api: 'fal', randomSeed: () => 1n }).api).toBe('fal');
  });

  it('refuses what is not a request', () => {
    for (const bad of [null, 'a cat', [{ prompt: 'p' }], 5]) {
      const e = (() => {
        try {
          normalizeRequest(bad);
        } catch (err) {
          return err as WanError;
        }
        throw new Error('expected a refusal');
      })();
      expect(e).toBeInstanceOf(WanError);
      expect(e.code).toBe('E_INVALID_ARGUMENT');
    }
    expect(() => normalizeRequest({ prompt: 'p' }, { api: 'replicate' as never })).toThrow(
      'api = "replicate" is not allowed: expected one of "auto", "canonical", "oxen", "fal", "runware"',
    );
  });
});

// ------------------------------------------------------------------------------------------------
describe('zod issues -> WanError', () => {
  it('formats paths as written', () => {
    expect(formatPath(['acceleratorOptions', 'cacheMaxConsecutiveSteps'])).toBe('acceleratorOptions.cacheMaxConsecutiveSteps');
    expect(formatPath(['lora', 0, 'weight'])).toBe('lora[0].weight');
    expect(formatPath(['inputs', 'frameImages', 1])).toBe('inputs.frameImages[1]');
  });

  it('names the field, the value and the range; renames mapped fields', () => {
    const schema = z.strictObject({ a: z.strictObject({ n: intIn(1, 5) }) });
    const input = { a: { n: 9 } };
    const r = schema.safeParse(input);
    expect(r.success).toBe(false);
    const e = zodToRequestError(r.error!, { api: 'runware', input });
    expect(e).toBeInstanceOf(WanError);
    expect(e.code).toBe('E_INVALID_ARGUMENT');
    expect(e.field).toBe('a.n');
    expect(e.message).toBe('Invalid Runware videoInference request: a.n = 9 is not allowed: expected an integer from 1 to 5');
    const renamed = zodToRequestError(r.error!, { api: 'runware', input, fields: { 'a.n': 'acceleratorOptions.cacheMaxConsecutiveSteps' } });
    expect(renamed.message).toBe('Invalid Runware videoInference request: acceleratorOptions.cacheMaxConsecutiveSteps = 9 is not allowed: expected an integer from 1 to 5');
    expect(zodToRequestError(r.error!, { api: 'fal', input, fields: { a: 'outer' } }).field).toBe('outer.n');
  });

  it('shows values briefly', () => {
    expect([describeValue('x'), describeValue(3n), describeValue(new Uint8Array(4)), describeValue({ a: 1 }), describeValue('y'.repeat(100))]).toEqual([
      '"x"', '3', 'Uint8Array(4)', '{"a":1}', `"${'y'.repeat(76)}...`,
    ]);
  });
});
