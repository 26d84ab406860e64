// wan-video generate: one request to one or more outputs, with progress on a terminal, plain lines
// otherwise, JSON lines with --json; Ctrl-C cancels cleanly.
//
// Everything that can be refused is refused before the model loads: the request (read as the API
// --api names, or the one its fields show), every output (its format against its file name and the
// request's output fields, its folder, its permissions, ffmpeg's ability to encode it) and the
// model's components.
import { readFile } from 'node:fs/promises';

import { WanError } from '../errors.js';
import { parseMemorySize } from '../memory/budget.js';
import { describeMemoryPlan } from '../memory/describe.js';
import type { GenerateResult, JobEvent } from '../pipeline/job.js';
import { type ModelPaths } from '../pipeline/model-parts.js';
import { WanPipeline } from '../pipeline/wan-pipeline.js';
import type { RequestApi } from '../schemas/issues.js';
import { normalizeRequest } from '../schemas/normalize.js';
import { type RequestedOutput, requestedOutput } from '../schemas/output-fields.js';
import { type Chosen, type FrameSink, type OutputSpec, describeOutput, openOutput, preflightOutput, resolveOutput, resultPath } from '../video/output.js';
import { type CommandSpec, parseCommand, parseDevice } from './args.js';

export const API_CHOICES = ['auto', 'canonical', 'fal', 'runware', 'oxen'] as const;

/** Request flags -> canonical request fields. */
const FIELD_FLAGS = {
  prompt: 'prompt',
  'negative-prompt': 'negativePrompt',
  width: 'width',
  height: 'height',
  frames: 'numFrames',
  fps: 'fps',
  steps: 'steps',
  guidance: 'guidanceScale',
  'guidance-2': 'guidanceScale2',
  shift: 'shift',
  seed: 'seed',
  scheduler: 'scheduler',
  image: 'image',
  'last-image': 'lastImage',
} as const;

const stringFlag = { type: 'string' } as const;

export const GENERATE = {
  name: 'generate',
  summary: 'turn one request into video/PNG files',
  usage: `usage: wan-video generate --model PATH (--prompt TEXT [request flags] | --request FILE.json [--api API]) --out FILE [--out FILE]...

Model:
  --model PATH           a diffusers pipeline folder (model_index.json), or a transformer on its own:
                         a component folder or a single .safetensors file (then also give the three below)
  --vae PATH             the VAE (folder or single file)
  --text-encoder PATH    the UMT5 text encoder (folder or single file)
  --tokenizer PATH       a folder with tokenizer.json (the UMT5 tokenizer), or that file
  --transformer-2 PATH   the Wan2.2 A14B low-noise expert, beside a single-file --model
                         (each of these also replaces a pipeline folder's own component)
  --device auto|cpu|cuda which addon runs it (default auto: CUDA when a CUDA addon's probe finds a device)
  --max-memory SIZE      the memory budget: 16GB, 16GiB or bytes (default: the device's free memory, on
                         the CPU the available host memory, less a margin). The memory plan places the
                         models within it (\`wan-video info MODEL\` shows it) or refuses before loading

Request (flags, canonical fields; API spellings such as --num_frames, --negativePrompt also work):
  --prompt TEXT  --negative-prompt TEXT  --width N  --height N  --frames N  --fps N  --steps N
  --guidance X  --guidance-2 X  --shift X  --seed N  --scheduler unipc|dpm++2m|euler
  --cache teacache|fbcache|dbcache [--cache-threshold X]
  --image SRC  --last-image SRC   first/last frame for image-to-video models: a file, an http(s) URL,
                         a data URI or base64
  --interpolate N        N RIFE frames between each pair of frames (0-4), fps multiplied by N + 1
  --rife PATH            RIFE weights (.safetensors; scripts/convert-rife.py converts the release's
                         flownet.pkl; default $WAN_VIDEO_RIFE)
  --image-encoder PATH   Wan2.1 I2V's CLIP encoder (a folder, or e.g. clip_vision_h.safetensors) when
                         the model folder has no image_encoder/
or
  --request FILE.json    a request in any accepted shape: canonical, fal, Runware, Oxen
  --api ${API_CHOICES.join('|')}
                         read it as that API's request, with its ranges and defaults (default auto:
                         told by the fields it has)

Output (checked before the model loads; one generation is written to every --out):
  --out FILE             .mp4 (H.264), .webm (VP9), .mov (H.264), .png (contact sheet of all frames),
                         or a name without extension (a folder, one PNG per frame); the folder must exist
  --format mp4|webm|mov|png|contact-sheet
                         must agree with the file name (or it is refused); so must the request's own
                         output format (Runware outputFormat, canonical output.format)
  --quality 20-99        encoder quality, higher is better (Runware outputQuality; fal video_quality
                         low/medium/high/maximum = 50/70/85/95); default: the request's, else 85
  --write-mode fast|balanced|small   encode time vs file size (fal video_write_mode)

Progress:
  --json                 JSON lines of the events on stdout instead of progress on stderr

Exit status: 0 written; 1 refused or failed (the message names the field, flag or file); 130 cancelled (Ctrl-C), nothing written.
`,
  options: {
    model: stringFlag,
    vae: stringFlag,
    'text-encoder': stringFlag,
    tokenizer: stringFlag,
    'transformer-2': stringFlag,
    request: stringFlag,
    api: stringFlag,
    out: { type: 'string', multiple: true },
    format: stringFlag,
    quality: stringFlag,
    'write-mode': stringFlag,
    json: { type: 'boolean', default: false },
    device: stringFlag,
    'max-memory': stringFlag,
    prompt: stringFlag,
    'negative-prompt': stringFlag,
    width: stringFlag,
    height: stringFlag,
    frames: stringFlag,
    fps: stringFlag,
    steps: stringFlag,
    guidance: stringFlag,
    'guidance-2': stringFlag,
    shift: stringFlag,
    seed: stringFlag,
    scheduler: stringFlag,
    image: stringFlag,
    'last-image': stringFlag,
    'image-encoder': stringFlag,
    interpolate: stringFlag,
    rife: stringFlag,
    cache: stringFlag,
    'cache-threshold': stringFlag,
  },
  // The hosted APIs' names for the same things (loose matching already accepts --negative_prompt,
  // --numFrames, ... for the flags' own names).
  aliases: {
    positivePrompt: 'prompt',
    num_frames: 'frames',
    numFrames: 'frames',
    num_inference_steps: 'steps',
    guidance_scale: 'guidance',
    guidanceScale: 'guidance',
    CFGScale: 'guidance',
    guidance_scale_2: 'guidance-2',
    guidanceScale2: 'guidance-2',
    frames_per_second: 'fps',
    flow_shift: 'shift',
    sample_shift: 'shift',
    outputFormat: 'format',
    outputQuality: 'quality',
    video_write_mode: 'write-mode',
    output: 'out',
    transformer_2: 'transformer-2',
    text_encoder: 'text-encoder',
    image_url: 'image',
    end_image_url: 'last-image',
    last_image: 'last-image',
    lastImage: 'last-image',
    image_encoder: 'image-encoder',
  },
} satisfies CommandSpec;

type Values = Record<string, unknown>;

/** Flags to a canonical request; numbers stay strings where they do not parse, so the schema names them. */
function requestFromFlags(values: Values): Record<string, unknown> {
  const req: Record<string, unknown> = {};
  for (const [flag, field] of Object.entries(FIELD_FLAGS)) {
    const v = values[flag];
    if (v === undefined) continue;
    if (['prompt', 'negativePrompt', 'scheduler', 'image', 'lastImage'].includes(field)) req[field] = v;
    else if (field === 'seed') req[field] = /^\d+$/.test(String(v)) ? BigInt(String(v)) : v;
    else req[field] = asNumber(v);
  }
  // --cache teacache|fbcache|dbcache [--cache-threshold X]: the step cache at the model's defaults or X.
  if (values.cache !== undefined) {
    req.cache = { kind: values.cache, ...(values['cache-threshold'] !== undefined ? { threshold: asNumber(values['cache-threshold']) } : {}) };
  } else if (values['cache-threshold'] !== undefined) {
    throw new WanError('E_INVALID_ARGUMENT', '--cache-threshold needs --cache teacache|fbcache|dbcache');
  }
  // --interpolate N: N RIFE frames between each pair, fps multiplied by N + 1 (needs --rife PATH).
  if (values.interpolate !== undefined) req.interpolate = { model: 'rife', frames: asNumber(values.interpolate) };
  return req;
}

function asNumber(v: unknown): unknown {
  return Number.isFinite(Number(v)) && String(v).trim() !== '' ? Number(v) : v;
}

/** A flag and a request field that both set an output setting must agree. */
function pick<T>(flag: Chosen<T> | undefined, fromRequest: { value: T; from: string; written: boolean } | undefined, same: (a: T, b: T) => boolean): Chosen<T> | undefined {
  if (flag && fromRequest?.written && !same(flag.value, fromRequest.value)) {
    throw new WanError('E_INVALID_ARGUMENT', `${flag.from} ${String(flag.value)} contradicts ${fromRequest.from} ${String(fromRequest.value)}: give one of them`);
  }
  return flag ?? fromRequest;
}

export interface OutputFlags {
  format?: string;
  quality?: string;
  writeMode?: string;
}

/** Every --out as an OutputSpec: the format agreed by file name, flags and request; checked on disk. */
export async function planOutputs(paths: string[], flags: OutputFlags, requested: RequestedOutput): Promise<OutputSpec[]> {
  if (paths.length === 0) throw new WanError('E_INVALID_ARGUMENT', '--out FILE is required (.mp4, .webm, .mov, .png, or a folder name for PNG frames)');
  const quality = flags.quality === undefined ? undefined : { value: Number(flags.quality), from: '--quality' };
  const fmt = pick(flags.format === undefined ? undefined : { value: flags.format, from: '--format' }, requested.format, (a, b) => a.toLowerCase() === b.toLowerCase());
  const q = pick(quality, requested.quality, (a, b) => a === b);
  const w = pick(flags.writeMode === undefined ? undefined : { value: flags.writeMode, from: '--write-mode' }, requested.writeMode, (a, b) => a === b);
  const specs = paths.map((p) => resolveOutput(p, { format: fmt, quality: q, writeMode: w }));
  const seen = new Set<string>();
  for (const s of specs) {
    if (seen.has(s.path)) throw new WanError('E_INVALID_ARGUMENT', `--out ${s.path} is given twice`);
    seen.add(s.path);
    await preflightOutput(s);
  }
  return specs;
}

export interface GenerateToFilesOptions {
  model: string | ModelPaths;
  request: unknown;
  api: RequestApi | 'auto';
  outputs: OutputSpec[];
  device: 'auto' | 'cpu' | 'cuda';
  /** The memory budget (LoadOptions.maxMemory). */
  maxMemory?: string | number;
  /** Wan2.1 I2V's CLIP encoder when the model folder has none (LoadOptions.imageEncoder). */
  imageEncoder?: string;
  /** RIFE weights for requests that ask for interpolation (LoadOptions.interpolator). */
  interpolator?: string;
  json: boolean;
  previewSteps?: number[];
  /** Lines for people (stderr). */
  log: (line: string) => void;
}

export interface GenerateToFilesResult {
  /** The first result (with previews when asked for). */
  result: GenerateResult;
  /** Every result (numberResults), in order; result i > 0 went to NAME-i.EXT. */
  results: GenerateResult[];
  files: string[];
  steps: Array<Extract<JobEvent, { type: 'step' }>>;
  /** True for a Wan2.2 A14B pair (an expert switch to report). */
  twoExperts: boolean;
}

function progressLine(e: Extract<JobEvent, { type: 'step' }>, started: number, twoExperts: boolean): string {
  const done = e.index + 1;
  const elapsed = (performance.now() - started) / 1000;
  const eta = (elapsed / done) * (e.total - done);
  const width = 24;
  const bar = '#'.repeat(Math.round((done / e.total) * width)).padEnd(width, '.');
  const cached = e.cached ? ` (${e.cached}/${e.forwards} cached)` : '';
  return `[${bar}] step ${done}/${e.total}${twoExperts ? ` ${e.expert}` : ''}${cached} ${(e.ms / 1000).toFixed(2)} s/step ETA ${eta.toFixed(0)} s`;
}

/** Loads the model, runs one request and writes every output; the outputs were checked already. */
export async function generateToFiles(o: GenerateToFilesOptions): Promise<GenerateToFilesResult> {
  const tty = process.stderr.isTTY && !o.json;
  const pipe = await WanPipeline.load(o.model, { device: o.device, maxMemory: o.maxMemory, imageEncoder: o.imageEncoder, interpolator: o.interpolator });
  const twoExperts = pipe.experts !== 'single';
  const controller = new AbortController();
  const onSigint = () => {
    o.log(tty ? '\ncancelling...' : 'cancelling...');
    controller.abort();
  };
  process.once('SIGINT', onSigint);
  // One sink per output and result; result i > 0 of a several-result request goes to x-i.mp4.
  const sinks = new Map<string, FrameSink>();
  const sinkFor = (spec: OutputSpec, index: number) => {
    const path = resultPath(spec.path, index);
    let s = sinks.get(path);
    if (!s) sinks.set(path, (s = openOutput({ ...spec, path })));
    return s;
  };
  const steps: GenerateToFilesResult['steps'] = [];
  try {
    const job = pipe.generate(o.request, { signal: controller.signal, api: o.api, previewSteps: o.previewSteps });
    const started = performance.now();
    for await (const ev of job) {
      if (ev.type === 'frames') {
        for (const spec of o.outputs) await sinkFor(spec, ev.result).add(ev.frames, ev.width, ev.height, ev.fps);
      }
      if (ev.type === 'step') steps.push(ev);
      if (o.json) {
        const line = ev.type === 'frames' ? { type: 'frames', result: ev.result, index: ev.index, count: ev.frames.length, width: ev.width, height: ev.height } : ev.type === 'done' ? { type: 'done' } : ev;
        process.stdout.write(`${JSON.stringify(line, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
      } else if (ev.type === 'step') {
        if (tty) process.stderr.write(`\r${progressLine(ev, started, twoExperts)}`);
        else o.log(`${ev.result > 0 ? `result ${ev.result + 1} ` : ''}step ${ev.index + 1}/${ev.total}${twoExperts ? ` expert=${ev.expert}` : ''} computed=${ev.computed}/${ev.forwards} ${(ev.ms / 1000).toFixed(2)}s`);
      } else if (ev.type === 'warning') {
        o.log(`${tty ? '\n' : ''}warning: ${ev.message}`);
      } else if (ev.type === 'encode' && !tty) {
        o.log(`text encoded in ${ev.ms.toFixed(0)} ms (cache ${ev.cacheHits} hit, ${ev.cacheMisses} miss)`);
      }
    }
    const results = await job.results;
    const files: string[] = [];
    for (const s of sinks.values()) files.push(...(await s.finish()));
    if (tty) process.stderr.write('\n');
    return { result: results[0], results, files, steps, twoExperts };
  } catch (err) {
    for (const s of sinks.values()) await s.abort().catch(() => undefined);
    throw err;
  } finally {
    process.off('SIGINT', onSigint);
    await pipe.dispose();
  }
}

/** Reads the request (flags or --request) and checks it against its API before anything loads. */
export async function readRequest(values: Values): Promise<{ request: unknown; api: RequestApi | 'auto'; requested: RequestedOutput; readAs: RequestApi }> {
  const api = (values.api as string | undefined) ?? 'auto';
  if (!(API_CHOICES as readonly string[]).includes(api)) throw new WanError('E_INVALID_ARGUMENT', `--api ${api}: expected one of ${API_CHOICES.join(', ')}`);
  const flagged = requestFromFlags(values);
  let request: unknown;
  if (values.request !== undefined) {
    if (Object.keys(flagged).length) throw new WanError('E_INVALID_ARGUMENT', `--request cannot be combined with request flags (${Object.keys(flagged).join(', ')})`);
    try {
      request = JSON.parse(await readFile(String(values.request), 'utf8'));
    } catch (err) {
      throw new WanError('E_INVALID_ARGUMENT', `--request ${String(values.request)}: ${err instanceof Error ? err.message : String(err)}`);
    }
  } else {
    if (api !== 'auto' && api !== 'canonical') throw new WanError('E_INVALID_ARGUMENT', `--api ${api} reads a --request file; request flags are canonical fields`);
    if (flagged.prompt === undefined) throw new WanError('E_INVALID_ARGUMENT', '--prompt TEXT (or --request FILE.json) is required');
    request = flagged;
  }
  // Validated now, with the model-independent rules, so that a bad field is refused before loading.
  const normalized = normalizeRequest(request, { api: api as RequestApi | 'auto', randomSeed: () => 0n });
  return { request, api: api as RequestApi | 'auto', requested: requestedOutput(request, normalized), readAs: normalized.api };
}

/** The --model path or the components named one by one. */
export function modelFrom(values: Values): string | ModelPaths {
  if (values.model === undefined) throw new WanError('E_INVALID_ARGUMENT', '--model PATH is required (a diffusers Wan pipeline folder, or a transformer file with --vae, --text-encoder and --tokenizer)');
  const parts: ModelPaths = { model: String(values.model) };
  if (values.vae !== undefined) parts.vae = String(values.vae);
  if (values['text-encoder'] !== undefined) parts.textEncoder = String(values['text-encoder']);
  if (values.tokenizer !== undefined) parts.tokenizer = String(values.tokenizer);
  if (values['transformer-2'] !== undefined) parts.transformer2 = String(values['transformer-2']);
  return Object.keys(parts).length === 1 ? parts.model : parts;
}

export async function runGenerate(args: string[]): Promise<number> {
  const parsed = parseCommand(GENERATE, args);
  if (parsed.help) return 0;
  const values = parsed.values as Values;
  if (parsed.positionals.length) throw new WanError('E_INVALID_ARGUMENT', `unexpected argument ${parsed.positionals[0]} (\`wan-video generate --help\` lists the options)`);
  const model = modelFrom(values);
  const device = parseDevice(values.device as string | undefined);
  // A bad size is refused before anything reads the model.
  const maxMemory = values['max-memory'] === undefined ? undefined : String(values['max-memory']);
  if (maxMemory !== undefined) parseMemorySize(maxMemory, '--max-memory');
  const { request, api, requested, readAs } = await readRequest(values);
  const outputs = await planOutputs((values.out as string[] | undefined) ?? [], {
    format: values.format as string | undefined,
    quality: values.quality as string | undefined,
    writeMode: values['write-mode'] as string | undefined,
  }, requested);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const json = values.json === true;
  if (!json) log(`request read as ${readAs}${api === 'auto' ? ' (told by its fields; --api sets it)' : ''}; writing ${outputs.map(describeOutput).join(', ')}`);
  let done: GenerateToFilesResult;
  try {
    done = await generateToFiles({ model, request, api, outputs, device, maxMemory, json, log, imageEncoder: values['image-encoder'] as string | undefined, interpolator: values.rife as string | undefined });
  } catch (err) {
    if ((err as WanError).code === 'E_CANCELLED') {
      log(`${process.stderr.isTTY && !json ? '\n' : ''}cancelled; nothing was written`);
      return 130;
    }
    throw err;
  }
  for (const result of done.results) {
    const files = outputs.map((o) => resultPath(o.path, result.index));
    const summary = { result: result.index, files, frames: result.frames.length, width: result.width, height: result.height, fps: result.fps, seed: result.seed.toString(), seconds: result.timings.totalMs / 1000, forwards: result.forwards, memory: result.memory };
    if (json) process.stdout.write(`${JSON.stringify({ type: 'result', ...summary })}\n`);
    else {
      if (result.index === 0) for (const line of describeMemoryPlan(result.memory)) log(line);
      const cached = result.forwards.cache ? `; ${result.forwards.skipped} of ${result.forwards.computed + result.forwards.skipped} transformer calls cached (${result.forwards.cache})` : '';
      log(`wrote ${files.join(', ')}: ${summary.frames} frames ${summary.width}x${summary.height} at ${summary.fps} fps, seed ${summary.seed}, ${summary.seconds.toFixed(1)} s${cached}`);
    }
  }
  return 0;
}

