// The BullMQ queue's job views against a real redis-server. A job read while it runs and looked at
// after it ended (the server's status poll racing the worker) must read as it ended: with its
// results, or with its error. The cluster test once saw a succeeded job with no results this way.
import { Queue } from 'bullmq';
import { Redis as IORedis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BullQueue } from '../../lib/server/queue/bullmq.js';
import type { JobResult, JobSpec, JobView } from '../../lib/server/types.js';
import { haveRedis, startRedis, until } from './helpers.js';

const spec = (id: string): JobSpec => ({
  id, api: 'oxen', model: 'tiny', modelId: 'tiny', input: {}, keyId: null, createdAt: Date.now(),
  delivery: { outputType: 'URL', ttlSeconds: 60, includeCost: false },
});
const result: JobResult = { index: 0, seed: '1', name: 'a.mp4', contentType: 'video/mp4', bytes: 1, width: 64, height: 64, frames: 5, fps: 16, expiresAt: 0 };

describe.skipIf(!haveRedis)('BullMQ queue views (needs redis-server)', () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let q: BullQueue;
  let raw: Queue;
  let conn: IORedis;
  beforeAll(async () => {
    redis = await startRedis();
    q = await BullQueue.open(redis.url, { maxAttempts: 2, maxLogs: 10, lockMs: 5000 });
    conn = new IORedis(redis.url, { maxRetriesPerRequest: null });
    raw = new Queue('jobs', { connection: conn, prefix: 'wan-video' });
  });
  afterAll(async () => {
    await raw?.close();
    conn?.disconnect();
    await q?.close();
    await redis?.stop();
  });

  // What the server holds when it read a job just before a worker ended it.
  const viewOfStale = (stale: NonNullable<Awaited<ReturnType<Queue['getJob']>>>) => (q as unknown as { view(j: typeof stale): Promise<JobView> }).view(stale);

  it('a job read before it ended reads as ended, with its results or its error', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const worker = q.work(async (s) => {
      await gate;
      if (s.id === 'bad') throw Object.assign(new Error('no such thing'), { code: 'E_INPUT' });
      return [result];
    }, { concurrency: 2 });
    await q.submit([spec('good'), spec('bad')]);
    await until(async () => (await q.get('good'))?.status === 'running' && (await q.get('bad'))?.status === 'running');
    const staleGood = (await raw.getJob('good'))!;
    const staleBad = (await raw.getJob('bad'))!;
    expect(staleGood.finishedOn).toBeUndefined();
    release();
    await until(async () => (await q.get('good'))?.status === 'succeeded' && (await q.get('bad'))?.status === 'failed');

    const good = await viewOfStale(staleGood);
    expect(good.status).toBe('succeeded');
    expect(good.results).toEqual([result]);
    const bad = await viewOfStale(staleBad);
    expect(bad.status).toBe('failed');
    expect(bad.error?.message).toMatch(/no such thing/);
    await worker.stop();
  }, 30_000);
});
