// The embedded queue: one SQLite file (better-sqlite3, WAL, synchronous FULL), workers inside the
// server process. A job is committed before submit() returns, so an accepted job survives a crash;
// a job found running when the queue opens belonged to a process that died, and runs again (up to
// maxAttempts runs in all).
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

import Database from 'better-sqlite3';

import type { BusEvent, JobError, JobHandler, JobLog, JobResult, JobSpec, JobStatus, JobView } from '../types.js';
import { cancelledError, errorOf } from '../job-errors.js';
import type { JobQueue, ListFilter, QueueOptions, WorkOptions, WorkerHandle } from './types.js';

interface Row {
  seq: number;
  id: string;
  spec: string;
  status: JobStatus;
  attempts: number;
  started_at: number | null;
  completed_at: number | null;
  progress: string | null;
  logs: string;
  results: string;
  error: string | null;
  key_id: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  api TEXT NOT NULL,
  model TEXT NOT NULL,
  key_id TEXT,
  spec TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  completed_at INTEGER,
  progress TEXT,
  logs TEXT NOT NULL DEFAULT '[]',
  results TEXT NOT NULL DEFAULT '[]',
  error TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, seq);
CREATE INDEX IF NOT EXISTS jobs_key ON jobs(key_id, status);
`;

export class SqliteQueue implements JobQueue {
  readonly kind = 'sqlite' as const;
  private readonly bus = new EventEmitter();
  private readonly running = new Map<string, AbortController>();
  private readonly wake = new EventEmitter();
  private closed = false;

  private constructor(private readonly db: Database.Database, private readonly opts: QueueOptions) {
    this.bus.setMaxListeners(0);
    this.wake.setMaxListeners(0);
  }

  static open(file: string, opts: QueueOptions): SqliteQueue {
    mkdirSync(dirname(resolve(file)), { recursive: true });
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('busy_timeout = 5000');
    db.exec(SCHEMA);
    const q = new SqliteQueue(db, opts);
    q.recover();
    return q;
  }

  /** Jobs left running by a process that died: queued again, or failed after maxAttempts runs. */
  private recover(): void {
    const rows = this.db.prepare(`SELECT id, attempts FROM jobs WHERE status = 'running'`).all() as Array<{ id: string; attempts: number }>;
    for (const r of rows) {
      if (r.attempts >= this.opts.maxAttempts) {
        const error: JobError = { code: 'E_NATIVE', message: `the process running this job stopped ${r.attempts} times; it is not run again (limits.maxAttempts ${this.opts.maxAttempts})` };
        this.db.prepare(`UPDATE jobs SET status = 'failed', completed_at = ?, error = ? WHERE id = ?`).run(Date.now(), JSON.stringify(error), r.id);
      } else {
        this.db.prepare(`UPDATE jobs SET status = 'queued', progress = NULL WHERE id = ?`).run(r.id);
      }
    }
  }

  async submit(specs: JobSpec[]): Promise<void> {
    const insert = this.db.prepare(`INSERT INTO jobs (id, api, model, key_id, spec, status, created_at) VALUES (?, ?, ?, ?, ?, 'queued', ?)`);
    this.db.transaction(() => {
      for (const s of specs) insert.run(s.id, s.api, s.model, s.keyId, JSON.stringify(s), s.createdAt);
    })();
    for (const s of specs) this.emit({ id: s.id, type: 'status', status: 'queued' });
    this.wake.emit('job');
  }

  private view(r: Row): JobView {
    const spec = JSON.parse(r.spec) as JobSpec;
    const queuePosition = r.status === 'queued' ? (this.db.prepare(`SELECT COUNT(*) AS n FROM jobs WHERE status = 'queued' AND seq < ?`).get(r.seq) as { n: number }).n : null;
    return {
      ...spec,
      status: r.status,
      attempts: r.attempts,
      startedAt: r.started_at,
      completedAt: r.completed_at,
      progress: r.progress ? JSON.parse(r.progress) : null,
      logs: JSON.parse(r.logs),
      results: JSON.parse(r.results),
      error: r.error ? JSON.parse(r.error) : null,
      queuePosition,
    };
  }

  async get(id: string): Promise<JobView | null> {
    const r = this.db.prepare(`SELECT * FROM jobs WHERE id = ?`).get(id) as Row | undefined;
    return r ? this.view(r) : null;
  }

  async list(f: ListFilter): Promise<JobView[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (f.keyId !== undefined) {
      where.push(f.keyId === null ? 'key_id IS NULL' : 'key_id = ?');
      if (f.keyId !== null) args.push(f.keyId);
    }
    if (f.api) (where.push('api = ?'), args.push(f.api));
    if (f.model) (where.push('model = ?'), args.push(f.model));
    if (f.status?.length) (where.push(`status IN (${f.status.map(() => '?').join(', ')})`), args.push(...f.status));
    const sql = `SELECT * FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...args, f.limit ?? 1000) as Row[]).map((r) => this.view(r));
  }

  async countActive(keyId: string): Promise<number> {
    return (this.db.prepare(`SELECT COUNT(*) AS n FROM jobs WHERE key_id = ? AND status IN ('queued', 'running')`).get(keyId) as { n: number }).n;
  }

  async cancel(id: string): Promise<JobView | null> {
    const r = this.db.prepare(`UPDATE jobs SET status = 'cancelled', completed_at = ?, error = ? WHERE id = ? AND status = 'queued'`).run(Date.now(), JSON.stringify(cancelledError()), id);
    if (r.changes) this.emit({ id, type: 'status', status: 'cancelled' });
    this.running.get(id)?.abort();
    return this.get(id);
  }

  subscribe(listener: (e: BusEvent) => void): () => void {
    this.bus.on('event', listener);
    return () => this.bus.off('event', listener);
  }

  private emit(e: BusEvent): void {
    this.bus.emit('event', e);
  }

  /** Takes the oldest queued job, or null. */
  private claim(): { spec: JobSpec; attempt: number } | null {
    return this.db.transaction(() => {
      const r = this.db.prepare(`SELECT id, spec, attempts FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1`).get() as { id: string; spec: string; attempts: number } | undefined;
      if (!r) return null;
      this.db.prepare(`UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = ?, logs = '[]' WHERE id = ?`).run(Date.now(), r.id);
      return { spec: JSON.parse(r.spec) as JobSpec, attempt: r.attempts + 1 };
    })();
  }

  private finish(id: string, status: JobStatus, results: JobResult[], error: JobError | null): void {
    this.db.prepare(`UPDATE jobs SET status = ?, completed_at = ?, results = ?, error = ? WHERE id = ? AND status = 'running'`).run(status, Date.now(), JSON.stringify(results), error ? JSON.stringify(error) : null, id);
    this.emit({ id, type: 'status', status });
  }

  work(handler: JobHandler, opts: WorkOptions = {}): WorkerHandle {
    let stopping = false;
    const loops: Promise<void>[] = [];
    const loop = async () => {
      while (!stopping && !this.closed) {
        const job = this.claim();
        if (!job) {
          await new Promise<void>((r) => {
            const t = setTimeout(done, 1000);
            function done() {
              clearTimeout(t);
              r();
            }
            this.wake.once('job', done);
          });
          continue;
        }
        await this.run(job.spec, job.attempt, handler);
        opts.onFinished?.(job.spec.id);
      }
    };
    for (let i = 0; i < (opts.concurrency ?? 1); i++) loops.push(loop());
    return {
      stop: async ({ abort } = {}) => {
        stopping = true;
        this.wake.emit('job');
        if (abort) for (const c of this.running.values()) c.abort();
        await Promise.all(loops);
      },
    };
  }

  private async run(spec: JobSpec, attempt: number, handler: JobHandler): Promise<void> {
    const controller = new AbortController();
    this.running.set(spec.id, controller);
    this.emit({ id: spec.id, type: 'status', status: 'running' });
    const logs: JobLog[] = [];
    const keep = (log: JobLog) => {
      logs.push(log);
      if (logs.length > this.opts.maxLogs) logs.splice(0, logs.length - this.opts.maxLogs);
    };
    const saveLogs = this.db.prepare(`UPDATE jobs SET logs = ? WHERE id = ?`);
    const saveProgress = this.db.prepare(`UPDATE jobs SET progress = ?, logs = ? WHERE id = ?`);
    try {
      const results = await handler(spec, {
        signal: controller.signal,
        attempt,
        progress: (p, log) => {
          keep(log);
          saveProgress.run(JSON.stringify(p), JSON.stringify(logs), spec.id);
          this.emit({ id: spec.id, type: 'progress', progress: p, log });
        },
        log: (log) => {
          keep(log);
          saveLogs.run(JSON.stringify(logs), spec.id);
          this.emit({ id: spec.id, type: 'log', log });
        },
        preview: (png) => this.emit({ id: spec.id, type: 'preview', png }),
      });
      this.finish(spec.id, 'succeeded', results, null);
    } catch (err) {
      const error = errorOf(err);
      this.finish(spec.id, error.code === 'E_CANCELLED' ? 'cancelled' : 'failed', [], error);
    } finally {
      this.running.delete(spec.id);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake.emit('job');
    this.db.close();
  }
}

