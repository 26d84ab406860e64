// The hosted-API adapters: Oxen, fal (Wan2.2 A14B text/image-to-video) and Runware videoInference.
import { describe, expect, it } from 'vitest';
import { onlyIssue, refused } from '../helpers/requests.js';
import { FAL_SIZES, fromFal } from '../../lib/schemas/adapters/fal.js';
import { fromOxen } from '../../lib/schemas/adapters/oxen.js';
import { fromRunware, RUNWARE_SCHEDULERS } from '../../lib/schemas/adapters/runware.js';
import { describeValue } from '../../lib/schemas/issues.js';
import { normalizeRequest } from '../../lib/schemas/normalize.js';
import { WAN_DEFAULT_NEGATIVE_PROMPT } from '../../lib/schemas/request.js';
import { MAX_STEPS } from '../../lib/schemas/limits.js';

// ---- helpers (kept in this file: only schemas*.test.ts files belong to this area) ----


const show = describeValue;

/** Set a path like `a.b`, `a[0].b` in a deep copy. */
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

interface RangeCase {
  field: string;
  inside: unknown[];
  outside: unknown[];
  allowed: string;
}

/** Just-inside values pass; just-outside ones are refused naming the field, the value and the range. */
function checkRanges(base: Record<string, unknown>, adapt: (input: unknown) => unknown, cases: RangeCase[]): void {
  for (const c of cases) {
    for (const v of c.inside) {
      expect(() => adapt(withField(base, c.field, v)), `${c.field} = ${show(v)} should pass`).not.toThrow();
    }
    for (const v of c.outside) {
      const e = refused(() => adapt(withField(base, c.field, v)));
      expect(e.code, `${c.field} = ${show(v)}`).toBe('E_INVALID_ARGUMENT');
      const issue = onlyIssue(e, c.field);
      expect(issue.kind).toBe('invalid');
      expect(issue.value).toEqual(v);
      expect(issue.expected).toBe(c.allowed);
      expect(e.message).toContain(`${c.field} = ${show(v)} is not allowed: expected ${c.allowed}`);
    }
  }
}

const PNG = 'data:image/png;base64,iVBORw0KGgo=';

// ------------------------------------------------------------------------------------------------
describe('Oxen', () => {
  const valid = {
    model: 'wan-ai-wan2-1-t2v-1-3b-diffusers',
    prompt: 'A cat walks on the grass, realistic',
    negative_prompt: 'blurry',
    height: 480,
    width: 832,
    num_inference_steps: 30,
    num_frames: 81,
    guidance_scale: 5,
    seed: 42,
    run_fast: false,
  };

  it('image-to-video: input_image (or diffusers\' image) and last_image, named in errors', () => {
    const one = fromOxen({ prompt: 'p', input_image: 'https://example.com/a.png', last_image: PNG }).request;
    expect([one.image, one.lastImage]).toEqual(['https://example.com/a.png', PNG]);
    expect(fromOxen({ prompt: 'p', image: '/a.png' }).request.image).toBe('/a.png');
    expect(onlyIssue(refused(() => fromOxen({ prompt: 'p', input_image: '/a.png', image: '/b.png' })), 'image').expected).toBe('either input_image or image, not both');
    const bad = refused(() => fromOxen({ prompt: 'p', input_image: 'data:text/plain;base64,AAAA' }));
    expect(onlyIssue(bad, 'input_image').kind).toBe('invalid');
    expect(normalizeRequest({ prompt: 'p', input_image: '/a.png' }).api).toBe('oxen');
  });

  it('maps a full request to the canonical one', () => {
    const { request, warnings } = fromOxen(valid);
    expect(request).toEqual({
      prompt: 'A cat walks on the grass, realistic',
      negativePrompt: 'blurry',
      width: 832,
      height: 480,
      numFrames: 81,
      steps: 30,
      guidanceScale: 5,
      seed: 42n,
      scheduler: 'unipc',
      output: { format: 'mp4', writeMode: 'balanced' },
      numberResults: 1,
    });
    expect(warnings).toEqual([
      'model "wan-ai-wan2-1-t2v-1-3b-diffusers" does not select a model here: the request runs on the model the pipeline was opened with',
    ]);
  });

  it('leaves model-dependent fields (fps and the negative prompt too) to the pipeline', () => {
    const { request, warnings } = fromOxen({ prompt: 'a cat' });
    expect(request).toEqual({
      prompt: 'a cat',
      scheduler: 'unipc',
      output: { format: 'mp4', writeMode: 'balanced' },
      numberResults: 1,
    });
    expect(warnings).toEqual([]);
  });

  it('num_generations asks for that many videos (numberResults)', () => {
    expect(fromOxen({ ...valid, num_generations: 3 }).request.numberResults).toBe(3);
    expect(refused(() => fromOxen({ ...valid, num_generations: 0 })).message).toContain('num_generations');
  });

  it('run_fast turns the step cache on at the per-model default threshold', () => {
    expect(fromOxen({ ...valid, run_fast: true }).request.cache).toEqual({ kind: 'teacache' });
    expect(fromOxen({ ...valid, run_fast: false }).request.cache).toBeUndefined();
  });

  it('enforces its ranges', () => {
    checkRanges(valid, fromOxen, [
      { field: 'height', inside: [16, 4096], outside: [15, 4097, 480.5], allowed: 'an integer from 16 to 4096' },
      { field: 'width', inside: [16, 4096], outside: [15, 4097], allowed: 'an integer from 16 to 4096' },
      { field: 'num_inference_steps', inside: [1, MAX_STEPS], outside: [0, MAX_STEPS + 1], allowed: `an integer from 1 to ${MAX_STEPS}` },
      { field: 'num_generations', inside: [1, 20], outside: [0, 21], allowed: 'an integer from 1 to 20' },
      { field: 'num_frames', inside: [1, 1025], outside: [0, 1026], allowed: 'an integer from 1 to 1025' },
      { field: 'guidance_scale', inside: [0, 50], outside: [-0.01, 50.01], allowed: 'a number from 0 to 50' },
      { field: 'run_fast', inside: [true, false], outside: ['yes', 1], allowed: 'true or false' },
    ]);
    const e = refused(() => fromOxen({ ...valid, seed: -1 }));
    expect(onlyIssue(e, 'seed').expected).toBe('an integer from 0 to 18446744073709551615 (a number, a bigint, or a string of digits)');
  });

  it('refuses unknown fields by name', () => {
    const e = refused(() => fromOxen({ ...valid, num_steps: 30, fps: 16 }));
    expect(e.code).toBe('E_INVALID_ARGUMENT');
    expect(e.issues.map((i) => [i.field, i.kind])).toEqual([
      ['num_steps', 'unknown-field'],
      ['fps', 'unknown-field'],
    ]);
    expect(e.message).toBe(
      'Invalid Oxen request: unknown field "num_steps" (not a field of the Oxen request); unknown field "fps" (not a field of the Oxen request)',
    );
  });

  it('requires a prompt', () => {
    const e = refused(() => fromOxen({ num_frames: 81 }));
    expect(onlyIssue(e, 'prompt').kind).toBe('missing');
    expect(e.message).toBe('Invalid Oxen request: prompt is missing: expected a non-empty string');
  });
});

// ------------------------------------------------------------------------------------------------
describe('fal wan/v2.2-a14b', () => {
  const valid = {
    prompt: 'A close-up of a young woman smiling gently in the rain',
    negative_prompt: 'blurry',
    num_frames: 121,
    frames_per_second: 24,
    seed: 7,
    resolution: '480p',
    aspect_ratio: '9:16',
    num_inference_steps: 30,
    guidance_scale: 4,
    guidance_scale_2: 3,
    shift: 8,
    acceleration: 'none',
    enable_prompt_expansion: false,
    enable_safety_checker: false,
    enable_output_safety_checker: false,
    interpolator_model: 'none',
    num_interpolated_frames: 0,
    adjust_fps_for_interpolation: false,
    video_quality: 'maximum',
    video_write_mode: 'small',
  };

  it('maps a full text-to-video request to the canonical one', () => {
    const { request, warnings } = fromFal(valid);
    expect(request).toEqual({
      prompt: 'A close-up of a young woman smiling gently in the rain',
      negativePrompt: 'blurry',
      width: 480,
      height: 832,
      numFrames: 121,
      fps: 24,
      steps: 30,
      guidanceScale: 4,
      guidanceScale2: 3,
      shift: 8,
      seed: 7n,
      scheduler: 'unipc',
      output: { format: 'mp4', quality: 95, writeMode: 'small' },
      numberResults: 1,
    });
    expect(warnings).toEqual([]);
  });

  it("applies fal's documented defaults", () => {
    const { request, warnings } = fromFal({ prompt: 'a cat' });
    expect(request).toEqual({
      prompt: 'a cat',
      negativePrompt: '',
      width: 1280,
      height: 720,
      numFrames: 81,
      fps: 16,
      steps: 27,
      guidanceScale: 3.5,
      guidanceScale2: 4,
      shift: 5,
      scheduler: 'unipc',
      cache: { kind: 'teacache' },
      output: { format: 'mp4', quality: 85, writeMode: 'balanced' },
      numberResults: 1,
      // fal's default: film, 1 frame, fps doubled; RIFE serves it where the pipeline has weights.
      interpolate: { model: 'rife', frames: 1, adjustFps: true, ifAvailable: true },
    });
    expect(warnings).toEqual([
      'interpolator_model "film" (fal\'s default): FILM is not implemented by wan-video; RIFE (Practical-RIFE 4.25) interpolates instead',
    ]);
  });

  it('maps every resolution and aspect ratio to pixel sizes', () => {
    const seen: string[] = [];
    for (const resolution of ['480p', '580p', '720p']) {
      for (const aspect_ratio of ['16:9', '9:16', '1:1']) {
        const r = fromFal({ prompt: 'a', resolution, aspect_ratio, interpolator_model: 'none' }).request;
        seen.push(`${resolution} ${aspect_ratio} ${r.width}x${r.height}`);
        expect(r.width! % 16).toBe(0);
        expect(r.height! % 16).toBe(0);
      }
    }
    expect(seen).toEqual([
      '480p 16:9 832x480', '480p 9:16 480x832', '480p 1:1 624x624',
      '580p 16:9 1024x576', '580p 9:16 576x1024', '580p 1:1 768x768',
      '720p 16:9 1280x720', '720p 9:16 720x1280', '720p 1:1 960x960',
    ]);
    expect(FAL_SIZES['580p']['16:9']).toEqual([1024, 576]);
  });

  it('maps video_quality onto the encoder scale', () => {
    const q = (video_quality: string) => fromFal({ prompt: 'a', video_quality, interpolator_model: 'none' }).request.output.quality;
    expect([q('low'), q('medium'), q('high'), q('maximum')]).toEqual([50, 70, 85, 95]);
  });

  it('image-to-video: images, its own guidance_scale_2 default, explicit aspect ratio', () => {
    const { request, warnings } = fromFal({ prompt: 'the warrior turns', image_url: PNG, end_image_url: '/frames/last.png', resolution: '580p', aspect_ratio: '16:9', interpolator_model: 'none' });
    expect(request).toMatchObject({ image: PNG, lastImage: '/frames/last.png', width: 1024, height: 576, guidanceScale: 3.5, guidanceScale2: 3.5 });
    expect(warnings).toEqual([]);
  });

  it('image-to-video with aspect_ratio auto leaves the size to the pipeline and says so', () => {
    const { request, warnings } = fromFal({ prompt: 'p', image_url: '/frames/first.png', resolution: '480p', num_interpolated_frames: 0 });
    expect(request.width).toBeUndefined();
    expect(request.height).toBeUndefined();
    expect(warnings).toEqual([
      'aspect_ratio "auto": the video size is chosen by the pipeline from the input image; resolution "480p" is not carried (wan-video has no area target)',
    ]);
    // "auto" belongs to image-to-video only.
    const e = refused(() => fromFal({ prompt: 'p', aspect_ratio: 'auto' }));
    expect(onlyIssue(e, 'aspect_ratio').expected).toBe('one of "16:9", "9:16", "1:1"');
  });

  it('enforces its ranges', () => {
    checkRanges(valid, (x) => fromFal(x), [
      { field: 'num_frames', inside: [17, 161], outside: [16, 162, 81.5], allowed: 'an integer from 17 to 161' },
      { field: 'frames_per_second', inside: [4, 60], outside: [3, 61], allowed: 'an integer from 4 to 60' },
      { field: 'num_inference_steps', inside: [2, 40], outside: [1, 41], allowed: 'an integer from 2 to 40' },
      { field: 'guidance_scale', inside: [1, 10], outside: [0.99, 10.01], allowed: 'a number from 1 to 10' },
      { field: 'guidance_scale_2', inside: [1, 10], outside: [0.99, 10.01], allowed: 'a number from 1 to 10' },
      { field: 'shift', inside: [1, 10], outside: [0.99, 10.01], allowed: 'a number from 1 to 10' },
      { field: 'num_interpolated_frames', inside: [0, 4], outside: [-1, 5], allowed: 'an integer from 0 to 4' },
      { field: 'resolution', inside: ['480p', '720p'], outside: ['1080p', '576p'], allowed: 'one of "480p", "580p", "720p"' },
      { field: 'aspect_ratio', inside: ['16:9', '1:1'], outside: ['4:3'], allowed: 'one of "16:9", "9:16", "1:1"' },
      { field: 'acceleration', inside: ['none', 'regular'], outside: ['high'], allowed: 'one of "none", "regular"' },
      { field: 'video_quality', inside: ['low'], outside: ['best'], allowed: 'one of "low", "medium", "high", "maximum"' },
      { field: 'video_write_mode', inside: ['fast'], outside: ['slow'], allowed: 'one of "fast", "balanced", "small"' },
      { field: 'interpolator_model', inside: ['none'], outside: ['dain'], allowed: 'one of "none", "film", "rife"' },
      { field: 'seed', inside: [0, 2 ** 53 - 1], outside: [-1], allowed: 'an integer from 0 to 18446744073709551615 (a number, a bigint, or a string of digits)' },
    ]);
  });

  it('refuses unknown fields by name', () => {
    const e = refused(() => fromFal({ ...valid, lora: [] }));
    expect(onlyIssue(e, 'lora').kind).toBe('unknown-field');
    expect(e.message).toBe('Invalid fal request: unknown field "lora" (not a field of the fal request)');
  });

  it('refuses features it does not implement, unless their value means off', () => {
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ enable_prompt_expansion: true }, 'enable_prompt_expansion', 'prompt expansion'],
      [{ enable_safety_checker: true }, 'enable_safety_checker', 'the input safety checker'],
      [{ enable_output_safety_checker: true }, 'enable_output_safety_checker', 'the output safety checker'],
    ];
    for (const [patch, field, what] of cases) {
      const e = refused(() => fromFal({ ...valid, ...patch }));
      expect(e.code).toBe('E_UNSUPPORTED');
      expect(onlyIssue(e, field).kind).toBe('unsupported');
      expect(e.message).toBe(
        `Unsupported fal request: ${field} = true is not supported: ${what} is not implemented by wan-video; leave the field out or set it to false`,
      );
    }
  });

  it('maps interpolation to RIFE: frames, fps adjustment, film served by RIFE with a warning, off values', () => {
    const map = (patch: Record<string, unknown>) => fromFal({ ...valid, ...patch });
    // Explicit RIFE: no warning, not optional (a pipeline without weights refuses it).
    let r = map({ interpolator_model: 'rife', num_interpolated_frames: 2, adjust_fps_for_interpolation: true });
    expect(r.request.interpolate).toEqual({ model: 'rife', frames: 2, adjustFps: true, ifAvailable: false });
    expect(r.warnings).toEqual([]);
    // Explicit FILM (frames left at fal's default 1): RIFE, with the substitution named.
    r = map({ interpolator_model: 'film', num_interpolated_frames: undefined, adjust_fps_for_interpolation: false });
    expect(r.request.interpolate).toEqual({ model: 'rife', frames: 1, adjustFps: false, ifAvailable: false });
    expect(r.warnings).toEqual(['interpolator_model "film": FILM is not implemented by wan-video; RIFE (Practical-RIFE 4.25) interpolates instead']);
    // Frames given, model left at fal's default (film).
    const { interpolator_model: _, ...noModel } = valid;
    r = fromFal({ ...noModel, num_interpolated_frames: 4 });
    expect(r.request.interpolate).toMatchObject({ model: 'rife', frames: 4, ifAvailable: false });
    expect(r.warnings[0]).toMatch(/fal's default/);
    // The off values: no interpolation, no warning.
    for (const patch of [{ interpolator_model: 'film', num_interpolated_frames: 0 }, { interpolator_model: 'none', num_interpolated_frames: 3 }]) {
      r = map(patch);
      expect(r.request.interpolate).toBeUndefined();
      expect(r.warnings).toEqual([]);
    }
  });

  it('a wrong field is reported before an unsupported one, with E_INVALID_ARGUMENT', () => {
    const e = refused(() => fromFal({ ...valid, enable_prompt_expansion: true, num_frames: 500 }));
    expect(e.code).toBe('E_INVALID_ARGUMENT');
    expect(e.issues.map((i) => i.field)).toEqual(['num_frames', 'enable_prompt_expansion']);
  });

  it('takes an http image_url as it is (downloaded by the pipeline)', () => {
    const { request } = fromFal({ prompt: 'p', image_url: 'https://example.com/a.jpg', end_image_url: 'https://example.com/b.jpg', interpolator_model: 'none' });
    expect([request.image, request.lastImage]).toEqual(['https://example.com/a.jpg', 'https://example.com/b.jpg']);
  });
});

// ------------------------------------------------------------------------------------------------
describe('Runware videoInference', () => {
  const valid = {
    taskType: 'videoInference',
    taskUUID: '24cd5dff-cb81-4db5-8506-b72a9425f9d1',
    model: 'runware:200@6',
    positivePrompt: 'A cat playing with a ball of yarn',
    negativePrompt: 'blurry',
    width: 832,
    height: 480,
    duration: 5,
    fps: 16,
    steps: 30,
    seed: 42,
    CFGScale: 5,
    scheduler: 'FlowMatchEulerDiscreteScheduler',
    numberResults: 2,
    acceleratorOptions: { teaCache: true, teaCacheDistance: 0.2, cacheStartStepPercentage: 10, cacheEndStepPercentage: 90 },
    lora: [{ model: '/loras/style.safetensors', weight: 0.8, transformer: 'high' }],
    inputs: { frameImages: [{ image: PNG, frame: 'first' }, { image: '/frames/last.png', frame: 'last' }] },
    outputType: 'URL',
    outputFormat: 'WEBM',
    outputQuality: 80,
    deliveryMethod: 'async',
    includeCost: false,
    safety: { checkContent: false, mode: 'none' },
    acceleration: 'none',
  };

  it('maps a full request to the canonical one', () => {
    const { request, warnings } = fromRunware(valid);
    expect(request).toEqual({
      prompt: 'A cat playing with a ball of yarn',
      negativePrompt: 'blurry',
      width: 832,
      height: 480,
      numFrames: 80,
      fps: 16,
      steps: 30,
      guidanceScale: 5,
      seed: 42n,
      scheduler: 'euler',
      numberResults: 2,
      cache: { kind: 'teacache', level: 0.2, startPercent: 10, endPercent: 90, maxConsecutive: 3 },
      loras: [{ path: '/loras/style.safetensors', weight: 0.8, transformer: 'high' }],
      image: PNG,
      lastImage: '/frames/last.png',
      output: { format: 'webm', quality: 80, writeMode: 'balanced' },
    });
    expect(warnings).toEqual(['model "runware:200@6" does not select a model here: the request runs on the model the pipeline was opened with']);
  });

  it("applies Runware's documented defaults (the negative prompt is the model's)", () => {
    const { request, warnings } = fromRunware({ positivePrompt: 'ab', duration: 5 });
    expect(request).toEqual({
      prompt: 'ab',
      numFrames: 120,
      fps: 24,
      scheduler: 'unipc',
      numberResults: 1,
      output: { format: 'mp4', quality: 95, writeMode: 'balanced' },
    });
    expect(warnings).toEqual([]);
  });

  it('resolution instead of width/height', () => {
    expect(fromRunware({ positivePrompt: 'ab', duration: 5, resolution: '480p' }).request).toMatchObject({ width: 832, height: 480 });
    expect(fromRunware({ positivePrompt: 'ab', duration: 5, resolution: '720p' }).request).toMatchObject({ width: 1280, height: 720 });
    const e = refused(() => fromRunware({ positivePrompt: 'ab', duration: 5, resolution: '480p', width: 832, height: 480 }));
    expect(onlyIssue(e, 'resolution').expected).toBe('either resolution or width/height, not both');
    const half = refused(() => fromRunware({ positivePrompt: 'ab', duration: 5, width: 832 }));
    expect(onlyIssue(half, 'height').expected).toBe('width and height together (or resolution)');
  });

  it('duration × fps becomes the frame count, fractions rounded with a warning', () => {
    const r = fromRunware({ positivePrompt: 'ab', duration: 2.5, fps: 15 });
    expect(r.request.numFrames).toBe(38);
    expect(r.warnings).toEqual(['duration × fps = 2.5 × 15 = 37.5 frames; using 38']);
  });

  it('fbCache with its documented defaults, and cache fields without a cache reported', () => {
    expect(fromRunware({ positivePrompt: 'ab', duration: 5, acceleratorOptions: { fbCache: true } }).request.cache).toEqual({
      kind: 'fbcache', threshold: 0.25, maxConsecutive: 3,
    });
    expect(fromRunware({ positivePrompt: 'ab', duration: 5, acceleratorOptions: { teaCache: true, cacheStartStep: 2, cacheEndStep: 20 } }).request.cache).toEqual({
      kind: 'teacache', level: 0.5, startStep: 2, endStep: 20, maxConsecutive: 3,
    });
    const r = fromRunware({ positivePrompt: 'ab', duration: 5, acceleratorOptions: { teaCache: false, teaCacheDistance: 0.3, cacheMaxConsecutiveSteps: 2 } });
    expect(r.request.cache).toBeUndefined();
    expect(r.warnings).toEqual([
      'acceleratorOptions.teaCacheDistance, acceleratorOptions.cacheMaxConsecutiveSteps have no effect: no cache (teaCache, fbCache, dbCache) is on',
    ]);
  });

  it('dbCache: cache-dit\'s DBCache, its threshold as is, the skip interval as cache-dit\'s warmup_interval', () => {
    expect(fromRunware({ positivePrompt: 'ab', duration: 5, acceleratorOptions: { dbCache: true } }).request.cache).toEqual({
      kind: 'dbcache', maxConsecutive: 3,
    });
    const r = fromRunware({
      positivePrompt: 'ab', duration: 5, steps: 30,
      acceleratorOptions: { dbCache: true, dbCacheThreshold: 0.12, dbCacheSkipInterval: 2, cacheStartStep: 4, cacheMaxConsecutiveSteps: 2 },
    });
    expect(r.request.cache).toEqual({ kind: 'dbcache', threshold: 0.12, warmupInterval: 2, startStep: 4, maxConsecutive: 2 });
    expect(r.warnings).toEqual([]);
    // The DBCache fields alone turn nothing on, and say so.
    const off = fromRunware({ positivePrompt: 'ab', duration: 5, acceleratorOptions: { dbCache: false, dbCacheThreshold: 0.2 } });
    expect(off.request.cache).toBeUndefined();
    expect(off.warnings[0]).toMatch(/acceleratorOptions\.dbCacheThreshold have no effect/);
    // A preset beside it is refused, as beside the other caches.
    const e = refused(() => fromRunware({ positivePrompt: 'ab', duration: 5, acceleration: 'low', acceleratorOptions: { dbCache: true } }));
    expect(onlyIssue(e, 'acceleration').kind).toBe('invalid');
  });

  it('names the Runware field when a DBCache value is out of range', () => {
    const e = refused(() => fromRunware({ positivePrompt: 'ab', duration: 5, acceleratorOptions: { dbCache: true, dbCacheSkipInterval: 0 } }));
    expect(onlyIssue(e, 'acceleratorOptions.dbCacheSkipInterval').expected).toBe('an integer from 1 to 50');
    const t = refused(() => fromRunware({ positivePrompt: 'ab', duration: 5, acceleratorOptions: { dbCache: true, dbCacheThreshold: 1.5 } }));
    expect(onlyIssue(t, 'acceleratorOptions.dbCacheThreshold').expected).toBe('a number from 0 to 1');
  });

  it('maps scheduler names', () => {
    const s = (scheduler: string) => fromRunware({ positivePrompt: 'ab', duration: 1, fps: 16, scheduler }).request.scheduler;
    expect(Object.keys(RUNWARE_SCHEDULERS).map(s)).toEqual(['unipc', 'unipc', 'unipc', 'dpm++2m', 'dpm++2m', 'euler', 'euler', 'euler']);
    const e = refused(() => fromRunware({ positivePrompt: 'ab', duration: 1, scheduler: 'DPM++ 2M Karras' }));
    expect(onlyIssue(e, 'scheduler').expected).toBe(
      'one of "Default", "UniPC", "UniPCMultistepScheduler", "DPM++ 2M", "DPMSolverMultistepScheduler", "Euler", "EulerDiscreteScheduler", "FlowMatchEulerDiscreteScheduler"',
    );
  });

  it('frame images: automatic positions, the older top-level form, base64', () => {
    const one = fromRunware({ positivePrompt: 'ab', duration: 5, inputs: { frameImages: [{ image: '/a.png' }] } }).request;
    expect([one.image, one.lastImage]).toEqual(['/a.png', undefined]);
    const two = fromRunware({ positivePrompt: 'ab', duration: 5, inputs: { frameImages: [{ image: '/a.png' }, { image: '/b.png' }] } }).request;
    expect([two.image, two.lastImage]).toEqual(['/a.png', '/b.png']);
    const swapped = fromRunware({ positivePrompt: 'ab', duration: 5, inputs: { frameImages: [{ image: '/b.png', frame: 'last' }, { image: '/a.png', frame: 0 }] } }).request;
    expect([swapped.image, swapped.lastImage]).toEqual(['/a.png', '/b.png']);
    const url = fromRunware({ positivePrompt: 'ab', duration: 5, inputs: { frameImages: [{ image: 'https://example.com/a.png' }, { image: 'https://example.com/b.png', frame: 'last' }] } }).request;
    expect([url.image, url.lastImage]).toEqual(['https://example.com/a.png', 'https://example.com/b.png']);
    const legacy = fromRunware({ positivePrompt: 'ab', duration: 5, frameImages: [{ inputImage: 'iVBORw0KGgoAAAANSUhEUg==' }] }).request;
    expect(legacy.image).toBe('data:image/png;base64,iVBORw0KGgoAAAANSUhEUg==');
    const lastOnly = refused(() => fromRunware({ positivePrompt: 'ab', duration: 5, inputs: { frameImages: [{ image: '/b.png', frame: 'last' }] } }));
    expect(onlyIssue(lastOnly, 'inputs.frameImages').expected).toBe('a "first" frame image as well (Wan has no last-frame-only conditioning)');
    const both = refused(() => fromRunware({ positivePrompt: 'ab', duration: 5, frameImages: [{ inputImage: '/a.png' }], inputs: { frameImages: [{ image: '/a.png' }] } }));
    expect(onlyIssue(both, 'frameImages').kind).toBe('invalid');
    const twoKeys = refused(() => fromRunware({ positivePrompt: 'ab', duration: 5, inputs: { frameImages: [{ image: '/a.png', inputImage: '/a.png' }] } }));
    expect(onlyIssue(twoKeys, 'inputs.frameImages[0].inputImage').expected).toBe('exactly one of image and inputImage');
  });

  it('enforces its ranges', () => {
    const base = { positivePrompt: 'ab', duration: 5, width: 832, height: 480, steps: 30, acceleratorOptions: { teaCache: true }, lora: [{ model: '/l.safetensors' }] };
    checkRanges(base, fromRunware, [
      { field: 'positivePrompt', inside: ['ab', 'a'.repeat(3000)], outside: ['a', 'a'.repeat(3001)], allowed: 'a string of 2 to 3000 characters' },
      { field: 'width', inside: [256, 1920], outside: [248, 1928, 260], allowed: 'a multiple of 8 from 256 to 1920' },
      { field: 'height', inside: [256, 1080], outside: [248, 1088, 484], allowed: 'a multiple of 8 from 256 to 1080' },
      { field: 'duration', inside: [1, 10], outside: [0.99, 10.01], allowed: 'a number from 1 to 10' },
      { field: 'fps', inside: [15, 60], outside: [14, 61], allowed: 'an integer from 15 to 60' },
      { field: 'steps', inside: [4, 50], outside: [3, 51], allowed: 'an integer from 4 to 50' },
      { field: 'CFGScale', inside: [0, 50], outside: [-0.1, 50.1], allowed: 'a number from 0 to 50' },
      { field: 'numberResults', inside: [1, 20], outside: [0, 21], allowed: 'an integer from 1 to 20' },
      { field: 'outputQuality', inside: [20, 99], outside: [19, 100], allowed: 'an integer from 20 to 99' },
      { field: 'outputFormat', inside: ['MP4', 'mov', 'webm'], outside: ['GIF'], allowed: 'one of "MP4", "WEBM", "MOV"' },
      { field: 'ttl', inside: [60], outside: [59], allowed: 'an integer of at least 60 (seconds)' },
      { field: 'lora[0].weight', inside: [-4, 4], outside: [-4.01, 4.01], allowed: 'a number from -4 to 4' },
      { field: 'lora[0].transformer', inside: ['low', 'both'], outside: ['mid'], allowed: 'one of "high", "low", "both"' },
      { field: 'acceleratorOptions.teaCacheDistance', inside: [0, 1], outside: [-0.01, 1.01], allowed: 'a number from 0 to 1' },
      { field: 'acceleratorOptions.fbCacheThreshold', inside: [0, 1], outside: [1.5], allowed: 'a number from 0 to 1' },
      { field: 'acceleratorOptions.cacheMaxConsecutiveSteps', inside: [1, 5], outside: [0, 6], allowed: 'an integer from 1 to 5' },
      { field: 'acceleratorOptions.cacheStartStepPercentage', inside: [0, 99], outside: [-1, 100], allowed: 'an integer from 0 to 99' },
      { field: 'acceleratorOptions.cacheEndStepPercentage', inside: [1, 100], outside: [0, 101], allowed: 'an integer from 1 to 100' },
      { field: 'acceleratorOptions.cacheStartStep', inside: [0, 30], outside: [31], allowed: 'an integer from 0 to steps (30)' },
      { field: 'acceleratorOptions.cacheEndStep', inside: [1, 30], outside: [31], allowed: 'an integer from cacheStartStep + 1 to steps (30)' },
      { field: 'taskType', inside: ['videoInference'], outside: ['imageInference'], allowed: '"videoInference"' },
    ]);
    const seedRange = 'an integer from 1 to 9223372036854775807 (a number, a bigint, or a string of digits)';
    expect(() => fromRunware({ ...base, seed: 1 })).not.toThrow();
    expect(fromRunware({ ...base, seed: 2n ** 63n - 1n }).request.seed).toBe(2n ** 63n - 1n);
    expect(onlyIssue(refused(() => fromRunware({ ...base, seed: 0 })), 'seed').expected).toBe(seedRange);
    expect(onlyIssue(refused(() => fromRunware({ ...base, seed: 2n ** 63n })), 'seed').expected).toBe(seedRange);
  });

  it('checks the cache window against itself', () => {
    const e = refused(() => fromRunware({ positivePrompt: 'ab', duration: 5, acceleratorOptions: { teaCache: true, cacheStartStep: 10, cacheEndStep: 10 } }));
    expect(onlyIssue(e, 'acceleratorOptions.cacheEndStep').expected).toBe('an integer from cacheStartStep + 1 (11) to steps');
    const mixed = refused(() => fromRunware({ positivePrompt: 'ab', duration: 5, acceleratorOptions: { teaCache: true, cacheStartStep: 2, cacheStartStepPercentage: 10 } }));
    expect(onlyIssue(mixed, 'acceleratorOptions.cacheStartStepPercentage').kind).toBe('invalid');
  });

  it('refuses unknown fields by name, at any depth', () => {
    const e = refused(() => fromRunware({ ...valid, acceleratorOptions: { teaCache: true, deepCache: true }, lora: [{ model: '/l.safetensors', scale: 1 }], guidance: 3 }));
    expect(e.code).toBe('E_INVALID_ARGUMENT');
    expect(e.issues.map((i) => [i.field, i.kind])).toEqual([
      ['acceleratorOptions.deepCache', 'unknown-field'],
      ['lora[0].scale', 'unknown-field'],
      ['guidance', 'unknown-field'],
    ]);
  });

  it('maps the acceleration presets to TeaCache levels and "high" to fast mode, refusing a preset beside acceleratorOptions', () => {
    const base = { positivePrompt: 'ab', duration: 5 };
    expect(fromRunware({ ...base, acceleration: 'none' }).request.cache).toBeUndefined();
    expect(fromRunware({ ...base, acceleration: 'low' }).request).toMatchObject({ cache: { kind: 'teacache', level: 0.25, maxConsecutive: 3 } });
    expect(fromRunware({ ...base, acceleration: 'medium' }).request.fast).toBeUndefined();
    expect(fromRunware({ ...base, acceleration: 'high' }).request).toMatchObject({ fast: true, cache: { kind: 'teacache', level: 0.75, maxConsecutive: 3 } });
    const e = refused(() => fromRunware({ ...base, acceleration: 'low', acceleratorOptions: { fbCache: true } }));
    expect(e.code).toBe('E_INVALID_ARGUMENT');
    expect(onlyIssue(e, 'acceleration').expected).toMatch(/a preset or acceleratorOptions, not both/);
  });

  it('refuses features it does not implement, unless their value means off', () => {
    const base = { positivePrompt: 'ab', duration: 5 };
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ safety: { mode: 'full' } }, 'safety.mode'],
      [{ safety: { checkContent: true } }, 'safety.checkContent'],
      [{ includeCost: true }, 'includeCost'],
      [{ webhookURL: 'https://example.com/hook' }, 'webhookURL'],
      [{ uploadEndpoint: 'https://example.com/put' }, 'uploadEndpoint'],
      [{ referenceImages: ['/r.png'] }, 'referenceImages'],
      [{ providerSettings: { alibaba: { promptExtend: true } } }, 'providerSettings'],
      [{ acceleratorOptions: { teaCache: true, fbCache: true } }, 'acceleratorOptions.fbCache'],
      [{ acceleratorOptions: { fbCache: true, dbCache: true } }, 'acceleratorOptions.dbCache'],
      [{ lora: [{ model: 'civitai:132942@146296' }] }, 'lora[0].model'],
      [{ inputs: { frameImages: [{ image: 'c64351d5-4c59-42f7-95e1-eace013eddab' }] } }, 'inputs.frameImages[0].image'],
      [{ inputs: { frameImages: [{ image: '/a.png' }, { image: '/b.png' }, { image: '/c.png' }] } }, 'inputs.frameImages[2]'],
      [{ inputs: { frameImages: [{ image: '/a.png', frame: 0 }, { image: '/b.png', frame: 48 }] } }, 'inputs.frameImages[1].frame'],
    ];
    for (const [patch, field] of cases) {
      const e = refused(() => fromRunware({ ...base, ...patch }));
      expect(e.code, field).toBe('E_UNSUPPORTED');
      expect(onlyIssue(e, field).kind).toBe('unsupported');
      expect(e.message).toMatch(new RegExp(`^Unsupported Runware videoInference request: ${field.replace(/[.[\]]/g, '\\$&')} = .* is not supported: `));
    }
    // The documented "off" values pass.
    expect(() => fromRunware({ ...base, safety: { checkContent: false, mode: 'none' }, acceleration: 'none', includeCost: false })).not.toThrow();
  });

  it('its rounded frame count goes through the normaliser with the user\'s field name', () => {
    const { request, warnings } = normalizeRequest(valid);
    expect(request.numFrames).toBe(81);
    expect(warnings).toEqual([
      'model "runware:200@6" does not select a model here: the request runs on the model the pipeline was opened with',
      "duration × fps: 80 frames is not 4k+1 (the VAE packs 4 frames per latent after the first); using 81, as diffusers' WanPipeline rounds (num_frames // 4 * 4 + 1)",
    ]);
  });
});
