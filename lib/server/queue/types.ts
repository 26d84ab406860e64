// The queue a server and its workers share: SQLite inside the server process by default, BullMQ
// over Redis to spread jobs over many workers. Both keep the same JobView for the API modules.
import type { ApiName, BusEvent, JobHandler, JobSpec, JobStatus, JobView } from '../types.js';

export interface ListFilter {
  keyId?: string | null;
  api?: ApiName;
  model?: string;
  status?: readonly JobStatus[];
  limit?: number;
}

export interface WorkerHandle {
  /** Stops taking jobs; a running one is cancelled when `abort` is set, else finished first. */
  stop(opts?: { abort?: boolean }): Promise<void>;
}

export interface WorkOptions {
  concurrency?: number;
  onFinished?: (id: string) => void;
}

export interface JobQueue {
  readonly kind: 'sqlite' | 'redis';
  /** Stores the jobs durably; resolves once they are on disk (SQLite) or in Redis. */
  submit(specs: JobSpec[]): Promise<void>;
  get(id: string): Promise<JobView | null>;
  list(filter: ListFilter): Promise<JobView[]>;
  /** Cancels a queued job at once, a running one through its worker; null when the id is unknown. */
  cancel(id: string): Promise<JobView | null>;
  /** Jobs of a key that are queued or running (the per-key limit). */
  countActive(keyId: string): Promise<number>;
  /** Every job event (status changes, steps, previews); returns the unsubscribe function. */
  subscribe(listener: (e: BusEvent) => void): () => void;
  /** Runs jobs with `handler`, `concurrency` at a time; `onFinished` hears of each job that ended here. */
  work(handler: JobHandler, opts?: WorkOptions): WorkerHandle;
  close(): Promise<void>;
}

export interface QueueOptions {
  maxAttempts: number;
  maxLogs: number;
  lockMs: number;
}

/** Opens the queue a --queue value names: redis:// or rediss:// -> BullMQ, anything else a SQLite file. */
export async function openQueue(where: string, opts: QueueOptions): Promise<JobQueue> {
  if (/^rediss?:\/\//.test(where)) {
    const { BullQueue } = await import('./bullmq.js');
    return BullQueue.open(where, opts);
  }
  const { SqliteQueue } = await import('./sqlite.js');
  return SqliteQueue.open(where, opts);
}
