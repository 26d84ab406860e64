// What a server on a network must refuse, and how: keys, body and prompt limits, slow and malformed
// clients, URL targets, LoRA paths outside the configured folders, the per-key job limit, errors
// without stack traces; the server keeps serving after each.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, type ServerResponse, createServer as createHttpServer, request } from 'node:http';
import { connect } from 'node:net';
import { basename, dirname, join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { WanError } from '../../lib/errors.js';
import { type FetchPolicy, guardedFetch, refusedAddress } from '../../lib/server/fetch-guard.js';
import { createServer } from '../../lib/server/server.js';
import { CLI, KEY, type TestServer, oxenSmall, startServer, tempDir, tinyModel, until } from './helpers.js';

const policy = { allowLoopback: false, allowPrivate: false };

describe('URL targets', () => {
  it('refuses loopback, private, link-local and reserved addresses unless allowed', () => {
    for (const a of ['127.0.0.1', '127.8.9.1', '::1', '::ffff:127.0.0.1']) {
      expect(refusedAddress(a, policy)).toMatch(/loopback/);
      expect(refusedAddress(a, { allowLoopback: true, allowPrivate: false })).toBeNull();
    }
    for (const a of ['10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', 'fc00::1', 'fe80::1', '0.0.0.0']) {
      expect(refusedAddress(a, policy)).toMatch(/private or link-local/);
      expect(refusedAddress(a, { allowLoopback: false, allowPrivate: true })).toBeNull();
    }
    expect(refusedAddress('224.0.0.1', { allowLoopback: true, allowPrivate: true })).toMatch(/multicast/);
    for (const a of ['8.8.8.8', '172.32.0.1', '2001:4860:4860::8888']) expect(refusedAddress(a, policy)).toBeNull();
  });
});

describe('the fetch guard\'s limits (fetch.maxBytes, fetch.timeoutMs), against loopback servers', () => {
  const open: Array<{ close(): void; closeAllConnections(): void }> = [];
  afterAll(() => {
    for (const s of open) {
      s.closeAllConnections();
      s.close();
    }
  });
  /** A loopback HTTP server with the given handler; resolves with its base URL. */
  const serve = async (handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> => {
    const srv = createHttpServer(handler);
    open.push(srv);
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    return `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
  };
  const limits = (over: Partial<FetchPolicy> = {}): FetchPolicy => ({ maxBytes: 4096, timeoutMs: 5000, allowLoopback: true, allowPrivate: false, ...over });
  /** The fetch's error (null if it succeeded); a fetch that never settles fails the test after 10 s, saying so. */
  const failure = (p: Promise<unknown>): Promise<unknown> =>
    Promise.race([p.then(() => null, (e: unknown) => e), new Promise((_, reject) => setTimeout(() => reject(new Error('the fetch never settled')), 10_000))]);

  it('refuses a response larger than maxBytes, naming the field and the limit; one at the limit arrives whole', async () => {
    const body = Buffer.alloc(64 * 1024, 0x61);
    const url = await serve((req, res) => {
      const n = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('n'));
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      // in several writes, as a large body comes
      for (let i = 0; i < n; i += 1024) res.write(body.subarray(i, Math.min(n, i + 1024)));
      res.end();
    });
    const t0 = Date.now();
    const err = await failure(guardedFetch(`${url}/big?n=${body.length}`, { field: 'image_url', policy: limits() }));
    expect(err).toBeInstanceOf(WanError);
    expect((err as WanError).code).toBe('E_INVALID_ARGUMENT');
    expect((err as Error).message).toBe('image_url: the response is larger than 4096 bytes (fetch.maxBytes)');
    expect(Date.now() - t0).toBeLessThan(4000); // refused at once, not at the timeout
    const ok = await guardedFetch(`${url}/fits?n=4096`, { field: 'image_url', policy: limits() });
    expect(ok.status).toBe(200);
    expect(ok.body.length).toBe(4096);
    // a webhook POST is held to the same limit on what comes back
    const post = await failure(guardedFetch(`${url}/hook?n=5000`, { method: 'POST', body: '{}', field: 'webhookURL', policy: limits() }));
    expect(String((post as Error)?.message)).toMatch(/^webhookURL: the response is larger than 4096 bytes/);
  });

  it('gives up on a server that never answers after timeoutMs, and on one that answers too slowly to finish in time', async () => {
    const silent = await serve(() => undefined); // reads the request, never answers
    let t0 = Date.now();
    const err = await failure(guardedFetch(`${silent}/x.png`, { field: 'image_url', policy: limits({ timeoutMs: 300 }) }));
    let took = Date.now() - t0;
    expect(err).toBeInstanceOf(WanError);
    expect((err as Error).message).toMatch(/^image_url: .*127\.0\.0\.1:\d+.*fetch\.timeoutMs/);
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(3000);

    // a byte every 100 ms: the socket is never idle for timeoutMs, but the answer never completes
    const trickle = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'image/png' });
      const iv = setInterval(() => (res.destroyed ? clearInterval(iv) : res.write('x')), 100);
      res.on('close', () => clearInterval(iv));
    });
    t0 = Date.now();
    const slow = await failure(guardedFetch(`${trickle}/x.png`, { field: 'image_url', policy: limits({ timeoutMs: 600 }) }));
    took = Date.now() - t0;
    expect(slow).toBeInstanceOf(WanError);
    expect((slow as Error).message).toMatch(/^image_url: no complete answer from 127\.0\.0\.1:\d+ within 600 ms \(fetch\.timeoutMs\)$/);
    expect(took).toBeGreaterThanOrEqual(550);
    expect(took).toBeLessThan(3000);
  });
});

describe('a server with limits', () => {
  let t: TestServer;
  let loras: string;
  beforeAll(async () => {
    const root = tempDir('wan-loras-');
    loras = join(root, 'loras');
    mkdirSync(loras);
    writeFileSync(join(loras, 'style.safetensors'), 'x');
    writeFileSync(join(root, 'outside.safetensors'), 'x');
    symlinkSync(join(root, 'outside.safetensors'), join(loras, 'link.safetensors'));
    t = await startServer({ fetch: { allowLoopback: false }, loraRoots: [loras], limits: { requestTimeoutMs: 1500, bodyBytes: 1 << 20, jobsPerKey: 3 } });
  });
  afterAll(async () => {
    await t?.close();
  });
  const healthy = async () => expect((await fetch(`${t.url}/health`)).status).toBe(200);
  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${t.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}`, ...headers }, body });

  it('answers invalid JSON in each API\'s error shape', async () => {
    const fal = await post('/fal-ai/wan/v2.2-a14b/text-to-video', '{"prompt": "a fox"', { authorization: `Key ${KEY}` });
    expect(fal.status).toBe(400);
    expect((await fal.json()) as object).toMatchObject({ detail: expect.stringMatching(/not valid JSON/) });
    const runware = await post('/v1', '[{"taskType": ');
    expect(runware.status).toBe(400);
    expect((await runware.json()) as object).toMatchObject({ errors: [{ code: 'invalidParameter', message: expect.stringMatching(/not valid JSON/) }] });
    const oxen = await post('/api/ai/queue', 'nope');
    expect(oxen.status).toBe(400);
    expect((await oxen.json()) as object).toMatchObject({ status: 'error', error: { detail: expect.stringMatching(/not valid JSON/) } });
    await healthy();
  });

  it('refuses a 100 MB body with 413 and keeps serving', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${t.url}/api/ai/queue`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      // The server answers 413 and half-closes while the client still writes; the client drops its
      // socket at the server's FIN, so a later write may fail, after the answer came. Without an
      // answer the test fails at once rather than waiting for its timeout.
      req.on('error', (err) => (String(err).match(/EPIPE|ECONNRESET/) ? undefined : reject(err)));
      req.on('close', () => reject(new Error('the connection closed before any response')));
      const chunk = Buffer.alloc(1 << 20, 0x20);
      let sent = 0;
      const pump = () => {
        while (sent < 100 && !req.destroyed) {
          sent++;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      req.write('{"prompt": "');
      pump();
    });
    expect(status).toBe(413);
    await healthy();
  });

  it('after a 413, reads what the client still sends instead of resetting the connection under it', async () => {
    // A reset that reaches a client before it has read the 413 discards the 413 (the test above
    // loses it now and then). The server must half-close and drain: a client that goes on sending
    // after the answer sees the answer and the server's FIN, and no error, until it stops.
    const seen = await new Promise<{ reply: string; ended: boolean; error: string | null; afterAnswer: number }>((resolve) => {
      const s = connect({ port: Number(new URL(t.url).port), host: '127.0.0.1', allowHalfOpen: true });
      const chunk = Buffer.alloc(1 << 16, 0x20);
      const hex = chunk.length.toString(16);
      let reply = '';
      let ended = false;
      let error: string | null = null;
      let afterAnswer = 0;
      let answeredAt = 0;
      const send = () => {
        if (s.destroyed || error) return;
        if (answeredAt && Date.now() - answeredAt > 400) return void s.end('0\r\n\r\n');
        if (answeredAt) afterAnswer += chunk.length;
        const more = s.write(`${hex}\r\n`) && s.write(chunk) && s.write('\r\n');
        if (more) setImmediate(send);
        else s.once('drain', send);
      };
      s.on('connect', () => {
        s.write(`POST /api/ai/queue HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${KEY}\r\nTransfer-Encoding: chunked\r\n\r\n`);
        send();
      });
      s.on('data', (d) => {
        reply += d.toString();
        if (!answeredAt && reply.includes('\r\n\r\n')) answeredAt = Date.now();
      });
      s.on('end', () => (ended = true));
      s.on('error', (err) => (error = String(err)));
      s.on('close', () => resolve({ reply, ended, error, afterAnswer }));
    });
    expect(seen.reply).toMatch(/^HTTP\/1\.1 413/);
    expect(seen.error).toBeNull();
    expect(seen.ended).toBe(true);
    expect(seen.afterAnswer).toBeGreaterThan(1 << 20);
    await healthy();
  });

  it('answers 408 to a body that never ends, and keeps serving', async () => {
    const reply = await new Promise<string>((resolve) => {
      const s = connect(Number(new URL(t.url).port), '127.0.0.1', () => {
        s.write(`POST /api/ai/queue HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${KEY}\r\nContent-Length: 1000\r\n\r\n{"prompt":`);
      });
      let got = '';
      s.on('data', (d) => (got += d.toString()));
      s.on('close', () => resolve(got));
      s.on('error', () => resolve(got));
    });
    expect(reply).toMatch(/^HTTP\/1\.1 408/);
    await healthy();
  });

  it('refuses image URLs that point at loopback', async () => {
    const res = await post('/fal-ai/wan/v2.2-a14b/image-to-video', JSON.stringify({ prompt: 'a fox', image_url: 'http://127.0.0.1:9/x.png' }), { authorization: `Key ${KEY}` });
    expect(res.status).toBe(422);
    const body = (await res.json()) as { detail: Array<{ loc: unknown[]; msg: string }> };
    expect(body.detail[0].loc).toEqual(['body', 'image_url']);
    expect(body.detail[0].msg).toMatch(/loopback/);
  });

  it('never reads a file of the server for an image field: paths and file: URLs are refused by field in every API', async () => {
    const secret = join(t.dir, 'secret.png');
    writeFileSync(secret, Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC', 'base64'));
    for (const ref of [secret, `file://${secret}`, 'secret.png']) {
      const fal = await post('/fal-ai/wan/v2.2-a14b/image-to-video', JSON.stringify({ prompt: 'a fox', image_url: ref }), { authorization: `Key ${KEY}` });
      expect(fal.status, ref).toBe(422);
      const fb = (await fal.json()) as { detail: Array<{ loc: unknown[]; msg: string }> };
      expect(fb.detail[0].loc).toEqual(['body', 'image_url']);
      expect(fb.detail[0].msg).toMatch(/file on the server/);
      const rw = await post('/v1', JSON.stringify([{ taskType: 'videoInference', taskUUID: '6f1c1e44-4c55-4b8e-9c7e-2d7e5c0b9a11', positivePrompt: 'a fox', model: 'runware:200@6', inputs: { frameImages: [{ image: ref, frame: 'first' }] } }]));
      expect(rw.status, ref).toBe(400);
      expect((await rw.json()) as object).toMatchObject({ errors: [{ parameter: 'inputs.frameImages[0].image', message: expect.stringMatching(/file on the server/) }] });
      for (const field of ['image', 'input_image', 'last_image']) {
        const ox = await post('/api/ai/queue', JSON.stringify({ model: 'wan-ai-wan2-1-t2v-1-3b-diffusers', prompt: 'a fox', [field]: ref }));
        expect(ox.status, `${field} ${ref}`).toBe(400);
        expect((await ox.json()) as object).toMatchObject({ status: 'error', error: { field, detail: expect.stringMatching(/file on the server/) } });
      }
    }
    await healthy();
  });

  it('fetches Oxen\'s image URLs through the same guard as the other APIs', async () => {
    const ox = await post('/api/ai/queue', JSON.stringify({ model: 'wan-ai-wan2-1-t2v-1-3b-diffusers', prompt: 'a fox', image: 'http://127.0.0.1:9/x.png' }));
    expect(ox.status).toBe(400);
    expect((await ox.json()) as object).toMatchObject({ status: 'error', error: { field: 'image', detail: expect.stringMatching(/loopback/) } });
  });

  it('keeps LoRA paths inside the configured folders (symbolic links resolved)', async () => {
    const sub = (path: string) => post('/fal-ai/wan/v2.2-a14b/text-to-video/lora', JSON.stringify({ prompt: 'a fox', resolution: '480p', num_frames: 17, loras: [{ path, transformer: 'both' }] }), { authorization: `Key ${KEY}` });
    for (const bad of ['/etc/passwd', '../outside.safetensors', 'link.safetensors', 'missing.safetensors']) {
      const res = await sub(bad);
      expect(res.status).toBe(422);
      expect(((await res.json()) as { detail: Array<{ loc: unknown[] }> }).detail[0].loc).toEqual(['body', 'loras', 0, 'path']);
    }
    const ok = await sub('style.safetensors');
    expect(ok.status).toBe(200);
    const { cancel_url } = (await ok.json()) as { cancel_url: string };
    await fetch(cancel_url, { method: 'PUT', headers: { authorization: `Key ${KEY}` } });
  });

  it('limits the jobs a key may have queued or running', async () => {
    const slow = oxenSmall({ width: 128, height: 128, num_frames: 17, num_inference_steps: 20 });
    const ids: string[] = [];
    let refused: Response | undefined;
    for (let i = 0; i < 5 && !refused; i++) {
      const r = await post('/api/ai/queue', JSON.stringify(slow));
      if (r.status === 429) refused = r;
      else ids.push(((await r.json()) as { generations: Array<{ generation_id: string }> }).generations[0].generation_id);
    }
    expect(refused?.status).toBe(429);
    expect((await refused!.json()) as object).toMatchObject({ status: 'error', error: { type: 'too_many_requests', detail: expect.stringMatching(/limits\.jobsPerKey/) } });
    for (const id of ids) await fetch(`${t.url}/api/ai/queue/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${KEY}` } });
    await until(async () => ((await (await fetch(`${t.url}/api/ai/queue`, { headers: { authorization: `Bearer ${KEY}` } })).json()) as { count: number }).count === 0, 30_000);
  });

  it('needs a key on every API route, and never shows a stack trace', async () => {
    for (const [method, path] of [['POST', '/fal-ai/wan/v2.2-a14b/text-to-video'], ['GET', '/fal-ai/wan/requests/x/status'], ['POST', '/api/ai/queue'], ['GET', '/api/events'], ['GET', '/jobs/x']] as const) {
      const res = await fetch(`${t.url}${path}`, { method, headers: { 'content-type': 'application/json' }, body: method === 'POST' ? '{}' : undefined });
      expect(res.status).toBe(401);
      expect(await res.text()).not.toMatch(/\n\s+at /);
    }
  });
});

describe('modelRoots', () => {
  it('refuses a model folder outside modelRoots at createServer, naming the path; one inside is served', async () => {
    const model = await tinyModel();
    const dir = tempDir();
    const base = { port: 0, host: '127.0.0.1', auth: { disabled: true }, storage: { dir: join(dir, 'out') }, device: 'cpu', workers: 0 } as const;
    const elsewhere = join(dir, 'models');
    mkdirSync(elsewhere);
    for (const roots of [[elsewhere], [`${model}-other`], [join(model, 'transformer')]]) {
      const err = await createServer({ ...base, models: { tiny: { path: model } }, modelRoots: roots, queue: join(dir, 'refused.sqlite') }).then(() => null, (e: unknown) => e);
      expect(err, roots[0]).toBeInstanceOf(WanError);
      expect((err as Error).message).toBe(`models.tiny.path ${model} is outside modelRoots (${roots[0]})`);
    }
    // A link inside the root to a model outside it is outside (links resolved, as for LoRA paths).
    const link = join(elsewhere, 'link');
    symlinkSync(model, link);
    const linked = await createServer({ ...base, models: { tiny: { path: link } }, modelRoots: [elsewhere], queue: join(dir, 'refused.sqlite') }).then(() => null, (e: unknown) => e);
    expect((linked as Error | null)?.message).toBe(`models.tiny.path ${link} is outside modelRoots (${elsewhere})`);
    expect(existsSync(join(dir, 'refused.sqlite'))).toBe(false); // refused before anything was opened

    const inside = await createServer({ ...base, models: { tiny: { path: model } }, modelRoots: [elsewhere, dirname(model)], queue: join(dir, 'q.sqlite') });
    const url = await inside.listen();
    expect((await (await fetch(`${url}/health`)).json()) as object).toMatchObject({ ok: true, models: ['tiny'] });
    await inside.close();
    // the root itself, and a path through "..", are inside by where they resolve
    for (const path of [model, join(model, '..', basename(model))]) {
      const s = await createServer({ ...base, models: { tiny: { path } }, modelRoots: [model], queue: join(dir, 'q.sqlite') });
      await s.close();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('wan-video serve refuses it too, before listening, naming the path', () => {
    const dir = tempDir();
    const model = join(dir, 'not-in-root');
    const config = join(dir, 'server.json');
    writeFileSync(config, JSON.stringify({ modelRoots: ['./models'], auth: { disabled: true } }));
    const r = spawnSync(process.execPath, [CLI, 'serve', '--config', config, '--model', `tiny=${model}`, '--port', '0', '--queue', join(dir, 'q.sqlite')], {
      env: { ...process.env, WAN_VIDEO_DEVICE: 'cpu' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`models.tiny.path ${model} is outside modelRoots (${join(dir, 'models')})`);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('keys', () => {
  it('are required unless turned off explicitly', async () => {
    const dir = tempDir();
    await expect(createServer({ port: 0, models: { tiny: { path: await tinyModel() } }, queue: join(dir, 'q.sqlite'), storage: { dir } })).rejects.toThrow(/no API key: pass --api-key/);
    const open = await createServer({ port: 0, models: { tiny: { path: await tinyModel() } }, auth: { disabled: true }, queue: join(dir, 'q2.sqlite'), storage: { dir }, workers: 0 });
    const url = await open.listen();
    const res = await fetch(`${url}/api/ai/queue`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(oxenSmall()) });
    expect(res.status).toBe(200);
    await open.close();
  });
});
