// Oxen's video API as its documentation's examples use it: fetch for the requests, an SSE client
// on /api/events for the completion announcements.
import { join } from 'node:path';

import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { KEY, type TestServer, decodedFrames, download, oxenSmall, startServer, until } from './helpers.js';

let t: TestServer;
const headers = { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' };
const post = (path: string, body: unknown) => fetch(`${t.url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
const get = (path: string) => fetch(`${t.url}${path}`, { headers });

beforeAll(async () => {
  t = await startServer();
});
afterAll(async () => {
  await t?.close();
});

function events(path: string) {
  const received: Array<{ type: string; data: Record<string, unknown> }> = [];
  const es = new EventSource(`${t.url}${path}`, { fetch: (input, init) => fetch(input, { ...init, headers: { ...init?.headers, Authorization: `Bearer ${KEY}` } }) });
  for (const type of ['media_generation_completed', 'media_generation_progress']) {
    es.addEventListener(type, (e) => received.push({ type, data: JSON.parse((e as MessageEvent).data as string) }));
  }
  const open = new Promise<void>((r) => (es.onopen = () => r()));
  return { es, received, open };
}

describe('Oxen API', () => {
  it('generates synchronously and returns a playable video URL, or base64 with response_format b64_json', async () => {
    const res = await post('/api/ai/videos/generate', oxenSmall({ seed: 7 }));
    expect(res.status).toBe(200);
    const body = (await res.json()) as { model: string; created: number; videos: Array<{ url: string }> };
    expect(body.model).toBe('wan-ai-wan2-1-t2v-1-3b-diffusers');
    expect(body.videos).toHaveLength(1);
    const file = join(t.dir, 'sync.mp4');
    await download(body.videos[0].url, file);
    expect(decodedFrames(file)).toBe(5);

    const b64 = (await (await post('/api/ai/videos/generate', oxenSmall({ seed: 7, response_format: 'b64_json' }))).json()) as { videos: Array<{ b64_json: string }> };
    expect(Buffer.from(b64.videos[0].b64_json, 'base64').subarray(4, 8).toString('latin1')).toBe('ftyp');
  });

  it('queues num_generations, lists and fetches them, and announces each completion on /api/events with steps before it', async () => {
    const sse = events('/api/events?previews=1');
    await sse.open;
    const res = await post('/api/ai/queue', oxenSmall({ seed: 11, num_generations: 2 }));
    expect(res.status).toBe(200);
    const { generations } = (await res.json()) as { generations: Array<{ generation_id: string; status: string }> };
    expect(generations.map((g) => g.status)).toEqual(['queued', 'queued']);
    const ids = generations.map((g) => g.generation_id);

    const done = await until(async () => {
      const c = sse.received.filter((e) => e.type === 'media_generation_completed' && ids.includes(e.data.generation_id as string));
      return c.length === 2 ? c : null;
    }, 60_000);
    sse.es.close();
    for (const e of done) {
      expect(e.data).toMatchObject({ status: 'succeeded', media_type: 'video', model: 'wan-ai-wan2-1-t2v-1-3b-diffusers' });
      const file = join(t.dir, `${e.data.generation_id}.mp4`);
      await download(e.data.url as string, file);
      expect(decodedFrames(file)).toBe(5);
    }
    const progress = sse.received.filter((e) => e.type === 'media_generation_progress' && e.data.progress);
    expect(progress.length).toBeGreaterThanOrEqual(4); // 2 steps x 2 generations
    expect(progress[0].data.progress).toMatchObject({ total: 2, expert: 'high-noise' });
    expect(sse.received.some((e) => typeof e.data.preview === 'string' && (e.data.preview as string).startsWith('data:image/png;base64,'))).toBe(true);

    const one = (await (await get(`/api/ai/queue/${ids[0]}`)).json()) as Record<string, unknown>;
    expect(one).toMatchObject({ generation_id: ids[0], status: 'succeeded', media_type: 'video', model_name: 'wan-ai-wan2-1-t2v-1-3b-diffusers', error_message: null });
    expect(typeof one.result_url).toBe('string');
    const seeds = await Promise.all(ids.map(async (id) => ((await (await get(`/api/ai/queue/${id}`)).json()) as { seed: unknown }).seed));
    expect(seeds).toEqual([11, '12']); // the second generation runs seed + 1
    const active = (await (await get('/api/ai/queue')).json()) as { count: number };
    expect(active.count).toBe(0);
    const succeeded = (await (await get('/api/ai/queue?status=succeeded')).json()) as { count: number; generations: Array<{ generation_id: string }> };
    expect(succeeded.generations.map((g) => g.generation_id)).toEqual(expect.arrayContaining(ids));
  });

  it('cancels a queued generation with DELETE', async () => {
    // A slow job ahead keeps the next one queued long enough to cancel it.
    const slow = (await (await post('/api/ai/queue', oxenSmall({ width: 256, height: 256, num_frames: 17, num_inference_steps: 4 }))).json()) as { generations: Array<{ generation_id: string }> };
    const queued = (await (await post('/api/ai/queue', oxenSmall())).json()) as { generations: Array<{ generation_id: string }> };
    const id = queued.generations[0].generation_id;
    const del = await fetch(`${t.url}/api/ai/queue/${id}`, { method: 'DELETE', headers });
    expect(await del.json()).toEqual({ status: 'success', generation_id: id });
    const cancelled = (await (await get(`/api/ai/queue/${id}`)).json()) as { status: string; seed: string };
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.seed).toMatch(/^\d+$/); // drawn at submission, so a rerun makes the same video
    await fetch(`${t.url}/api/ai/queue/${slow.generations[0].generation_id}`, { method: 'DELETE', headers });
    await until(async () => ((await (await get(`/api/ai/queue/${slow.generations[0].generation_id}`)).json()) as { status: string }).status === 'cancelled', 30_000);
  });

  it('describes the model with its request schema', async () => {
    const m = (await (await get('/api/ai/models/wan-ai-wan2-1-t2v-1-3b-diffusers')).json()) as Record<string, any>;
    expect(m).toMatchObject({ id: 'wan-ai-wan2-1-t2v-1-3b-diffusers', object: 'model', endpoint: '/videos/generate', capabilities: { output: ['video'] } });
    expect(Object.keys(m.json_request_schema.properties)).toEqual(expect.arrayContaining(['prompt', 'num_frames', 'num_inference_steps', 'guidance_scale', 'seed']));
    expect(m.json_request_schema.properties.num_frames).toMatchObject({ type: 'integer', minimum: 1, maximum: 1025 });
    const missing = await get('/api/ai/models/not-a-model');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ status: 'error', error: { type: 'resource_not_found' } });
  });

  it('refuses invalid requests in Oxen\'s error shape, naming the field', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [oxenSmall({ num_frames: 'many' }), 'num_frames'],
      [oxenSmall({ guidance_scale: 99 }), 'guidance_scale'],
      [oxenSmall({ duration: 5 }), 'duration'],
      [{ ...oxenSmall(), prompt: undefined }, 'prompt'],
      [oxenSmall({ num_generations: 9 }), 'num_generations'],
      [oxenSmall({ model: 'kling-video-v2-6-pro-text-to-video' }), 'model'],
    ];
    for (const [body, field] of cases) {
      const res = await post('/api/ai/queue', body);
      expect([400, 404]).toContain(res.status);
      const json = (await res.json()) as { status: string; error: { field: string; detail: string } };
      expect(json.status).toBe('error');
      expect(json.error.field).toBe(field);
      expect(json.error.detail).not.toMatch(/at .*\.(ts|js):\d+/);
    }
    const unauth = await fetch(`${t.url}/api/ai/queue`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(oxenSmall()) });
    expect(unauth.status).toBe(401);
    expect(await unauth.json()).toMatchObject({ status: 'error', error: { type: 'unauthenticated' } });
  });
});
