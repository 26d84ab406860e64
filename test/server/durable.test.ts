// The embedded queue survives its process: `wan-video serve` killed with SIGKILL while jobs are
// queued and one is running comes back on the same SQLite file, runs every accepted job (the
// interrupted one again), and loses or duplicates none. Also: 50 cancelled jobs leave the
// process's memory flat.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { KEY, decodedFrames, freePort, oxenSmall, spawnCli, startServer, tempDir, tinyModel, until } from './helpers.js';

const headers = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };

describe('SQLite queue across a crash', () => {
  const dir = tempDir();
  afterAll(() => undefined);

  it('runs every accepted job once after kill -9 and a restart, the interrupted one again', async () => {
    const port = await freePort();
    const args = ['serve', '--model', `tiny=${await tinyModel()}`, '--port', String(port), '--api-key', KEY, '--queue', join(dir, 'q.sqlite'), '--storage', join(dir, 'out'), '--device', 'cpu'];
    const first = spawnCli(args);
    await first.waitFor(/listening on/);
    const url = `http://127.0.0.1:${port}`;
    // A slower job first (it is the one interrupted), then quick ones queued behind it.
    const slow = oxenSmall({ width: 128, height: 128, num_frames: 17, num_inference_steps: 30, seed: 1 });
    const ids: string[] = [];
    for (const body of [slow, ...Array.from({ length: 5 }, (_, i) => oxenSmall({ seed: 10 + i }))]) {
      const r = await fetch(`${url}/api/ai/queue`, { method: 'POST', headers, body: JSON.stringify(body) });
      ids.push(((await r.json()) as { generations: Array<{ generation_id: string }> }).generations[0].generation_id);
    }
    // Kill it while the slow job is between its steps.
    await until(async () => {
      const j = (await (await fetch(`${url}/jobs/${ids[0]}`, { headers })).json()) as { progress: { step: number } | null };
      return (j.progress?.step ?? 0) >= 2;
    }, 60_000, 50);
    await first.kill('SIGKILL');

    const second = spawnCli(args);
    await second.waitFor(/listening on/);
    try {
      const done = await until(async () => {
        const views = await Promise.all(ids.map(async (id) => (await (await fetch(`${url}/jobs/${id}`, { headers })).json()) as { status: string; attempts: number; results: Array<{ name: string }> }));
        return views.every((v) => v.status === 'succeeded') ? views : null;
      }, 120_000, 200);
      expect(done[0].attempts).toBe(2);
      for (const v of done.slice(1)) expect(v.attempts).toBe(1);
      const files = readdirSync(join(dir, 'out')).filter((f) => f.endsWith('.mp4'));
      expect(files.sort()).toEqual(done.map((v) => v.results[0].name).sort());
      expect(decodedFrames(join(dir, 'out', done[0].results[0].name))).toBe(17);
    } finally {
      await second.kill('SIGTERM');
    }
  });
});

describe('memory', () => {
  it('stays flat over 50 jobs cancelled while they run', async () => {
    const t = await startServer();
    try {
      const job = oxenSmall({ width: 128, height: 128, num_frames: 17, num_inference_steps: 40 });
      const cancelOne = async () => {
        const r = await fetch(`${t.url}/api/ai/queue`, { method: 'POST', headers, body: JSON.stringify(job) });
        const id = ((await r.json()) as { generations: Array<{ generation_id: string }> }).generations[0].generation_id;
        await new Promise<void>((resolve) => {
          const off = t.server.state.queue.subscribe((e) => {
            if (e.id === id && e.type === 'progress') (off(), resolve());
          });
        });
        await fetch(`${t.url}/api/ai/queue/${id}`, { method: 'DELETE', headers });
        await until(async () => ((await (await fetch(`${t.url}/api/ai/queue/${id}`, { headers })).json()) as { status: string }).status === 'cancelled', 30_000, 20);
      };
      for (let i = 0; i < 10; i++) await cancelOne();
      global.gc?.();
      const before = process.memoryUsage().rss;
      for (let i = 0; i < 50; i++) await cancelOne();
      global.gc?.();
      const grown = process.memoryUsage().rss - before;
      process.stderr.write(`memory test: RSS ${(before / 2 ** 20).toFixed(0)} MiB before 50 cancels, grew ${(grown / 2 ** 20).toFixed(1)} MiB\n`);
      expect(grown).toBeLessThan(48 * 2 ** 20);
    } finally {
      await t.close();
    }
  });
});
