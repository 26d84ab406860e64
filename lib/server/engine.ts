// How the server asks a pipeline for one request's videos: the API's own request goes to
// `generate(input, {signal, api})` (read with that API's ranges and defaults), which serves
// numberResults itself (`job.results`, events tagged with the result they belong to).
import type { GenerateResult, JobEvent } from '../pipeline/job.js';
import type { WanPipeline } from '../pipeline/wan-pipeline.js';
import type { RequestApi } from '../schemas/issues.js';

export type EngineEvent = JobEvent;

/** The result a step or frames event belongs to (0 for the job-wide events). */
const resultOf = (e: JobEvent): number => (e.type === 'step' || e.type === 'frames' ? e.result : 0);

export interface EngineResult {
  index: number;
  seed: bigint;
  width: number;
  height: number;
  fps: number;
  frames: number;
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
  const summary = (r: GenerateResult): EngineResult => ({ index: r.index, seed: r.seed, width: r.width, height: r.height, fps: r.fps, frames: r.frames.length });
  const job = pipe.generate(input, { signal: opts.signal, api: opts.api });
  for await (const e of job) await opts.onEvent(e, resultOf(e));
  return (await job.results).map(summary);
}
