// Oxen's inference API for video models (docs.oxen.ai: Video Generation, Async Queue, Models):
//   POST   /api/ai/videos/generate     sync: {model, created, videos: [{url} | {b64_json}]} (response_format "url" | "b64_json")
//   POST   /api/ai/queue               {generations: [{generation_id, status: "queued"}]}, num_generations 1-4
//   GET    /api/ai/queue[?model&status&media_type]  {count, generations: [...]}; active ones unless status is given
//   GET    /api/ai/queue/:id           {generation_id, model_name, prompt, media_type, status, result_url, error_message, ...}
//   DELETE /api/ai/queue/:id           {status: "success", generation_id}
//   GET    /api/events                 SSE: `event: media_generation_completed` {generation_id, status, media_type, model, url | error}
//                                      for this key's generations (none for cancelled ones, as Oxen), `: keep-alive` every 15 s,
//                                      and wan-video's `media_generation_progress` {generation_id, progress, message[, preview]}
//                                      (?previews=1 adds a small PNG data URL of the latest decoded frame)
//   GET    /api/ai/models[/:id]        the model object with request_schema / json_request_schema (JSON Schema of the Wan fields)
// Choices where Oxen's documentation is silent: num_generations > 1 runs seed, seed + 1, ... when a
// seed is given (random seeds otherwise), so the generations differ; target_namespace is accepted
// and ignored (there are no namespaces here); errors are {status: "error", status_message, error:
// {type, title, detail, field, issues}} as Oxen's 404 body, with the field named.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';

import { OxenRequestSchema } from '../schemas/adapters/oxen.js';
import { servedIds } from '../server/model-ids.js';
import { openSse } from '../server/sse.js';
import { TERMINAL, type JobStatus, type JobView } from '../server/types.js';
import { authenticate, ownJob } from './auth-hook.js';
import { HttpError, type ServerState, fileUrl, notFound, randomId, submitJobs, waitForJob } from './common.js';
import { describeError, oxenError } from './errors.js';

const TRANSPORT = ['num_generations', 'target_namespace', 'response_format'];
const secs = (ms: number | null) => (ms === null ? null : Math.floor(ms / 1000));

/** A job's stored error, rethrown so the route answers with it. */
class JobFailed extends Error {
  constructor(readonly error: NonNullable<JobView['error']>) {
    super(error.message);
  }
}

export function oxenGeneration(v: JobView, base: string) {
  const r = v.results[0];
  const { model: _m, ...params } = v.input;
  return {
    ...params,
    generation_id: v.id,
    model_name: v.modelId,
    prompt: v.input.prompt,
    media_type: 'video',
    status: v.status === 'running' ? 'processing' : v.status,
    result_url: v.status === 'succeeded' && r ? fileUrl(base, r.name) : null,
    error_message: v.status === 'failed' || v.status === 'cancelled' ? (v.error?.message ?? v.status) : null,
    enqueued_at: secs(v.createdAt),
    started_at: secs(v.startedAt),
    completed_at: secs(v.completedAt),
    ...(v.progress ? { progress: v.progress } : {}),
  };
}

function body(req: FastifyRequest): Record<string, unknown> {
  const b = req.body;
  if (b === null || typeof b !== 'object' || Array.isArray(b)) throw new HttpError(400, 'E_INVALID_ARGUMENT', 'the body must be a JSON object');
  return b as Record<string, unknown>;
}

function split(b: Record<string, unknown>) {
  const input: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(b)) if (!TRANSPORT.includes(k)) input[k] = v;
  if (typeof b.model !== 'string' || !b.model) throw new HttpError(400, 'E_INVALID_ARGUMENT', 'model is required (a video model id, e.g. wan-ai-wan2-1-t2v-1-3b-diffusers)', 'model');
  return { input, model: b.model };
}

async function generate(state: ServerState, req: FastifyRequest, reply: FastifyReply) {
  const keyId = authenticate(state, req);
  const b = body(req);
  const format = b.response_format ?? 'url';
  if (format !== 'url' && format !== 'b64_json') throw new HttpError(400, 'E_INVALID_ARGUMENT', 'response_format must be "url" or "b64_json"', 'response_format');
  const { input, model } = split(b);
  const [spec] = await submitJobs(state, 'oxen', [{ id: randomId(), input, modelId: model, delivery: {} }], keyId);
  const gone = new AbortController();
  req.raw.on('close', () => {
    if (!reply.raw.writableEnded) gone.abort();
  });
  let v: JobView;
  try {
    v = await waitForJob(state, spec.id, { timeoutMs: state.config.limits.syncTimeoutMs, signal: gone.signal });
  } catch (err) {
    if (gone.signal.aborted) await state.queue.cancel(spec.id);
    throw err;
  }
  if (v.status !== 'succeeded') throw new JobFailed(v.error ?? { code: 'E_NATIVE', message: v.status });
  const videos = await Promise.all(
    v.results.map(async (r) => (format === 'url' ? { url: fileUrl(state.publicUrl, r.name) } : { b64_json: (await readFile(join(state.config.storage.dir, r.name))).toString('base64') })),
  );
  return reply.send({ model, created: secs(v.completedAt), videos });
}

async function enqueue(state: ServerState, req: FastifyRequest, reply: FastifyReply) {
  const keyId = authenticate(state, req);
  const b = body(req);
  const n = b.num_generations ?? 1;
  if (!Number.isInteger(n) || (n as number) < 1 || (n as number) > 4) throw new HttpError(400, 'E_INVALID_ARGUMENT', 'num_generations must be an integer between 1 and 4', 'num_generations');
  const { input, model } = split(b);
  const seed = input.seed;
  const jobs = Array.from({ length: n as number }, (_, i) => {
    const own = { ...input };
    if (i > 0 && (typeof seed === 'number' || (typeof seed === 'string' && /^\d+$/.test(seed)))) own.seed = (BigInt(seed) + BigInt(i)).toString();
    return { id: randomId(), input: own, modelId: model, delivery: {} };
  });
  const specs = await submitJobs(state, 'oxen', jobs, keyId);
  return reply.send({ generations: specs.map((s) => ({ generation_id: s.id, status: 'queued' })) });
}

const ACTIVE: JobStatus[] = ['queued', 'running'];
const OXEN_STATUS: Record<string, JobStatus> = { queued: 'queued', processing: 'running', succeeded: 'succeeded', failed: 'failed', cancelled: 'cancelled' };

async function listQueue(state: ServerState, req: FastifyRequest, reply: FastifyReply) {
  const keyId = authenticate(state, req);
  const q = req.query as Record<string, string | undefined>;
  if (q.status !== undefined && !OXEN_STATUS[q.status]) throw new HttpError(400, 'E_INVALID_ARGUMENT', 'status must be one of queued, processing, succeeded, failed, cancelled', 'status');
  if (q.media_type === 'image') return reply.send({ count: 0, generations: [] });
  const views = await state.queue.list({ api: 'oxen', ...(state.keys.disabled ? {} : { keyId }), status: q.status ? [OXEN_STATUS[q.status]] : ACTIVE });
  const list = views.filter((v) => !q.model || v.modelId === q.model).map((v) => oxenGeneration(v, state.publicUrl));
  return reply.send({ count: list.length, generations: list });
}

async function one(state: ServerState, req: FastifyRequest): Promise<JobView> {
  const keyId = authenticate(state, req);
  const id = (req.params as { id: string }).id;
  const v = await state.queue.get(id);
  if (!v || v.api !== 'oxen' || !ownJob(state, v, keyId)) throw notFound(`generation ${id} not found`);
  return v;
}

async function events(state: ServerState, req: FastifyRequest, reply: FastifyReply) {
  const keyId = authenticate(state, req);
  const q = req.query as Record<string, string | undefined>;
  const previews = q.previews === '1' || q.previews === 'true';
  const sse = openSse(req, reply);
  const mine = new Map<string, boolean>();
  const isMine = async (id: string) => {
    if (!mine.has(id)) {
      const v = await state.queue.get(id);
      mine.set(id, !!v && v.api === 'oxen' && ownJob(state, v, keyId));
    }
    return mine.get(id)!;
  };
  const unsubscribe = state.queue.subscribe((e) => {
    void (async () => {
      if (!(await isMine(e.id))) return;
      if (e.type === 'status' && (e.status === 'succeeded' || e.status === 'failed')) {
        const v = await state.queue.get(e.id);
        if (!v || !TERMINAL.has(v.status)) return;
        mine.delete(e.id);
        sse.send(
          v.status === 'succeeded'
            ? { generation_id: v.id, status: 'succeeded', media_type: 'video', model: v.modelId, url: fileUrl(state.publicUrl, v.results[0].name) }
            : { generation_id: v.id, status: 'failed', media_type: 'video', error: v.error?.message ?? 'failed' },
          'media_generation_completed',
        );
      } else if (e.type === 'progress') {
        sse.send({ generation_id: e.id, progress: e.progress, message: e.log.message }, 'media_generation_progress');
      } else if (e.type === 'preview' && previews) {
        sse.send({ generation_id: e.id, preview: `data:image/png;base64,${e.png}` }, 'media_generation_progress');
      }
    })().catch(() => undefined);
  });
  sse.onClose(unsubscribe);
}

/** The model object Oxen returns, for the Wan models served here. */
function modelObject(state: ServerState, id: string) {
  const schema = z.toJSONSchema(OxenRequestSchema, { io: 'input', unrepresentable: 'any' });
  return {
    id,
    object: 'model',
    created: 0,
    owned_by: 'wan-video',
    display_name: id,
    description: 'A Wan video model served by wan-video',
    summary: null,
    model_type: 'base',
    endpoint: '/videos/generate',
    capabilities: { input: ['text'], output: ['video'] },
    pricing: { method: 'time', cost_per_second: 0 },
    deployments: [],
    developer: { name: 'Alibaba Wan', logo: null },
    request_schema: schema,
    json_request_schema: schema,
    can_run_inference: true,
  };
}

export function registerOxen(app: FastifyInstance, state: ServerState): void {
  const config = { api: 'oxen' as const };
  const wrap = (fn: (s: ServerState, req: FastifyRequest, reply: FastifyReply) => Promise<unknown>) => async (req: FastifyRequest, reply: FastifyReply) => {
    try {
      return await fn(state, req, reply);
    } catch (err) {
      if (reply.sent || reply.raw.headersSent) return;
      const info = err instanceof JobFailed ? describeError(err.error) : describeError(err);
      const { status, body: b } = oxenError(info);
      return reply.code(status).send(b);
    }
  };
  app.post('/api/ai/videos/generate', { config }, wrap(generate));
  app.post('/api/ai/queue', { config }, wrap(enqueue));
  app.get('/api/ai/queue', { config }, wrap(listQueue));
  app.get('/api/ai/queue/:id', { config }, wrap(async (s, req, reply) => reply.send(oxenGeneration(await one(s, req), s.publicUrl))));
  app.delete('/api/ai/queue/:id', { config }, wrap(async (s, req, reply) => {
    const v = await one(s, req);
    if (!TERMINAL.has(v.status)) await s.queue.cancel(v.id);
    return reply.send({ status: 'success', generation_id: v.id });
  }));
  app.get('/api/events', { config }, wrap(events));
  app.get('/api/ai/models', { config }, wrap(async (s, req, reply) => {
    authenticate(s, req);
    return reply.send({ object: 'list', data: servedIds('oxen', s.models).map((id) => modelObject(s, id)) });
  }));
  app.get('/api/ai/models/:id', { config }, wrap(async (s, req, reply) => {
    authenticate(s, req);
    const id = (req.params as { id: string }).id;
    if (!servedIds('oxen', s.models).includes(id)) throw notFound(`Model not found: ${id}`);
    return reply.send(modelObject(s, id));
  }));
}
