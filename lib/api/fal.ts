// fal's queue API and synchronous run, as @fal-ai/client speaks them:
//   POST   /{owner}/{app}[/{path}][?fal_webhook=URL]      -> {request_id, response_url, status_url, cancel_url, queue_position}
//   GET    /{owner}/{app}/requests/{id}/status[?logs=1]    -> IN_QUEUE | IN_PROGRESS | COMPLETED (+ logs, metrics)
//   GET    /{owner}/{app}/requests/{id}/status/stream      -> the same as Server-Sent Events until COMPLETED
//   GET    /{owner}/{app}/requests/{id}                    -> the result ({video: {url, ...}, seed}) or the error
//   PUT    /{owner}/{app}/requests/{id}/cancel             -> 202 CANCELLATION_REQUESTED | 400 ALREADY_COMPLETED
//   POST   /_fal/run/{owner}/{app}[/{path}]                -> the synchronous run (fal.run's host)
// The client addresses queue.fal.run and fal.run; it reaches this server through its documented
// `requestMiddleware` (rewrite https://queue.fal.run -> this server, https://fal.run -> /_fal/run)
// or `proxyUrl` (any path of this server with the x-fal-target-url header: see server.ts).
// The request id is the job id; the status and result routes accept the app path with or without
// the endpoint's sub-path (the client drops it). Steps go into the logs as lines such as
// "step 3/8 expert high-noise, 0/2 transformer calls cached, 0.21 s/step, ETA 2 s".
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { checkUrl } from '../server/fetch-guard.js';
import { openSse } from '../server/sse.js';
import { TERMINAL, type JobLog, type JobView } from '../server/types.js';
import { HttpError, type ServerState, fileUrl, notFound, randomId, submitJobs, waitForJob } from './common.js';
import { describeError, falError } from './errors.js';
import { authenticate, ownJob } from './auth-hook.js';

const REQUEST_ID_HEADER = 'x-fal-request-id';

function appBase(modelId: string): string {
  return modelId.split('/').filter(Boolean).slice(0, 2).join('/');
}

export function falUrls(v: JobView, base: string) {
  const root = `${base}/${appBase(v.modelId)}/requests/${v.id}`;
  return { response_url: root, status_url: `${root}/status`, cancel_url: `${root}/cancel` };
}

const falLog = (l: JobLog) => ({ message: l.message, level: l.level, source: 'USER', timestamp: l.timestamp });

export function falStatus(v: JobView, base: string, withLogs: boolean, logs: JobLog[] = v.logs) {
  const common = { request_id: v.id, ...falUrls(v, base) };
  if (v.status === 'queued') return { status: 'IN_QUEUE', ...common, queue_position: v.queuePosition ?? 0 };
  const shown = withLogs ? logs.map(falLog) : null;
  if (v.status === 'running') return { status: 'IN_PROGRESS', ...common, logs: shown, progress: v.progress };
  const seconds = v.startedAt && v.completedAt ? (v.completedAt - v.startedAt) / 1000 : null;
  return {
    status: 'COMPLETED',
    ...common,
    logs: shown,
    metrics: { inference_time: seconds },
    ...(v.error ? { error: v.error.message, error_type: v.error.code } : {}),
  };
}

const seedOut = (s: string) => (BigInt(s) <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(s) : s);

/** The result body of a succeeded job, fal's shape for the Wan endpoints. */
export function falResult(v: JobView, base: string) {
  const r = v.results[0];
  const prompt = typeof v.input.prompt === 'string' ? v.input.prompt : undefined;
  return {
    video: { url: fileUrl(base, r.name), content_type: r.contentType, file_name: r.name, file_size: r.bytes },
    seed: seedOut(r.seed),
    ...(prompt !== undefined ? { prompt } : {}),
    ...(v.results.length > 1 ? { videos: v.results.map((x) => ({ url: fileUrl(base, x.name), content_type: x.contentType, file_name: x.name, file_size: x.bytes, seed: seedOut(x.seed) })) } : {}),
  };
}

/** The body fal POSTs to a fal_webhook URL. */
export function falWebhook(v: JobView, base: string) {
  if (v.status === 'succeeded') return { request_id: v.id, gateway_request_id: v.id, status: 'OK', payload: falResult(v, base) };
  const e = falError(describeError(v.error));
  return { request_id: v.id, gateway_request_id: v.id, status: 'ERROR', error: v.error?.message ?? 'failed', payload: e.body };
}

function sendFalError(reply: FastifyReply, err: unknown) {
  const { status, body } = falError(describeError(err));
  return reply.code(status).send(body);
}

/** The reply for a job that ended: its result, or its error in fal's shape. */
function sendOutcome(reply: FastifyReply, v: JobView, base: string) {
  reply.header(REQUEST_ID_HEADER, v.id);
  if (v.status === 'succeeded') return reply.code(200).send(falResult(v, base));
  if (v.status === 'cancelled') return reply.code(400).send({ detail: 'the request was cancelled' });
  return sendFalError(reply, v.error ?? new HttpError(500, 'E_NATIVE', 'failed'));
}

async function submit(state: ServerState, req: FastifyRequest, endpoint: string, keyId: string | null): Promise<JobView> {
  const body = req.body;
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(422, 'E_INVALID_ARGUMENT', 'the request body must be a JSON object of the endpoint\'s input fields');
  const webhook = (req.query as Record<string, string | undefined>).fal_webhook;
  if (webhook !== undefined) checkUrl(webhook, 'fal_webhook', state.config.fetch);
  const [spec] = await submitJobs(state, 'fal', [{ id: randomId(), input: body as Record<string, unknown>, modelId: endpoint, delivery: webhook ? { webhookUrl: webhook } : {} }], keyId);
  return (await state.queue.get(spec.id))!;
}

async function queueRoute(state: ServerState, req: FastifyRequest, reply: FastifyReply) {
  const keyId = authenticate(state, req);
  const path = (req.params as { '*': string })['*'] ?? '';
  const seg = path.split('/').filter(Boolean);
  const k = seg.indexOf('requests');
  if (k >= 2 && seg[k + 1]) {
    const id = seg[k + 1];
    const op = seg.slice(k + 2).join('/');
    const v = await state.queue.get(id);
    if (!v || v.api !== 'fal' || !ownJob(state, v, keyId)) throw notFound(`request ${id} not found`);
    const base = state.publicUrl;
    if (req.method === 'GET' && op === 'status') {
      const q = req.query as Record<string, string | undefined>;
      return reply.send(falStatus(v, base, q.logs === '1' || q.logs === 'true'));
    }
    if (req.method === 'GET' && op === 'status/stream') return streamStatus(state, req, reply, v);
    if (req.method === 'GET' && op === '') {
      if (!TERMINAL.has(v.status)) return reply.code(400).header(REQUEST_ID_HEADER, v.id).send({ detail: 'Request is still in progress' });
      return sendOutcome(reply, v, base);
    }
    if (req.method === 'PUT' && op === 'cancel') {
      if (TERMINAL.has(v.status)) return reply.code(400).send({ status: 'ALREADY_COMPLETED' });
      await state.queue.cancel(id);
      return reply.code(202).send({ status: 'CANCELLATION_REQUESTED' });
    }
    throw notFound(`no route ${req.method} ${req.url}`);
  }
  if (req.method !== 'POST' || seg.length < 2) throw notFound(`no route ${req.method} ${req.url}`);
  const v = await submit(state, req, seg.join('/'), keyId);
  return reply.code(200).header(REQUEST_ID_HEADER, v.id).send({ request_id: v.id, ...falUrls(v, state.publicUrl), queue_position: v.queuePosition ?? 0 });
}

/** Status events until the request completes; with logs=1 each event carries the new log lines. */
async function streamStatus(state: ServerState, req: FastifyRequest, reply: FastifyReply, first: JobView) {
  const q = req.query as Record<string, string | undefined>;
  const withLogs = q.logs === '1' || q.logs === 'true';
  const sse = openSse(req, reply);
  let sentLogs = 0;
  let last = '';
  const push = async () => {
    const v = await state.queue.get(first.id);
    if (!v || sse.closed) return;
    const fresh = v.logs.slice(Math.min(sentLogs, v.logs.length));
    sentLogs = v.logs.length;
    const body = falStatus(v, state.publicUrl, withLogs, fresh);
    const key = JSON.stringify([body.status, (body as { queue_position?: number }).queue_position, fresh.length]);
    if (key !== last || fresh.length) sse.send(body);
    last = key;
    if (TERMINAL.has(v.status)) sse.close();
  };
  let pending: Promise<void> = Promise.resolve();
  const schedule = () => {
    pending = pending.then(push).catch(() => undefined);
  };
  const unsubscribe = state.queue.subscribe((e) => {
    if (e.id === first.id && e.type !== 'preview') schedule();
  });
  const poll = setInterval(schedule, 2000);
  sse.onClose(() => {
    unsubscribe();
    clearInterval(poll);
  });
  schedule();
}

async function runRoute(state: ServerState, req: FastifyRequest, reply: FastifyReply) {
  const keyId = authenticate(state, req);
  const endpoint = ((req.params as { '*': string })['*'] ?? '').split('/').filter(Boolean).join('/');
  if (endpoint.split('/').length < 2) throw notFound(`no fal endpoint at ${req.url}`);
  const v = await submit(state, req, endpoint, keyId);
  const gone = new AbortController();
  req.raw.on('close', () => {
    if (!reply.raw.writableEnded) gone.abort();
  });
  try {
    const done = await waitForJob(state, v.id, { timeoutMs: state.config.limits.syncTimeoutMs, signal: gone.signal });
    return sendOutcome(reply, done, state.publicUrl);
  } catch (err) {
    if (gone.signal.aborted) await state.queue.cancel(v.id);
    throw err;
  }
}

export function registerFal(app: FastifyInstance, state: ServerState): void {
  const config = { api: 'fal' as const };
  const wrap = (fn: (s: ServerState, req: FastifyRequest, reply: FastifyReply) => Promise<unknown>) => async (req: FastifyRequest, reply: FastifyReply) => {
    try {
      return await fn(state, req, reply);
    } catch (err) {
      if (reply.sent || reply.raw.headersSent) return;
      return sendFalError(reply, err);
    }
  };
  app.route({ method: ['POST'], url: '/_fal/run/*', config, handler: wrap(runRoute) });
  app.route({ method: ['GET', 'POST', 'PUT'], url: '/*', config, handler: wrap(queueRoute) });
}
