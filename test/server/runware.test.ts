// Runware's task API through the real @runware/sdk-js (it speaks WebSocket when given our URL) and
// over REST (POST /v1 with a task array), with async delivery, getResponse polling, webhooks,
// uploads, every outputType, numberResults and cancellation.
import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { RunwareServer } from '@runware/sdk-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { KEY, type TestServer, decodedFrames, download, startServer, until } from './helpers.js';

let t: TestServer;
let sink: { url: string; received: Array<{ method: string; path: string; body: Buffer; type?: string }>; failFirst: number; close(): void };

/** A loopback HTTP server that records what webhooks and uploads send it (and can refuse the first N). */
async function recorder(): Promise<typeof sink> {
  const received: typeof sink.received = [];
  const state = { failFirst: 0 };
  const failed = new Set<string>(); // one refusal per method: the first PUT, the first POST
  const srv = createHttpServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (state.failFirst > 0 && !failed.has(req.method ?? '')) {
        state.failFirst--;
        failed.add(req.method ?? '');
        res.writeHead(503).end();
        return;
      }
      received.push({ method: req.method ?? '', path: req.url ?? '', body: Buffer.concat(chunks), type: req.headers['content-type'] });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const addr = srv.address() as { port: number };
  return {
    url: `http://127.0.0.1:${addr.port}`,
    received,
    get failFirst() {
      return state.failFirst;
    },
    set failFirst(n: number) {
      state.failFirst = n;
    },
    close: () => srv.close(),
  };
}

const small = (extra: Record<string, unknown> = {}) => ({ positivePrompt: 'a red fox in the snow', model: 'runware:200@6', width: 256, height: 256, duration: 1, fps: 15, steps: 4, seed: 5, ...extra });

beforeAll(async () => {
  t = await startServer({ webhooks: { retries: 3, backoffMs: 50 } });
  sink = await recorder();
});
afterAll(async () => {
  sink?.close();
  await t?.close();
});

describe('Runware API through @runware/sdk-js (WebSocket)', () => {
  it('runs videoInference with numberResults 3: three playable videos with seeds seed, seed + 1 and seed + 2', async () => {
    const runware = new RunwareServer({ apiKey: KEY, url: `${t.url.replace('http', 'ws')}/v1`, shouldReconnect: false });
    try {
      const videos = (await runware.videoInference({ ...small({ numberResults: 3, includeCost: true }) } as never)) as unknown as Array<Record<string, unknown>>;
      expect(videos).toHaveLength(3);
      expect(videos.map((v) => v.seed).sort()).toEqual([5, 6, 7]);
      expect(new Set(videos.map((v) => v.videoUUID)).size).toBe(3);
      for (const v of videos) {
        expect(v).toMatchObject({ taskType: 'videoInference', status: 'success', cost: 0 });
        const file = join(t.dir, `${v.videoUUID}.mp4`);
        await download(v.videoURL as string, file);
        expect(decodedFrames(file)).toBe(13); // 1 s x 15 fps = 15 frames, made 4k+1 as diffusers rounds
      }
    } finally {
      await runware.disconnect();
    }
  });

  it('reports an invalid field in Runware\'s errors shape, naming the parameter', async () => {
    const runware = new RunwareServer({ apiKey: KEY, url: `${t.url.replace('http', 'ws')}/v1`, shouldReconnect: false });
    try {
      const err = await runware.videoInference(small({ fps: 100 }) as never).then(() => null, (e: unknown) => e);
      expect(err).toMatchObject({ error: { code: 'invalidParameter', parameter: 'fps', taskType: 'videoInference' } });
    } finally {
      await runware.disconnect();
    }
  });

  it('refuses a wrong key at authentication', async () => {
    const runware = new RunwareServer({ apiKey: 'not-the-key-123', url: `${t.url.replace('http', 'ws')}/v1`, shouldReconnect: false });
    try {
      const err = await runware.videoInference(small() as never).then(() => null, (e: unknown) => e);
      expect(err).toMatchObject({ error: { code: 'invalidApiKey', taskType: 'authentication' } });
    } finally {
      await runware.disconnect();
    }
  });
});

describe('Runware API over REST', () => {
  const rest = async (tasks: unknown[], key: string | null = KEY) => {
    const res = await fetch(`${t.url}/v1`, { method: 'POST', headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) }, body: JSON.stringify(tasks) });
    return { status: res.status, body: (await res.json()) as { data?: Array<Record<string, any>>; errors?: Array<Record<string, any>> } };
  };

  it('acknowledges async tasks, polls getResponse, PUTs to uploadEndpoint, POSTs the webhook and returns base64 output', async () => {
    const taskUUID = randomUUID();
    sink.failFirst = 2; // the upload and the webhook are each retried after a refusal
    const ack = await rest([
      { taskType: 'authentication', apiKey: KEY },
      { taskType: 'videoInference', taskUUID, deliveryMethod: 'async', outputType: 'base64Data', webhookURL: `${sink.url}/hook?token=abc`, uploadEndpoint: `${sink.url}/upload/video.mp4`, ttl: 120, ...small() },
    ], null);
    expect(ack.status).toBe(200);
    expect(ack.body.data).toEqual([expect.objectContaining({ taskType: 'authentication' }), { taskType: 'videoInference', taskUUID }]);
    const first = await rest([{ taskType: 'getResponse', taskUUID }]);
    expect(first.body.data?.[0]).toMatchObject({ taskUUID, status: expect.stringMatching(/processing|success/) });
    const done = await until(async () => {
      const r = await rest([{ taskType: 'getResponse', taskUUID }]);
      if (r.body.errors) throw new Error(JSON.stringify(r.body.errors));
      return r.body.data?.[0]?.status === 'success' ? r.body.data : null;
    }, 60_000, 300);
    const video = Buffer.from(done[0].videoBase64Data as string, 'base64');
    const file = join(t.dir, 'b64.mp4');
    writeFileSync(file, video);
    expect(decodedFrames(file)).toBe(13); // 1 s x 15 fps = 15 frames, made 4k+1 as diffusers rounds
    const upload = await until(async () => sink.received.find((r) => r.method === 'PUT'), 10_000);
    expect(upload).toMatchObject({ path: '/upload/video.mp4', type: 'video/mp4' });
    expect(upload.body.equals(video)).toBe(true);
    const hook = await until(async () => sink.received.find((r) => r.method === 'POST'), 10_000);
    expect(hook.path).toBe('/hook?token=abc');
    expect(JSON.parse(hook.body.toString()).data[0]).toMatchObject({ taskUUID, status: 'success', videoUUID: done[0].videoUUID });
  });

  it('returns a data URI, and answers a sync task with the video', async () => {
    const r = await rest([{ taskType: 'videoInference', taskUUID: randomUUID(), outputType: 'dataURI', ...small({ outputFormat: 'WEBM' }) }]);
    expect(r.status).toBe(200);
    expect(r.body.data?.[0].videoDataURI).toMatch(/^data:video\/webm;base64,/);
  });

  it('cancels with cancelTask; getResponse then reports the cancellation as an error', async () => {
    const slow = randomUUID();
    const queued = randomUUID();
    await rest([{ taskType: 'videoInference', taskUUID: slow, deliveryMethod: 'async', ...small({ steps: 8 }) }, { taskType: 'videoInference', taskUUID: queued, deliveryMethod: 'async', ...small() }]);
    const c = await rest([{ taskType: 'cancelTask', taskUUID: queued }, { taskType: 'cancelTask', taskUUID: slow }]);
    expect(c.body.data?.map((d) => d.status)).toEqual(['cancelled', 'cancelled']);
    for (const id of [queued, slow]) {
      const after = await until(async () => {
        const r = await rest([{ taskType: 'getResponse', taskUUID: id }]);
        return r.body.errors ? r : null;
      }, 30_000, 200);
      expect(after.body.errors?.[0]).toMatchObject({ code: 'taskCancelled', taskUUID: id });
    }
  });

  it('names the parameter of every refused task and needs a key', async () => {
    const bad: Array<[Record<string, unknown>, string]> = [
      [{ taskType: 'videoInference', taskUUID: 'not-a-uuid', ...small() }, 'taskUUID'],
      [{ taskType: 'videoInference', taskUUID: randomUUID(), outputType: 'PNG', ...small() }, 'outputType'],
      [{ taskType: 'videoInference', taskUUID: randomUUID(), ...small({ duration: 11 }) }, 'duration'],
      [{ taskType: 'videoInference', taskUUID: randomUUID(), ...small({ lora: [{ model: '/etc/passwd' }] }) }, 'lora[0].model'],
      [{ taskType: 'videoInference', taskUUID: randomUUID(), webhookURL: 'http://10.0.0.1/hook', ...small() }, 'webhookURL'],
      [{ taskType: 'imageInference', taskUUID: randomUUID() }, 'taskType'],
      [{ taskType: 'getResponse', taskUUID: randomUUID() }, 'taskUUID'],
    ];
    for (const [task, parameter] of bad) {
      const r = await rest([task]);
      expect(r.status).toBeGreaterThanOrEqual(400);
      expect(r.body.errors?.[0]).toMatchObject({ parameter });
    }
    const noKey = await rest([{ taskType: 'getResponse', taskUUID: randomUUID() }], null);
    expect(noKey.status).toBe(401);
    expect(noKey.body.errors?.[0]).toMatchObject({ code: 'invalidApiKey' });
  });
});
