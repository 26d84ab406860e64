// Scale-out on BullMQ: a private redis-server, `wan-video serve --queue redis://...` and three
// `wan-video worker` processes. 200 requests through the three APIs; one worker killed with SIGKILL
// in the middle of a job (another runs it again); the server killed and restarted (the queue goes
// on). Every job ends succeeded, with exactly one file per result.
import { randomUUID } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type Child, KEY, decodedFrames, freePort, haveRedis, oxenSmall, spawnCli, startRedis, tempDir, tinyModel, until } from './helpers.js';

const t0 = Date.now();
const stage = (what: string) => process.stderr.write(`cluster test: ${what} after ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
const headers = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };

describe.skipIf(!haveRedis)('BullMQ queue with three workers (needs redis-server)', () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let server: Child;
  let serverArgs: string[];
  const workers: Child[] = [];
  const dir = tempDir('wan-cluster-');
  let url = '';

  beforeAll(async () => {
    redis = await startRedis();
    const model = `tiny=${await tinyModel()}`;
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    // A worker that stops renewing its lock for 5 s is taken for dead.
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ lockMs: 5000, limits: { jobsPerKey: 1000 } }));
    serverArgs = ['serve', '--config', join(dir, 'config.json'), '--model', model, '--port', String(port), '--api-key', KEY, '--queue', redis.url, '--storage', join(dir, 'out'), '--device', 'cpu'];
    server = spawnCli(serverArgs);
    await server.waitFor(/listening on/);
    for (let i = 0; i < 3; i++) {
      const w = spawnCli(['worker', '--config', join(dir, 'config.json'), '--queue', redis.url, '--model', model, '--storage', join(dir, 'out'), '--public-url', url, '--device', 'cpu']);
      await w.waitFor(/worker: ready/);
      workers.push(w);
    }
  });
  afterAll(async () => {
    for (const w of workers) await w.kill('SIGTERM');
    await server?.kill('SIGTERM');
    await redis?.stop();
  });

  const job = async (id: string) => (await (await fetch(`${url}/jobs/${id}`, { headers })).json()) as { status: string; attempts: number; logs: Array<{ message: string }>; progress: { step: number } | null; results: Array<{ name: string }> };

  it('serves 200 requests through the three APIs, survives a worker killed mid-job and a server restart, and loses or duplicates nothing', async () => {
    const ids: string[] = [];
    // The job the worker is killed in: long enough to be still running once the 200 below are
    // submitted (at 128x128 and 60 steps it could finish first on an idle machine, and the kill
    // then hit a worker with no job: one run, a flaky test).
    const slow = await fetch(`${url}/api/ai/queue`, { method: 'POST', headers, body: JSON.stringify(oxenSmall({ width: 256, height: 256, num_frames: 17, num_inference_steps: 100, seed: 99 })) });
    const slowId = ((await slow.json()) as { generations: Array<{ generation_id: string }> }).generations[0].generation_id;

    const submissions: Array<() => Promise<string>> = [];
    for (let i = 0; i < 190; i++) {
      submissions.push(async () => {
        const r = await fetch(`${url}/api/ai/queue`, { method: 'POST', headers, body: JSON.stringify(oxenSmall({ seed: i })) });
        return ((await r.json()) as { generations: Array<{ generation_id: string }> }).generations[0].generation_id;
      });
    }
    for (let i = 0; i < 9; i++) {
      submissions.push(async () => {
        const taskUUID = randomUUID();
        const r = await fetch(`${url}/v1`, { method: 'POST', headers, body: JSON.stringify([{ taskType: 'videoInference', taskUUID, deliveryMethod: 'async', positivePrompt: 'a red fox', width: 256, height: 256, duration: 1, fps: 15, steps: 4, seed: 100 + i }]) });
        expect(r.status).toBe(200);
        return taskUUID;
      });
    }
    submissions.push(async () => {
      const r = await fetch(`${url}/fal-ai/wan/v2.2-a14b/text-to-video`, { method: 'POST', headers: { ...headers, authorization: `Key ${KEY}` }, body: JSON.stringify({ prompt: 'a red fox', resolution: '480p', num_frames: 17, num_inference_steps: 2, acceleration: 'none', interpolator_model: 'none', seed: 7 }) });
      return ((await r.json()) as { request_id: string }).request_id;
    });
    // Submit 8 at a time.
    for (let i = 0; i < submissions.length; i += 8) ids.push(...(await Promise.all(submissions.slice(i, i + 8).map((f) => f()))));
    stage('submitted 200');
    expect(ids).toHaveLength(200);
    expect(new Set(ids).size).toBe(200);

    // Kill the worker running the slow job once it is past its second step.
    const running = await until(async () => {
      const j = await job(slowId);
      if (j.status === 'succeeded') throw new Error('the slow job ended before its worker could be killed: make it slower');
      return j.status === 'running' && (j.progress?.step ?? 0) >= 2 ? j : null;
    }, 120_000, 50);
    const pid = Number(/worker [^:]+:(\d+)/.exec(running.logs.map((l) => l.message).join('\n'))?.[1]);
    const victim = workers.find((w) => w.proc.pid === pid);
    expect(victim).toBeDefined();
    await victim!.kill('SIGKILL');
    stage(`killed worker ${pid} in the middle of its job`);

    // Restart the server while the queue is busy: the workers go on, the new server sees it all.
    await server.kill('SIGKILL');
    server = spawnCli(serverArgs);
    await server.waitFor(/listening on/);
    stage('server restarted');

    const all = [slowId, ...ids];
    const ended = new Map<string, Awaited<ReturnType<typeof job>>>();
    await until(async () => {
      for (const id of all.filter((x) => !ended.has(x))) {
        const v = await job(id);
        if (v.status === 'failed' || v.status === 'cancelled') throw new Error(`a job ended ${v.status}: ${JSON.stringify(v)}`);
        if (v.status !== 'succeeded') break; // jobs finish roughly in order: check the rest later
        ended.set(id, v);
      }
      return ended.size === all.length;
    }, 400_000, 1000);
    const views = all.map((id) => ended.get(id)!);
    stage('all 201 jobs succeeded');
    expect(views[0].attempts).toBe(2);
    expect(views[0].logs.some((l) => new RegExp(`worker [^:]+:(?!${pid}\\b)\\d+, attempt 2`).test(l.message))).toBe(true);
    const names = views.map((v) => v.results[0].name);
    expect(new Set(names).size).toBe(201);
    const files = readdirSync(join(dir, 'out')).filter((f) => !f.startsWith('.tmp-'));
    expect(files.sort()).toEqual([...names].sort());
    expect(decodedFrames(join(dir, 'out', views[0].results[0].name))).toBe(17);
    expect(decodedFrames(join(dir, 'out', views.at(-1)!.results[0].name))).toBe(17);
  }, 480_000);

  it('cancels running and queued jobs through the workers', async () => {
    const submit = async () => ((await (await fetch(`${url}/api/ai/queue`, { method: 'POST', headers, body: JSON.stringify(oxenSmall({ width: 256, height: 256, num_frames: 17, num_inference_steps: 50 })) })).json()) as { generations: Array<{ generation_id: string }> }).generations[0].generation_id;
    // Two workers are left: the third job waits behind the two running ones.
    const ids = [await submit(), await submit(), await submit()];
    const seen: string[] = [];
    for (const id of ids) {
      // Cancel each while it is queued or between its steps.
      const j = await until(async () => {
        const v = await job(id);
        return v.status === 'queued' || (v.progress?.step ?? 0) >= 1 ? v : null;
      }, 60_000, 20);
      seen.push(j.status);
      await fetch(`${url}/api/ai/queue/${id}`, { method: 'DELETE', headers });
    }
    expect(seen).toContain('running');
    for (const id of ids) {
      await until(async () => (await job(id)).status === 'cancelled', 60_000, 100).catch(async (err) => {
        throw new Error(`${id} did not end cancelled: ${JSON.stringify(await job(id))} (${err})`);
      });
      expect((await job(id)).results).toEqual([]);
    }
  }, 180_000);
});
