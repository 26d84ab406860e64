// createServer(): the three APIs as Fastify routes over one queue. With the SQLite queue the
// server also runs the jobs (config.workers at a time); with Redis it only queues and serves, and
// `wan-video worker` processes run them.
import { createReadStream } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { realpath, stat } from 'node:fs/promises';
import { resolve } from 'node:path';

import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';

import { type ServerState, insideRoots } from '../api/common.js';
import { authenticate, ownJob } from '../api/auth-hook.js';
import { describeError, errorBody } from '../api/errors.js';
import { registerFal } from '../api/fal.js';
import { registerOxen } from '../api/oxen.js';
import { registerRunware } from '../api/runware.js';
import { WanError } from '../errors.js';
import { planRife } from '../model/rife-plan.js';
import { loadKeys } from './auth.js';
import { type ServerConfig, type ServerConfigInput, parseServerConfig, publicUrlOf } from './config.js';
import type { ModelEntry } from './model-ids.js';
import { lingerOnClose } from './linger.js';
import { openApiDocument } from './openapi.js';
import { PipelinePool, inspectModel } from './pool.js';
import { openQueue } from './queue/types.js';
import type { JobQueue, WorkerHandle } from './queue/types.js';
import { openSse } from './sse.js';
import { Storage } from './storage.js';
import { type ApiName, TERMINAL } from './types.js';
import { startWorking } from './worker.js';

export interface WanServer {
  app: FastifyInstance;
  state: ServerState;
  config: ServerConfig;
  /** Starts listening; resolves with the base URL. */
  listen(): Promise<string>;
  /** Stops taking requests and jobs; a running job is cancelled when `abort` is set, else finished. */
  close(opts?: { abort?: boolean }): Promise<void>;
}

/** The configured models with their detected variants (header reads only), checked against modelRoots. */
export async function modelEntries(config: ServerConfig): Promise<ModelEntry[]> {
  const out: ModelEntry[] = [];
  for (const [name, m] of Object.entries(config.models)) {
    // Symbolic links resolved, as for LoRA paths: a link inside a root to a folder outside is outside
    // (a path that does not exist is checked as written, and refused by its load).
    const real = await realpath(m.path).catch(() => resolve(m.path));
    if (config.modelRoots.length && !(await insideRoots(real, config.modelRoots))) {
      throw new WanError('E_INVALID_ARGUMENT', `models.${name}.path ${m.path} is outside modelRoots (${config.modelRoots.join(', ')})`);
    }
    const facts = await inspectModel(m.path);
    // A wrong RIFE file is refused at start, not at the first job that asks for interpolation.
    if (m.interpolator) {
      try {
        await planRife(m.interpolator);
      } catch (err) {
        throw new WanError(err instanceof WanError ? err.code : 'E_INVALID_ARGUMENT', `models.${name}.interpolator: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    out.push({ name, variant: facts.variant, ids: m.ids });
  }
  return out;
}

/** fal's client in proxy mode sends every request to one URL with the real target in this header. */
function falProxyRewrite(req: { url?: string; headers: Record<string, string | string[] | undefined> }): string {
  const target = req.headers['x-fal-target-url'];
  if (typeof target === 'string') {
    try {
      const u = new URL(target);
      if (u.hostname === 'queue.fal.run') return `${u.pathname}${u.search}`;
      if (u.hostname === 'fal.run') return `/_fal/run${u.pathname}${u.search}`;
    } catch {
      /* not a URL: served as the path it was sent to */
    }
  }
  return req.url ?? '/';
}

function apiOfUrl(url: string): ApiName {
  if (url.startsWith('/api/')) return 'oxen';
  if (url === '/v1' || url.startsWith('/v1?') || url.startsWith('/v1/')) return 'runware';
  return 'fal';
}

export async function createServer(input: ServerConfigInput | ServerConfig, opts: { queue?: JobQueue } = {}): Promise<WanServer> {
  const config = parseServerConfig(input);
  const keys = loadKeys(config);
  const models = await modelEntries(config);
  if (models.length === 0) throw new WanError('E_INVALID_ARGUMENT', 'no model: pass --model DIR (or models in the config file)');
  const queue = opts.queue ?? (await openQueue(config.queue, { maxAttempts: config.limits.maxAttempts, maxLogs: config.maxLogs, lockMs: config.lockMs }));
  const storage = new Storage(config.storage.dir);
  config.storage.dir = storage.dir;
  const state: ServerState = { config, queue, keys, models, publicUrl: publicUrlOf(config) };

  const app = Fastify({
    bodyLimit: config.limits.bodyBytes,
    // A body that never ends is answered 408 after requestTimeoutMs (checked every second or so).
    serverFactory: (handler) =>
      createHttpServer({ requestTimeout: config.limits.requestTimeoutMs, headersTimeout: Math.min(60_000, config.limits.requestTimeoutMs), connectionsCheckingInterval: Math.min(1000, config.limits.requestTimeoutMs) }, handler),
    logger: false,
    rewriteUrl: falProxyRewrite,
    routerOptions: { ignoreTrailingSlash: true },
  });
  await app.register(websocket, { options: { maxPayload: config.limits.bodyBytes } });
  // JSON bodies; an empty one is no body (clients send Content-Type: application/json on DELETE too).
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, text, done) => {
    if ((text as string).trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text as string));
    } catch (err) {
      done(new WanError('E_INVALID_ARGUMENT', `the body is not valid JSON: ${(err as Error).message}`), undefined);
    }
  });

  app.setErrorHandler((err, req, reply) => {
    const api = (req.routeOptions?.config as { api?: ApiName } | undefined)?.api ?? apiOfUrl(req.url);
    const { status, body } = errorBody(api, describeError(err));
    // Answered before the body was read to its end (a 413): the client may still be sending.
    if (!req.raw.complete) lingerOnClose(req.raw.socket);
    reply.code(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    const { status, body } = errorBody(apiOfUrl(req.url), { status: 404, code: 'E_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` });
    reply.code(status).send(body);
  });

  app.get('/health', async () => ({ ok: true, queue: queue.kind, models: models.map((m) => m.name) }));
  app.get('/openapi.json', async () => openApiDocument(state.publicUrl));
  app.route({
    method: ['GET', 'HEAD'],
    url: '/files/:name',
    handler: async (req: FastifyRequest, reply: FastifyReply) => {
      const found = storage.resolve((req.params as { name: string }).name);
      const st = found ? await stat(found.file).catch(() => null) : null;
      if (!found || !st) return reply.code(404).send({ error: { code: 'E_NOT_FOUND', message: 'no such file, or its time to live has passed' } });
      reply.header('content-type', found.contentType).header('content-length', st.size).header('cache-control', 'private, max-age=60');
      return req.method === 'HEAD' ? reply.send() : reply.send(createReadStream(found.file));
    },
  });
  // Any API's job: its state (without the request), for operators and scripts.
  app.get('/jobs/:id', async (req, reply) => {
    try {
      const keyId = authenticate(state, req);
      const v = await queue.get((req.params as { id: string }).id);
      if (!v || !ownJob(state, v, keyId)) return reply.code(404).send({ error: { code: 'E_NOT_FOUND', message: 'job not found' } });
      const { input: _input, ...rest } = v;
      return reply.send(rest);
    } catch (err) {
      const e = describeError(err);
      return reply.code(e.status).send({ error: { code: e.code, message: e.message } });
    }
  });
  // Any API's job as Server-Sent Events: status changes, steps (with the log line), previews.
  app.get('/jobs/:id/events', async (req, reply) => {
    const api = apiOfUrl(req.url);
    try {
      const keyId = authenticate(state, req);
      const id = (req.params as { id: string }).id;
      const v = await queue.get(id);
      if (!v || !ownJob(state, v, keyId)) return reply.code(404).send({ error: { code: 'E_NOT_FOUND', message: `job ${id} not found` } });
      const q = req.query as Record<string, string | undefined>;
      const previews = q.previews === '1' || q.previews === 'true';
      const sse = openSse(req, reply);
      sse.send({ id, status: v.status, progress: v.progress }, 'status');
      if (TERMINAL.has(v.status)) return sse.close();
      const off = queue.subscribe((e) => {
        if (e.id !== id) return;
        if (e.type === 'status') {
          sse.send({ id, status: e.status }, 'status');
          if (TERMINAL.has(e.status)) sse.close();
        } else if (e.type === 'progress') sse.send({ id, ...e.progress, message: e.log.message }, 'progress');
        else if (e.type === 'log') sse.send({ id, ...e.log }, 'log');
        else if (e.type === 'preview' && previews) sse.send({ id, png: `data:image/png;base64,${e.png}` }, 'preview');
      });
      sse.onClose(off);
    } catch (err) {
      const { status, body } = errorBody(api, describeError(err));
      return reply.code(status).send(body);
    }
  });
  registerOxen(app, state);
  registerRunware(app, state);
  registerFal(app, state);

  let pool: PipelinePool | null = null;
  let workers: WorkerHandle | null = null;
  const sweep = setInterval(() => void storage.sweep().catch(() => undefined), 60_000);
  sweep.unref();

  return {
    app,
    state,
    config,
    async listen() {
      await app.listen({ port: config.port, host: config.host });
      const addr = app.server.address();
      const port = typeof addr === 'object' && addr ? addr.port : config.port;
      state.publicUrl = publicUrlOf(config, port);
      if (config.workers > 0) {
        pool = new PipelinePool(config.models, { device: config.device, memoryBudgetBytes: config.memoryBudgetBytes });
        workers = startWorking(queue, { pool, storage, config, publicUrl: state.publicUrl }, config.workers);
      }
      return state.publicUrl;
    },
    async close({ abort } = {}) {
      clearInterval(sweep);
      await app.close();
      await workers?.stop({ abort });
      await pool?.close();
      if (!opts.queue) await queue.close();
    },
  };
}
