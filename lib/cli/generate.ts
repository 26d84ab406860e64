// wan-video generate: one request to one output, with progress on a terminal, plain lines otherwise,
// JSON lines with --json; Ctrl-C cancels cleanly.
import { readFile } from 'node:fs/promises';

import { WanError } from '../errors.js';
import type { JobEvent } from '../pipeline/job.js';
import { WanPipeline } from '../pipeline/wan-pipeline.js';
import { type FrameSink, type OutputFormat, openOutput } from '../video/output.js';
import { parseCommandArgs, parseDevice } from './args.js';

const FIELD_FLAGS = {
  prompt: { type: 'string' },
  'negative-prompt': { type: 'string' },
  width: { type: 'string' },
  height: { type: 'string' },
  frames: { type: 'string' },
  fps: { type: 'string' },
  steps: { type: 'string' },
  guidance: { type: 'string' },
  'guidance-2': { type: 'string' },
  shift: { type: 'string' },
  seed: { type: 'string' },
  scheduler: { type: 'string' },
  cache: { type: 'string' },
  'cache-threshold': { type: 'string' },
} as const;

const CANONICAL: Record<Exclude<keyof typeof FIELD_FLAGS, 'cache' | 'cache-threshold'>, string> = {
  prompt: 'prompt', 'negative-prompt': 'negativePrompt', width: 'width', height: 'height', frames: 'numFrames', fps: 'fps',
  steps: 'steps', guidance: 'guidanceScale', 'guidance-2': 'guidanceScale2', shift: 'shift', seed: 'seed', scheduler: 'scheduler',
};

/** Flags to a canonical request; numbers stay strings where they do not parse, so the schema names them. */
function requestFromFlags(values: Record<string, unknown>): Record<string, unknown> {
  const req: Record<string, unknown> = {};
  for (const [flag, field] of Object.entries(CANONICAL)) {
    const v = values[flag];
    if (v === undefined) continue;
    if (['prompt', 'negativePrompt', 'scheduler'].includes(field)) req[field] = v;
    else if (field === 'seed') req[field] = /^\d+$/.test(String(v)) ? BigInt(String(v)) : v;
    else req[field] = asNumber(v);
  }
  // --cache teacache|fbcache|dbcache [--cache-threshold X]: the step cache at the model's defaults or X.
  if (values.cache !== undefined) {
    req.cache = { kind: values.cache, ...(values['cache-threshold'] !== undefined ? { threshold: asNumber(values['cache-threshold']) } : {}) };
  } else if (values['cache-threshold'] !== undefined) {
    throw new WanError('E_INVALID_ARGUMENT', '--cache-threshold needs --cache teacache|fbcache|dbcache');
  }
  return req;
}

function asNumber(v: unknown): unknown {
  return Number.isFinite(Number(v)) && String(v).trim() !== '' ? Number(v) : v;
}

function progressLine(e: Extract<JobEvent, { type: 'step' }>, started: number): string {
  const done = e.index + 1;
  const elapsed = (performance.now() - started) / 1000;
  const eta = (elapsed / done) * (e.total - done);
  const width = 24;
  const bar = '#'.repeat(Math.round((done / e.total) * width)).padEnd(width, '.');
  const cached = e.cached ? ` (${e.cached}/${e.forwards} cached)` : '';
  return `[${bar}] step ${done}/${e.total} ${e.expert}${cached} ${(e.ms / 1000).toFixed(2)} s/step ETA ${eta.toFixed(0)} s`;
}

export async function runGenerate(args: string[]): Promise<number> {
  const { values } = parseCommandArgs(args, {
    model: { type: 'string' },
    request: { type: 'string' },
    out: { type: 'string' },
    format: { type: 'string' },
    quality: { type: 'string' },
    'write-mode': { type: 'string' },
    json: { type: 'boolean', default: false },
    device: { type: 'string' },
    ...FIELD_FLAGS,
  });
  if (!values.model) throw new WanError('E_INVALID_ARGUMENT', '--model DIR is required (a diffusers Wan folder)');
  if (!values.out) throw new WanError('E_INVALID_ARGUMENT', '--out FILE is required (.mp4, .webm, .mov, .png, or a folder for PNG frames)');
  let request: unknown;
  const flagged = requestFromFlags(values as Record<string, unknown>);
  if (values.request) {
    if (Object.keys(flagged).length) throw new WanError('E_INVALID_ARGUMENT', `--request cannot be combined with request flags (${Object.keys(flagged).join(', ')})`);
    try {
      request = JSON.parse(await readFile(values.request, 'utf8'));
    } catch (err) {
      throw new WanError('E_INVALID_ARGUMENT', `--request ${values.request}: ${err instanceof Error ? err.message : String(err)}`);
    }
  } else {
    request = flagged;
  }
  const quality = values.quality === undefined ? undefined : Number(values.quality);
  if (quality !== undefined && !(Number.isInteger(quality) && quality >= 20 && quality <= 99)) {
    throw new WanError('E_INVALID_ARGUMENT', `--quality ${values.quality}: expected an integer from 20 to 99`);
  }
  const writeMode = values['write-mode'] as 'fast' | 'balanced' | 'small' | undefined;
  if (writeMode !== undefined && !['fast', 'balanced', 'small'].includes(writeMode)) {
    throw new WanError('E_INVALID_ARGUMENT', `--write-mode ${writeMode}: expected fast, balanced or small`);
  }

  const tty = process.stderr.isTTY && !values.json;
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const pipe = await WanPipeline.load(values.model, { device: parseDevice(values.device) });
  const controller = new AbortController();
  const onSigint = () => {
    log(tty ? '\ncancelling...' : 'cancelling...');
    controller.abort();
  };
  process.once('SIGINT', onSigint);
  let sink: FrameSink | undefined;
  try {
    const job = pipe.generate(request, { signal: controller.signal });
    const started = performance.now();
    for await (const ev of job) {
      if (ev.type === 'frames') {
        sink ??= openOutput(values.out, { format: values.format as OutputFormat | undefined, fps: ev.fps, quality, writeMode });
        await sink.add(ev.frames, ev.width, ev.height);
      }
      if (values.json) {
        const line = ev.type === 'frames' ? { type: 'frames', index: ev.index, count: ev.frames.length, width: ev.width, height: ev.height } : ev.type === 'done' ? { type: 'done' } : ev;
        process.stdout.write(`${JSON.stringify(line, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
      } else if (ev.type === 'step') {
        if (tty) process.stderr.write(`\r${progressLine(ev, started)}`);
        else log(`step ${ev.index + 1}/${ev.total} expert=${ev.expert} computed=${ev.computed}/${ev.forwards} ${(ev.ms / 1000).toFixed(2)}s`);
      } else if (ev.type === 'warning') {
        log(`${tty ? '\n' : ''}warning: ${ev.message}`);
      } else if (ev.type === 'encode' && !tty) {
        log(`text encoded in ${ev.ms.toFixed(0)} ms (cache ${ev.cacheHits} hit, ${ev.cacheMisses} miss)`);
      }
    }
    const result = await job.result;
    const files = await sink!.finish();
    if (tty) process.stderr.write('\n');
    const summary = { files, frames: result.frames.length, width: result.width, height: result.height, fps: result.fps, seed: result.seed.toString(), seconds: result.timings.totalMs / 1000, forwards: result.forwards };
    if (values.json) process.stdout.write(`${JSON.stringify({ type: 'result', ...summary })}\n`);
    else log(`wrote ${files.length === 1 ? files[0] : `${files.length} files`}: ${summary.frames} frames ${summary.width}x${summary.height} at ${summary.fps} fps, seed ${summary.seed}, ${summary.seconds.toFixed(1)} s${result.forwards.cache ? `; ${result.forwards.skipped} of ${result.forwards.computed + result.forwards.skipped} transformer calls cached (${result.forwards.cache})` : ''}`);
    return 0;
  } catch (err) {
    sink?.abort();
    if ((err as WanError).code === 'E_CANCELLED') {
      log(`${tty ? '\n' : ''}cancelled; nothing was written`);
      return 130;
    }
    throw err;
  } finally {
    process.off('SIGINT', onSigint);
    await pipe.dispose();
  }
}
