// The queue for many workers: BullMQ over Redis. Each `wan-video worker` process takes one job at a
// time per device and renews its lock while it runs (the generation runs off the event loop, so
// renewals keep coming); a worker that dies stops renewing, the job is found stalled after `lockMs`
// and another worker runs it again, up to maxAttempts runs. Results and errors are the BullMQ job's
// return value and failure reason; steps, logs and previews also go out on a Redis channel the
// server relays to its streams. Cancellation is a Redis key (checked before a job starts) and a
// message on that channel (for the worker running it).
import { EventEmitter } from 'node:events';

import { type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis as IORedis } from 'ioredis';

import { cancelledError, errorOf } from '../job-errors.js';
import type { BusEvent, JobError, JobHandler, JobLog, JobProgress, JobResult, JobSpec, JobStatus, JobView } from '../types.js';
import type { JobQueue, ListFilter, QueueOptions, WorkOptions, WorkerHandle } from './types.js';

const PREFIX = 'wan-video';
const NAME = 'jobs';
const CHANNEL = `${PREFIX}:events`;
const cancelKey = (id: string) => `${PREFIX}:cancel:${id}`;
/** Runs of a job, counted here (BullMQ's own counters do not count a run its stalled worker never finished). */
const runsKey = (id: string) => `${PREFIX}:runs:${id}`;
const CANCEL_TTL_S = 7 * 24 * 3600;

type Message = BusEvent | { id: string; type: 'cancel' };
interface Stored {
  progress: JobProgress | null;
  logs: JobLog[];
}

const connect = (url: string) => new IORedis(url, { maxRetriesPerRequest: null });

export class BullQueue implements JobQueue {
  readonly kind = 'redis' as const;
  private readonly bus = new EventEmitter();
  private readonly cancels = new EventEmitter();
  private readonly connections: IORedis[] = [];
  private readonly workers: Worker[] = [];

  private constructor(
    private readonly url: string,
    private readonly queue: Queue,
    private readonly redis: IORedis,
    private readonly sub: IORedis,
    private readonly opts: QueueOptions,
  ) {
    this.bus.setMaxListeners(0);
    this.cancels.setMaxListeners(0);
  }

  static async open(url: string, opts: QueueOptions): Promise<BullQueue> {
    const redis = connect(url);
    const sub = connect(url);
    const qc = connect(url);
    const queue = new Queue(NAME, { connection: qc, prefix: PREFIX });
    const q = new BullQueue(url, queue, redis, sub, opts);
    q.connections.push(redis, sub, qc);
    await sub.subscribe(CHANNEL);
    sub.on('message', (_channel: string, text: string) => {
      let m: Message;
      try {
        m = JSON.parse(text) as Message;
      } catch {
        return;
      }
      if (m.type === 'cancel') q.cancels.emit(m.id, m.id);
      else q.bus.emit('event', m);
    });
    await queue.waitUntilReady();
    return q;
  }

  private publish(m: Message): void {
    this.redis.publish(CHANNEL, JSON.stringify(m)).catch(() => undefined);
  }

  async submit(specs: JobSpec[]): Promise<void> {
    await this.queue.addBulk(specs.map((s) => ({ name: 'generate', data: s, opts: { jobId: s.id, removeOnComplete: false, removeOnFail: false, attempts: 1 } })));
    for (const s of specs) this.publish({ id: s.id, type: 'status', status: 'queued' });
  }

  private async view(fetched: Job, waitingIds?: string[]): Promise<JobView> {
    let job = fetched;
    const spec = job.data as JobSpec;
    const state = await job.getState();
    // The job's fields were read before its state: a job that ended in between reads as ended with
    // no return value or failure reason (a succeeded job with no results). Read it again: once it
    // has ended, its fields no longer change.
    if ((state === 'completed' || state === 'failed') && !job.finishedOn) job = (await this.queue.getJob(spec.id)) ?? job;
    const cancelled = (await this.redis.exists(cancelKey(spec.id))) === 1;
    let error: JobError | null = null;
    if (job.failedReason) {
      try {
        error = JSON.parse(job.failedReason) as JobError;
      } catch {
        error = { code: 'E_NATIVE', message: job.failedReason.startsWith('job stalled') ? `the worker running this job stopped ${this.opts.maxAttempts} times; it is not run again` : 'internal error (see the worker log)' };
      }
    }
    let status: JobStatus;
    if (state === 'completed') status = 'succeeded';
    else if (state === 'failed') status = error?.code === 'E_CANCELLED' ? 'cancelled' : 'failed';
    else if (state === 'active') status = 'running';
    else status = cancelled ? 'cancelled' : 'queued';
    if (status === 'cancelled' && !error) error = cancelledError();
    let queuePosition: number | null = null;
    if (status === 'queued') {
      if (waitingIds) queuePosition = Math.max(0, waitingIds.indexOf(spec.id));
      else {
        // The wait list is pushed on the left and taken from the right: the position is from the right.
        const key = `${PREFIX}:${NAME}:wait`;
        const [at, len] = await Promise.all([this.redis.lpos(key, spec.id), this.redis.llen(key)]);
        queuePosition = at === null ? 0 : len - 1 - at;
      }
    }
    const stored = (job.progress && typeof job.progress === 'object' ? job.progress : { progress: null, logs: [] }) as Stored;
    return {
      ...spec,
      status,
      attempts: Number((await this.redis.get(runsKey(spec.id))) ?? 0),
      startedAt: job.processedOn ?? null,
      completedAt: status === 'cancelled' && !job.finishedOn ? Date.now() : (job.finishedOn ?? null),
      progress: stored.progress ?? null,
      logs: stored.logs ?? [],
      results: status === 'succeeded' ? ((job.returnvalue as JobResult[]) ?? []) : [],
      error,
      queuePosition,
    };
  }

  async get(id: string): Promise<JobView | null> {
    const job = await this.queue.getJob(id);
    return job ? this.view(job) : null;
  }

  async list(f: ListFilter): Promise<JobView[]> {
    const jobs = await this.queue.getJobs(['wait', 'prioritized', 'delayed', 'active', 'completed', 'failed'], 0, (f.limit ?? 1000) - 1, false);
    const waitingIds = (await this.queue.getJobs(['wait', 'prioritized'], 0, -1, true)).map((j) => j.id ?? '');
    const out: JobView[] = [];
    for (const j of jobs) {
      const s = j.data as JobSpec;
      if (f.keyId !== undefined && s.keyId !== f.keyId) continue;
      if (f.api && s.api !== f.api) continue;
      if (f.model && s.model !== f.model) continue;
      const v = await this.view(j, waitingIds);
      if (f.status?.length && !f.status.includes(v.status)) continue;
      out.push(v);
    }
    return out.sort((a, b) => b.createdAt - a.createdAt);
  }

  async countActive(keyId: string): Promise<number> {
    const jobs = await this.queue.getJobs(['wait', 'prioritized', 'delayed', 'active'], 0, -1, true);
    let n = 0;
    for (const j of jobs) {
      if ((j.data as JobSpec).keyId !== keyId) continue;
      if ((await this.redis.exists(cancelKey(j.id ?? ''))) === 1) continue;
      n++;
    }
    return n;
  }

  async cancel(id: string): Promise<JobView | null> {
    const job = await this.queue.getJob(id);
    if (!job) return null;
    const state = await job.getState();
    if (state === 'completed' || state === 'failed') return this.view(job);
    await this.redis.set(cancelKey(id), '1', 'EX', CANCEL_TTL_S);
    this.publish({ id, type: 'cancel' });
    if (state !== 'active') this.publish({ id, type: 'status', status: 'cancelled' });
    return this.view(job);
  }

  subscribe(listener: (e: BusEvent) => void): () => void {
    this.bus.on('event', listener);
    return () => this.bus.off('event', listener);
  }

  work(handler: JobHandler, opts: WorkOptions = {}): WorkerHandle {
    const controllers = new Map<string, AbortController>();
    const onCancel = (id: string) => controllers.get(id)?.abort();
    const wc = connect(this.url);
    this.connections.push(wc);
    const worker = new Worker(
      NAME,
      async (job: Job) => {
        const spec = job.data as JobSpec;
        // Listen first, then look at the key: a cancel lands either in the key or on the listener.
        const controller = new AbortController();
        controllers.set(spec.id, controller);
        this.cancels.on(spec.id, onCancel);
        if ((await this.redis.exists(cancelKey(spec.id))) === 1) {
          controllers.delete(spec.id);
          this.cancels.off(spec.id, onCancel);
          throw new UnrecoverableError(JSON.stringify(cancelledError()));
        }
        const attempt = await this.redis.incr(runsKey(spec.id));
        await this.redis.expire(runsKey(spec.id), CANCEL_TTL_S);
        this.publish({ id: spec.id, type: 'status', status: 'running' });
        const stored: Stored = { progress: null, logs: [] };
        const keep = (log: JobLog) => {
          stored.logs.push(log);
          if (stored.logs.length > this.opts.maxLogs) stored.logs.splice(0, stored.logs.length - this.opts.maxLogs);
        };
        try {
          return await handler(spec, {
            signal: controller.signal,
            attempt,
            progress: (p, log) => {
              stored.progress = p;
              keep(log);
              job.updateProgress({ ...stored }).catch(() => undefined);
              this.publish({ id: spec.id, type: 'progress', progress: p, log });
            },
            log: (log) => {
              keep(log);
              job.updateProgress({ ...stored }).catch(() => undefined);
              this.publish({ id: spec.id, type: 'log', log });
            },
            preview: (png) => this.publish({ id: spec.id, type: 'preview', png }),
          });
        } catch (err) {
          // Generation errors are deterministic: retrying would fail the same way.
          throw new UnrecoverableError(JSON.stringify(errorOf(err)));
        } finally {
          controllers.delete(spec.id);
          this.cancels.off(spec.id, onCancel);
        }
      },
      {
        connection: wc,
        prefix: PREFIX,
        concurrency: opts.concurrency ?? 1,
        lockDuration: this.opts.lockMs,
        stalledInterval: Math.max(500, Math.floor(this.opts.lockMs / 2)),
        maxStalledCount: this.opts.maxAttempts - 1,
      },
    );
    worker.on('completed', (job) => {
      this.publish({ id: job.id ?? '', type: 'status', status: 'succeeded' });
      opts.onFinished?.(job.id ?? '');
    });
    worker.on('failed', (job) => {
      if (!job) return;
      let code = '';
      try {
        code = (JSON.parse(job.failedReason) as JobError).code;
      } catch {
        /* a stalled job's reason is plain text */
      }
      this.publish({ id: job.id ?? '', type: 'status', status: code === 'E_CANCELLED' ? 'cancelled' : 'failed' });
      opts.onFinished?.(job.id ?? '');
    });
    worker.on('error', (err) => console.error('wan-video worker:', err.message));
    this.workers.push(worker);
    return {
      stop: async ({ abort } = {}) => {
        if (abort) for (const c of controllers.values()) c.abort();
        await worker.close();
      },
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close().catch(() => undefined)));
    await this.queue.close();
    for (const c of this.connections) c.disconnect();
  }
}
