// fal's queue API, its fal_webhook and the synchronous run through the real @fal-ai/client, pointed
// at the server by its documented configuration: requestMiddleware rewriting the fal hosts, or proxyUrl.
import { createServer as createHttpServer } from 'node:http';
import { join } from 'node:path';

import { ApiError, ValidationError, createFalClient } from '@fal-ai/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { falWebhook } from '../../lib/api/fal.js';
import type { JobView } from '../../lib/server/types.js';
import { KEY, type TestServer, decodedFrames, download, startServer, until } from './helpers.js';

let t: TestServer;
const ENDPOINT = 'fal-ai/wan/v2.2-a14b/text-to-video';
// fal's smallest request: 480p (832x480), 17 frames; 2 steps, no step cache.
const input = { prompt: 'a red fox in the snow', resolution: '480p', num_frames: 17, num_inference_steps: 2, acceleration: 'none', seed: 3, interpolator_model: 'none' } as const;

let hooks: { url: string; received: Array<{ method: string; path: string; type?: string; body: Record<string, unknown> | null }>; close(): void };

/** A loopback HTTP server that records the JSON bodies POSTed to it (fal_webhook's receiver). */
async function webhookReceiver(): Promise<typeof hooks> {
  const received: typeof hooks.received = [];
  const srv = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ method: req.method ?? '', path: req.url ?? '', type: req.headers['content-type'], body: JSON.parse(Buffer.concat(chunks).toString() || 'null') });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(srv.address() as { port: number }).port}`, received, close: () => srv.close() };
}

beforeAll(async () => {
  // Loopback targets allowed: the fal_webhook receiver is on 127.0.0.1.
  t = await startServer({ fetch: { allowLoopback: true }, webhooks: { retries: 2, backoffMs: 50 } });
  hooks = await webhookReceiver();
});
afterAll(async () => {
  hooks?.close();
  await t?.close();
});

const viaMiddleware = () =>
  createFalClient({
    credentials: KEY,
    requestMiddleware: async (req) => ({ ...req, url: req.url.replace(/^https:\/\/queue\.fal\.run/, t.url).replace(/^https:\/\/fal\.run/, `${t.url}/_fal/run`) }),
  });

type Update = { status: string; logs?: Array<{ message: string }> };

/**
 * One fal.subscribe run, shared by the tests that look at it (fal's smallest video takes tens of
 * seconds on 2 cores, so it is made once): it asks for a fal_webhook too (the client's webhookUrl,
 * sent as ?fal_webhook=), and follows the status stream from the moment the request is queued.
 */
let subscription: Promise<{ result: { data: unknown; requestId: string }; updates: Update[]; streamed: Update[] }> | undefined;
const subscribed = () =>
  (subscription ??= (async () => {
    const fal = viaMiddleware();
    const updates: Update[] = [];
    const streamed: Update[] = [];
    let streaming: Promise<unknown> | undefined;
    const result = await fal.subscribe(ENDPOINT, {
      input,
      logs: true,
      pollInterval: 300,
      webhookUrl: `${hooks.url}/fal/hook?token=abc`,
      onEnqueue: (requestId: string) => {
        streaming = (async () => {
          const stream = await fal.queue.streamStatus(ENDPOINT, { requestId, logs: true });
          stream.on('data', (d) => streamed.push(d as never));
          return stream.done();
        })();
      },
      onQueueUpdate: (u: unknown) => updates.push(u as never),
    } as never);
    await streaming;
    return { result, updates, streamed };
  })());

describe('fal API through @fal-ai/client', () => {
  it('subscribe: queue updates carry the step log, the status stream sees it too, and the result is a playable video', async () => {
    const { result, updates, streamed } = await subscribed();
    const data = result.data as { video: { url: string; content_type: string; file_size: number }; seed: number };
    expect(data.seed).toBe(3);
    expect(data.video.content_type).toBe('video/mp4');
    const file = join(t.dir, 'fal.mp4');
    expect(await download(data.video.url, file)).toBe(data.video.file_size);
    expect(decodedFrames(file)).toBe(17);
    expect(result.requestId).toMatch(/^[0-9a-f-]{36}$/);

    const logs = updates.flatMap((u) => u.logs ?? []).map((l) => l.message);
    expect(logs.some((m) => /^step 2\/2 expert (high|low)-noise, 0\/2 transformer calls cached, [\d.]+ s\/step, ETA \d+ s$/.test(m))).toBe(true);
    expect(updates.at(-1)?.status).toBe('COMPLETED');
    expect(streamed.flatMap((s) => s.logs ?? []).some((l) => l.message.startsWith('step 1/2'))).toBe(true);
    expect(streamed.at(-1)?.status).toBe('COMPLETED');
  });

  it('fal.run (the synchronous endpoint) answers with the result itself: a playable video', async () => {
    const fal = viaMiddleware();
    const result = await fal.run(ENDPOINT, { input: { ...input, seed: 11 } });
    const data = result.data as { video: { url: string; content_type: string; file_name: string; file_size: number }; seed: number; prompt: string };
    expect(data).toMatchObject({ seed: 11, prompt: input.prompt, video: { content_type: 'video/mp4', file_name: expect.stringMatching(/\.mp4$/) } });
    expect(result.requestId).toMatch(/^[0-9a-f-]{36}$/); // from the x-fal-request-id header
    const file = join(t.dir, 'fal-run.mp4');
    expect(await download(data.video.url, file)).toBe(data.video.file_size);
    expect(decodedFrames(file)).toBe(17);
    // the run went through the queue as a job of its own, ended when the answer came
    const job = (await (await fetch(`${t.url}/jobs/${result.requestId}`, { headers: { authorization: `Key ${KEY}` } })).json()) as { api: string; status: string };
    expect(job).toMatchObject({ api: 'fal', status: 'succeeded' });
  });

  it('fal_webhook: the queued request\'s result is POSTed to the webhook as fal does ({request_id, status "OK", payload})', async () => {
    const { result } = await subscribed();
    const request_id = result.requestId;
    const hook = await until(async () => hooks.received.find((h) => h.body?.request_id === request_id), 30_000, 100);
    expect(hook.method).toBe('POST');
    expect(hook.path).toBe('/fal/hook?token=abc');
    expect(hook.type).toBe('application/json');
    const body = hook.body as { request_id: string; gateway_request_id: string; status: string; payload: { video: { url: string; content_type: string; file_size: number }; seed: number; prompt: string } };
    expect(body).toMatchObject({ request_id, gateway_request_id: request_id, status: 'OK', payload: { seed: 3, prompt: input.prompt, video: { content_type: 'video/mp4' } } });
    expect(body).not.toHaveProperty('error');
    const file = join(t.dir, 'fal-hook.mp4');
    expect(await download(body.payload.video.url, file)).toBe(body.payload.video.file_size);
    expect(decodedFrames(file)).toBe(17);
    // the webhook's payload is the result the queue serves, and it came once
    expect(body.payload).toEqual(result.data);
    expect(hooks.received.filter((h) => h.body?.request_id === request_id)).toHaveLength(1);
  });

  it('queue.submit/status/cancel/result through proxyUrl', async () => {
    const fal = createFalClient({ credentials: KEY, proxyUrl: { url: `${t.url}/_fal/proxy`, when: 'always' } });
    const { request_id } = await fal.queue.submit(ENDPOINT, { input: { ...input, seed: 4 } });
    const s = await fal.queue.status(ENDPOINT, { requestId: request_id, logs: true });
    expect(['IN_QUEUE', 'IN_PROGRESS']).toContain(s.status);
    await fal.queue.cancel(ENDPOINT, { requestId: request_id });
    let final = s;
    for (let i = 0; i < 200 && final.status !== 'COMPLETED'; i++) {
      await new Promise((r) => setTimeout(r, 150));
      final = await fal.queue.status(ENDPOINT, { requestId: request_id });
    }
    expect(final).toMatchObject({ status: 'COMPLETED', error_type: 'E_CANCELLED' });
    const err = await fal.queue.result(ENDPOINT, { requestId: request_id }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError<unknown>).status).toBe(400);
  });

  it('names the field of an invalid request (422, FastAPI-style detail) on the queue and on fal.run', async () => {
    const fal = viaMiddleware();
    const cases: Array<[Record<string, unknown>, Array<string | number>]> = [
      [{ ...input, num_frames: 300 }, ['body', 'num_frames']],
      [{ ...input, resolution: '1080p' }, ['body', 'resolution']],
      [{ ...input, enable_safety_checker: true }, ['body', 'enable_safety_checker']],
      [{ ...input, loras: [{ path: '../../etc/passwd' }] }, ['body', 'loras', 0, 'path']],
      [{ ...input, prompt: 'x'.repeat(9000) }, ['body', 'prompt']],
      [{ prompt: 'a fox', bogus: 1 }, ['body', 'bogus']],
    ];
    for (const [bad, loc] of cases) {
      const err = await fal.queue.submit(ENDPOINT, { input: bad as never }).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).fieldErrors[0].loc).toEqual(loc);
    }
    const sync = await fal.run(ENDPOINT, { input: { ...input, num_inference_steps: 99 } as never }).then(() => null, (e: unknown) => e);
    expect(sync).toBeInstanceOf(ValidationError);
    expect((sync as ValidationError).getFieldErrors('num_inference_steps')[0].msg).toMatch(/expected an integer from 2 to 40/);
  });

  it('refuses a wrong key and an unknown endpoint', async () => {
    const fal = createFalClient({ credentials: 'wrong-key-0000', requestMiddleware: async (req) => ({ ...req, url: req.url.replace(/^https:\/\/queue\.fal\.run/, t.url) }) });
    const err = await fal.queue.submit(ENDPOINT, { input }).then(() => null, (e: unknown) => e);
    expect((err as ApiError<unknown>).status).toBe(401);
    const unknown = await viaMiddleware().queue.submit('fal-ai/kling-video/v2/text-to-video', { input }).then(() => null, (e: unknown) => e);
    expect((unknown as ApiError<unknown>).status).toBe(404);
    expect(String((unknown as ApiError<{ detail: string }>).body.detail)).toMatch(/not served here/);
  });

  it('shapes the fal_webhook body as fal does ({request_id, status, payload})', () => {
    const base = { id: 'r1', api: 'fal', model: 'tiny', modelId: ENDPOINT, input: { prompt: 'p' }, keyId: null, createdAt: 0, attempts: 1, startedAt: 0, completedAt: 1000, progress: null, logs: [], queuePosition: null, delivery: { outputType: 'URL', ttlSeconds: 60, includeCost: false } } as const;
    const ok = falWebhook({ ...base, status: 'succeeded', error: null, results: [{ index: 0, seed: '9', name: 'f.mp4', contentType: 'video/mp4', bytes: 10, width: 832, height: 480, frames: 17, fps: 16, expiresAt: 0 }] } as unknown as JobView, 'http://h');
    expect(ok).toEqual({ request_id: 'r1', gateway_request_id: 'r1', status: 'OK', payload: { video: { url: 'http://h/files/f.mp4', content_type: 'video/mp4', file_name: 'f.mp4', file_size: 10 }, seed: 9, prompt: 'p' } });
    const bad = falWebhook({ ...base, status: 'failed', results: [], error: { code: 'E_INVALID_ARGUMENT', message: 'm', field: 'num_frames' } } as unknown as JobView, 'http://h');
    expect(bad).toMatchObject({ status: 'ERROR', error: 'm', payload: { detail: [{ loc: ['body', 'num_frames'] }] } });
  });
});
