// PipelinePool (lib/server/pool.ts): a worker's loaded pipelines under memoryBudgetBytes. Real
// loads of the tiny demo model (about 0.1 s each) under several names, with a budget sized from
// the model's own estimate: the least recently used idle pipeline is released (disposed) when a new
// one would not fit, a busy one never is, and one model is loaded once however many jobs ask at once.
import { rmSync } from 'node:fs';

import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import type { WanPipeline } from '../../lib/pipeline/wan-pipeline.js';
import { PipelinePool, inspectModel } from '../../lib/server/pool.js';
import { oxenSmall, tempDir, tinyModel } from './helpers.js';

let model: string;
let bytes: number;
let pool: PipelinePool | undefined;

beforeAll(async () => {
  model = await tinyModel();
  ({ bytes } = await inspectModel(model));
  expect(bytes).toBeGreaterThan(0);
});
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

/** A pool of the tiny model under the names given, with room for `fit` of them. */
function poolOf(names: string[], fit: number): PipelinePool {
  const models = Object.fromEntries(names.map((n) => [n, { path: model, ids: [] }]));
  pool = new PipelinePool(models, { device: 'cpu', memoryBudgetBytes: Math.floor(bytes * fit) });
  return pool;
}

/** Whether a pipeline still serves (a disposed one refuses every request). */
async function alive(pipe: WanPipeline): Promise<boolean> {
  return pipe.plan(oxenSmall(), { api: 'oxen' }).then(
    () => true,
    (err: Error) => {
      if (/disposed/.test(err.message)) return false;
      throw err;
    },
  );
}

/** Acquires and at once releases, returning the pipeline; a pause keeps the use times apart. */
async function use(p: PipelinePool, name: string): Promise<WanPipeline> {
  const { pipe, release } = await p.acquire(name);
  release();
  await new Promise((r) => setTimeout(r, 5));
  return pipe;
}

describe('PipelinePool under memoryBudgetBytes', () => {
  it('releases the least recently used idle pipeline when a new one would not fit', async () => {
    const p = poolOf(['a', 'b', 'c'], 2.5); // room for two
    const a = await use(p, 'a');
    const b = await use(p, 'b');
    expect(p.loaded()).toEqual(['a', 'b']);
    expect(await use(p, 'a')).toBe(a); // a used again: b is now the least recently used
    const c = await use(p, 'c');
    expect(p.loaded().sort()).toEqual(['a', 'c']);
    expect(await alive(b)).toBe(false);
    expect(await alive(a)).toBe(true);
    expect(await alive(c)).toBe(true);
    // b comes back as a fresh load, and now a (used before c) makes room for it
    const b2 = await use(p, 'b');
    expect(b2).not.toBe(b);
    expect(p.loaded().sort()).toEqual(['b', 'c']);
    expect(await alive(a)).toBe(false);
  });

  it('never releases a pipeline a job holds: the budget is exceeded instead, and idle ones go at the next load', async () => {
    const p = poolOf(['a', 'b', 'c'], 1.5); // room for one
    const held = await p.acquire('a');
    const b = await use(p, 'b');
    expect(p.loaded().sort()).toEqual(['a', 'b']); // a busy: both loaded, over budget
    expect(await alive(held.pipe)).toBe(true);
    expect(await alive(b)).toBe(true);
    held.release();
    held.release(); // a second release of the same lease changes nothing
    const c = await use(p, 'c'); // both idle now: both released to fit c
    expect(p.loaded()).toEqual(['c']);
    expect(await alive(held.pipe)).toBe(false);
    expect(await alive(b)).toBe(false);
    expect(await alive(c)).toBe(true);
  });

  it('loads a model once when several jobs ask for it at the same time', async () => {
    const p = poolOf(['a', 'b'], 1.5);
    const leases = await Promise.all([p.acquire('a'), p.acquire('a'), p.acquire('a')]);
    expect(new Set(leases.map((l) => l.pipe)).size).toBe(1);
    expect(p.loaded()).toEqual(['a']);
    for (const l of leases.slice(1)) l.release();
    // still held once: b does not push it out
    const b = await use(p, 'b');
    expect(p.loaded().sort()).toEqual(['a', 'b']);
    expect(await alive(leases[0].pipe)).toBe(true);
    leases[0].release();
  });

  it('refuses a model that is not configured, and forgets one whose folder does not load', async () => {
    const p = poolOf(['a'], 2);
    await expect(p.acquire('zz')).rejects.toThrow(/model "zz" is not configured on this worker \(configured: a\)/);
    await p.close();
    const empty = tempDir('wan-pool-'); // not a model folder
    pool = new PipelinePool({ bad: { path: empty, ids: [] }, a: { path: model, ids: [] } }, { device: 'cpu', memoryBudgetBytes: bytes * 2 });
    for (let i = 0; i < 2; i++) {
      const both = await Promise.allSettled([pool.acquire('bad'), pool.acquire('bad')]);
      expect(both.map((r) => r.status)).toEqual(['rejected', 'rejected']);
      expect(pool.loaded()).toEqual([]);
    }
    await use(pool, 'a');
    expect(pool.loaded()).toEqual(['a']);
    rmSync(empty, { recursive: true, force: true });
  });
});
