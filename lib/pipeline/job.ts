// A generation job: an async iterable of events and a promise of the result. Events are buffered
// so a consumer that starts late still sees every one; cancel() stops the native work between
// steps or VAE chunks.
import type { WanError } from '../errors.js';
import type { LoraLoadReport } from '../lora/apply.js';

export type JobEvent =
  | { type: 'encode'; ms: number; cacheHits: number; cacheMisses: number; encoderLoads: number }
  | {
      type: 'step';
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
  | { type: 'frames'; index: number; frames: Buffer[]; width: number; height: number; fps: number }
  | { type: 'warning'; message: string }
  | { type: 'done'; result: GenerateResult };

export interface GenerateResult {
  /** RGB uint8 frames, width x height x 3 bytes each. */
  frames: Buffer[];
  width: number;
  height: number;
  fps: number;
  seed: bigint;
  /** 'single', or 'both-resident' for a Wan2.2 A14B pair (see ExpertPlacement). */
  experts: 'single' | 'both-resident';
  /** Transformer calls that ran every block, and those the step cache served; `cache` says which cache ran with what settings (null: none). */
  forwards: { computed: number; skipped: number; cache: string | null };
  /** What each LoRA matched and skipped, per expert, and what merging cost (empty lists without LoRAs). */
  loras: LoraLoadReport;
  warnings: string[];
  timings: { encodeMs: number; denoiseMs: number; decodeMs: number; totalMs: number; stepMs: number[]; cacheHits: number; cacheMisses: number };
}

export class Job implements AsyncIterable<JobEvent> {
  readonly result: Promise<GenerateResult>;
  private readonly events: JobEvent[] = [];
  private waiters: Array<() => void> = [];
  private finished = false;
  private failure: unknown;
  private readonly abort = new AbortController();

  constructor(run: (ctx: { emit: (e: JobEvent) => void; signal: AbortSignal }) => Promise<GenerateResult>, signal?: AbortSignal) {
    if (signal) {
      if (signal.aborted) this.abort.abort();
      else signal.addEventListener('abort', () => this.abort.abort(), { once: true });
    }
    this.result = run({ emit: (e) => this.push(e), signal: this.abort.signal }).then(
      (r) => {
        this.push({ type: 'done', result: r });
        this.finish();
        return r;
      },
      (err: unknown) => {
        this.failure = err;
        this.finish();
        throw err as WanError;
      },
    );
    // The result promise is also consumed through iteration; do not report it as unhandled twice.
    this.result.catch(() => undefined);
  }

  /** Stops the job within one step or one VAE chunk; `result` rejects with E_CANCELLED. */
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
