// How the server asks a pipeline for one request's videos. Written against the public API; two
// shapes of it are handled here and nowhere else, so the switch at merge time is this file:
//  - a pipeline with `plan()` takes the API's own request (`generate(input, {signal, api})`) and
//    serves numberResults itself (`job.results`, events tagged with `result`);
//  - the pipeline without it takes a canonical request and one result per job: the request is
//    normalized here (with the API named, so a shape is never guessed) and numberResults runs as
//    that many jobs with seeds seed, seed + 1, ... (seedsFor), as the one-job path would.
import type { GenerateResult, Job, JobEvent } from '../pipeline/job.js';
import type { WanPipeline } from '../pipeline/wan-pipeline.js';
import { normalizeRequest, seedsFor } from '../schemas/normalize.js';
import type { RequestApi } from '../schemas/issues.js';

export type EngineEvent = JobEvent;

/** The result index pipeline-core tags step and frames events with (0 when absent). */
const resultOf = (e: JobEvent): number => {
  const r = e.type === 'done' ? undefined : (e as unknown as { result?: unknown }).result;
  return typeof r === 'number' ? r : 0;
};

export interface EngineResult {
  index: number;
  seed: bigint;
  width: number;
  height: number;
  fps: number;
  frames: number;
}

type NewJob = Job & { results?: Promise<GenerateResult[]> };
type NewPipeline = WanPipeline & {
  plan?: (request: unknown, opts: { api?: RequestApi }) => unknown;
  generate(request: unknown, opts: { signal?: AbortSignal; api?: RequestApi }): NewJob;
};

/** True when the pipeline takes API-shaped requests and several results per job (pipeline-core's API). */
export function takesApiRequests(pipe: WanPipeline): boolean {
  return typeof (pipe as NewPipeline).plan === 'function';
}

/**
 * Runs `input` (a request in `api`'s shape) and hands every event to `onEvent` with the index of the
 * result it belongs to. Resolves with one entry per result.
 */
export async function runRequest(
  pipe: WanPipeline,
  input: Record<string, unknown>,
  opts: { api: RequestApi; signal: AbortSignal; onEvent: (e: EngineEvent, result: number) => void | Promise<void> },
): Promise<EngineResult[]> {
  const p = pipe as NewPipeline;
  const summary = (r: GenerateResult, index: number): EngineResult => ({ index, seed: r.seed, width: r.width, height: r.height, fps: r.fps, frames: r.frames.length });
  if (takesApiRequests(pipe)) {
    const job = p.generate(input, { signal: opts.signal, api: opts.api });
    for await (const e of job) await opts.onEvent(e, resultOf(e));
    const results = job.results ? await job.results : [await job.result];
    return results.map((r, i) => summary(r, (r as GenerateResult & { index?: number }).index ?? i));
  }
  const { request, warnings } = normalizeRequest(input, { api: opts.api });
  for (const message of warnings) await opts.onEvent({ type: 'warning', message }, 0);
  const out: EngineResult[] = [];
  const seeds = seedsFor(request);
  for (let i = 0; i < seeds.length; i++) {
    const job = p.generate({ ...request, seed: seeds[i], numberResults: 1 }, { signal: opts.signal });
    for await (const e of job) if (e.type !== 'warning' || i === 0) await opts.onEvent(e, i);
    out.push(summary(await job.result, i));
  }
  return out;
}
