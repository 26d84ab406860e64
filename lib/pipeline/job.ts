// A generation job: an async iterable of events and promises of its results. Events are buffered
// so a consumer that starts late still sees every one. One cancellation path: cancel(), or the
// caller's AbortSignal, sets the job's flag (an Int32Array on a SharedArrayBuffer) that every
// native stage polls, between transformer blocks, steps and VAE chunks.
//
// A job holds on to nothing of the caller's once it has ended: it listens to the caller's signal
// only while it runs, so a long-lived signal shared by many jobs neither keeps their frames alive
// nor collects one listener per job.
import { WanError } from '../errors.js';
import type { ExpertResidency, MemoryPlan } from '../memory/plan.js';
import type { LoraLoadReport } from '../lora/apply.js';
import type { TrajectoryPreview } from './previews.js';

export type JobEvent =
  | { type: 'encode'; ms: number; cacheHits: number; cacheMisses: number; encoderLoads: number }
  | {
      type: 'step';
      /** Which result (0-based) this step belongs to. */
      result: number;
      index: number;
      total: number;
      timestep: number;
      expert: 'high-noise' | 'low-noise';
      /** Transformer calls this step (2 with guidance). */
      forwards: number;
      /** Calls that ran every block. */
      computed: number;
      /** Calls served by the step cache (TeaCache: no block ran; First Block Cache: block 0 only; DBCache: the first Fn and last Bn blocks only). */
      cached: number;
      ms: number;
    }
  | { type: 'frames'; result: number; index: number; frames: Buffer[]; width: number; height: number; fps: number }
  | { type: 'warning'; message: string }
  | { type: 'done'; result: GenerateResult; results: GenerateResult[] };

/** One video of a job. */
export interface GenerateResult {
  /** Its place among the job's results (numberResults), 0-based. */
  index: number;
  /** Its seed: the request's seed + index. */
  seed: bigint;
  /** RGB uint8 frames, width x height x 3 bytes each. */
  frames: Buffer[];
  width: number;
  height: number;
  fps: number;
  /** 'single', or for a Wan2.2 A14B pair 'both-resident' / 'one-resident' (see ExpertPlacement). */
  experts: ExpertResidency;
  /** The request's memory plan: weights per component, activations, placements, peak vs budget (lib/memory/plan.ts). */
  memory: MemoryPlan;
  /** Transformer calls that ran every block, and those the step cache served; `cache` says which cache ran with what settings (null: none). */
  forwards: { computed: number; skipped: number; cache: string | null };
  /** What each LoRA matched and skipped, per expert, and what merging cost (empty lists without LoRAs); merged once per job. */
  loras: LoraLoadReport;
  /** The job's warnings. */
  warnings: string[];
  /** With GenerateOptions.previewSteps: the initial noise and the x0 predictions at those steps, first frame decoded. */
  previews?: TrajectoryPreview[];
  /** encodeMs and the cache counts are the job's (text is encoded once); totalMs runs from the job's start to this result's end. */
  timings: { encodeMs: number; denoiseMs: number; decodeMs: number; totalMs: number; stepMs: number[]; cacheHits: number; cacheMisses: number };
}

/** What the work of a job sees. */
export interface JobContext {
  emit(e: JobEvent): void;
  /** Aborted when the job is cancelled. */
  signal: AbortSignal;
  /** Element 0 becomes 1 when the job is cancelled; pass it to every native call of the job. */
  cancelFlag: Int32Array;
  /** Throws E_CANCELLED once the job was cancelled. */
  throwIfCancelled(): void;
}

export const cancelledError = () => new WanError('E_CANCELLED', 'the job was cancelled');

export class Job implements AsyncIterable<JobEvent> {
  /** Every result, in order, once the job has ended. */
  readonly results: Promise<GenerateResult[]>;
  /** The first result, once the job has ended (with `results`). */
  readonly result: Promise<GenerateResult>;
  private readonly events: JobEvent[] = [];
  private waiters: Array<() => void> = [];
  private finished = false;
  private failure: unknown;
  private readonly abort = new AbortController();

  /**
   * `run` starts once `after` has settled (the pipeline's previous job): jobs run one at a time.
   * The caller's `signal` is listened to only while `run` runs; a job whose signal aborted while it
   * waited ends with E_CANCELLED as soon as its turn comes.
   */
  constructor(run: (ctx: JobContext) => Promise<GenerateResult[]>, signal?: AbortSignal, after: Promise<unknown> = Promise.resolve()) {
    const cancelFlag = new Int32Array(new SharedArrayBuffer(4));
    const inner = this.abort.signal;
    inner.addEventListener('abort', () => Atomics.store(cancelFlag, 0, 1), { once: true });
    const ctx: JobContext = {
      emit: (e) => this.push(e),
      signal: inner,
      cancelFlag,
      throwIfCancelled: () => {
        if (inner.aborted) throw cancelledError();
      },
    };
    const start = async (): Promise<GenerateResult[]> => {
      await after.catch(() => undefined);
      if (signal?.aborted) this.abort.abort();
      ctx.throwIfCancelled();
      const onAbort = () => this.abort.abort();
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        return await run(ctx);
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    };
    this.results = start().then(
      (r) => {
        this.push({ type: 'done', result: r[0], results: r });
        this.finish();
        return r;
      },
      (err: unknown) => {
        this.failure = err;
        this.finish();
        throw err as WanError;
      },
    );
    this.result = this.results.then((r) => r[0]);
    // Both promises are also consumed through iteration; do not report them as unhandled.
    this.results.catch(() => undefined);
    this.result.catch(() => undefined);
  }

  /** Stops the job within about a second (between transformer blocks, steps, VAE chunks); `results` rejects with E_CANCELLED. */
  cancel(): void {
    this.abort.abort();
  }

  private push(e: JobEvent): void {
    this.events.push(e);
    this.wake();
  }

  private finish(): void {
    this.finished = true;
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<JobEvent> {
    let i = 0;
    for (;;) {
      if (i < this.events.length) {
        yield this.events[i++];
        continue;
      }
      if (this.finished) {
        if (this.failure !== undefined) throw this.failure;
        return;
      }
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }
}
