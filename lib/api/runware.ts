// Runware's task API, over the WebSocket @runware/sdk-js speaks (GET /v1, upgraded) and over REST
// (POST /v1): every message is an array of tasks, every answer {data: [...]} and/or {errors: [...]}.
//   authentication {apiKey}          -> {taskType, connectionSessionUUID} (REST also takes Authorization: Bearer)
//   ping                             -> {taskType: "ping", pong: true}
//   videoInference {..., deliveryMethod: "async"} -> the acknowledgement {taskType, taskUUID} once the job is on disk;
//                                       "sync" (the default) answers with the videos when they are done
//   getResponse {taskUUID}           -> one {status: "processing"} item while it runs, then one "success" item per video
//                                       ({videoUUID, videoURL | videoBase64Data | videoDataURI, seed, cost?}); errors as errors
//   cancelTask {taskUUID}            -> wan-video's own task (Runware documents none): cancels a queued or running job
// Transport fields are the server's: outputType (URL, base64Data, dataURI), webhookURL (the job's
// items POSTed as {data: [...]} or {errors: [...]} when it ends), uploadEndpoint (each video PUT
// there), ttl (how long the URL serves the file), includeCost (cost 0: a local run). The rest goes
// to the videoInference adapter, which names Runware's fields in its errors.
import { createHash, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';

import { keyFromHeaders } from '../server/auth.js';
import { checkUrl } from '../server/fetch-guard.js';
import { TERMINAL, type JobResult, type JobView } from '../server/types.js';
import { authenticate, ownJob } from './auth-hook.js';
import { HttpError, type ServerState, fileUrl, submitJobs, waitForJob } from './common.js';
import { type ErrorInfo, describeError, runwareError } from './errors.js';

type Task = Record<string, unknown>;
interface Reply {
  data: Task[];
  errors: Task[];
}
interface Session {
  keyId: string | null | undefined;
  sessionUUID?: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const OUTPUT_TYPES = ['URL', 'base64Data', 'dataURI'] as const;

/** A stable UUID for result `index` of a task (the SDK tells videos apart by it). */
function videoUUID(taskUUID: string, index: number): string {
  const h = createHash('sha1').update(`${taskUUID}/${index}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16], 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const seedOut = (s: string) => (BigInt(s) <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(s) : s);

/** What result items need: the URL base and the storage folder (the server's or a worker's). */
export type ItemContext = { publicUrl: string; config: { storage: { dir: string } } };

async function successItem(state: ItemContext, v: JobView, r: JobResult): Promise<Task> {
  const item: Task = { taskType: 'videoInference', taskUUID: v.id, status: 'success', videoUUID: videoUUID(v.id, r.index), seed: seedOut(r.seed) };
  const type = v.delivery.outputType;
  if (type === 'URL') item.videoURL = fileUrl(state.publicUrl, r.name);
  else {
    const b64 = (await readFile(join(state.config.storage.dir, r.name))).toString('base64');
    if (type === 'base64Data') item.videoBase64Data = b64;
    else item.videoDataURI = `data:${r.contentType};base64,${b64}`;
  }
  if (v.delivery.includeCost) item.cost = 0;
  return item;
}

/** What getResponse (and a sync videoInference, and the webhook) says of a job. */
export async function runwayItems(state: ItemContext, v: JobView): Promise<Reply> {
  if (v.status === 'succeeded') return { data: await Promise.all(v.results.map((r) => successItem(state, v, r))), errors: [] };
  if (v.status === 'failed' || v.status === 'cancelled') {
    return { data: [], errors: [runwareError(describeError(v.error ?? { code: v.status === 'cancelled' ? 'E_CANCELLED' : 'E_NATIVE', message: v.status }), { taskType: 'videoInference', taskUUID: v.id })] };
  }
  return { data: [{ taskType: 'videoInference', taskUUID: v.id, status: 'processing', ...(v.progress ? { progress: v.progress } : {}) }], errors: [] };
}

function taskError(e: ErrorInfo | unknown, task: Task): Task {
  const info = (e as ErrorInfo).status !== undefined && (e as ErrorInfo).code !== undefined ? (e as ErrorInfo) : describeError(e);
  return runwareError(info, { taskType: typeof task.taskType === 'string' ? task.taskType : undefined, taskUUID: typeof task.taskUUID === 'string' ? task.taskUUID : undefined });
}

function requireKey(session: Session): string | null {
  if (session.keyId === undefined) throw new HttpError(401, 'E_UNAUTHORIZED', 'authenticate first: send an authentication task with apiKey (or Authorization: Bearer <key>)', 'apiKey');
  return session.keyId;
}

async function videoInference(state: ServerState, task: Task, session: Session, later?: (r: Reply) => void): Promise<Reply> {
  const keyId = requireKey(session);
  const { taskType: _t, taskUUID, deliveryMethod, webhookURL, uploadEndpoint, outputType, includeCost, ...input } = task;
  if (typeof taskUUID !== 'string' || !UUID.test(taskUUID)) throw new HttpError(400, 'E_INVALID_ARGUMENT', 'taskUUID must be a UUID v4 string', 'taskUUID');
  if (deliveryMethod !== undefined && deliveryMethod !== 'sync' && deliveryMethod !== 'async') throw new HttpError(400, 'E_INVALID_ARGUMENT', 'deliveryMethod must be "sync" or "async"', 'deliveryMethod');
  if (outputType !== undefined && !OUTPUT_TYPES.includes(outputType as (typeof OUTPUT_TYPES)[number])) {
    throw new HttpError(400, 'E_INVALID_ARGUMENT', `outputType must be one of ${OUTPUT_TYPES.join(', ')}`, 'outputType');
  }
  if (includeCost !== undefined && typeof includeCost !== 'boolean') throw new HttpError(400, 'E_INVALID_ARGUMENT', 'includeCost must be true or false', 'includeCost');
  for (const [field, url] of [['webhookURL', webhookURL], ['uploadEndpoint', uploadEndpoint]] as const) {
    if (url !== undefined) {
      if (typeof url !== 'string') throw new HttpError(400, 'E_INVALID_ARGUMENT', `${field} must be a URL string`, field);
      checkUrl(url, field, state.config.fetch);
    }
  }
  let v = await state.queue.get(taskUUID);
  if (v && (v.api !== 'runware' || !ownJob(state, v, keyId))) throw new HttpError(400, 'E_INVALID_ARGUMENT', 'this taskUUID is already in use', 'taskUUID');
  if (!v) {
    const ttl = typeof input.ttl === 'number' ? input.ttl : undefined;
    await submitJobs(
      state,
      'runware',
      [{
        id: taskUUID,
        input,
        modelId: typeof input.model === 'string' ? input.model : undefined,
        delivery: {
          outputType: (outputType as JobView['delivery']['outputType']) ?? 'URL',
          ...(typeof webhookURL === 'string' ? { webhookUrl: webhookURL } : {}),
          ...(typeof uploadEndpoint === 'string' ? { uploadEndpoint } : {}),
          ...(ttl !== undefined && Number.isInteger(ttl) && ttl >= 60 ? { ttlSeconds: ttl } : {}),
          includeCost: includeCost === true,
        },
      }],
      keyId,
    );
    v = (await state.queue.get(taskUUID))!;
  }
  if (deliveryMethod === 'async') return { data: [{ taskType: 'videoInference', taskUUID }], errors: [] };
  const wait = waitForJob(state, taskUUID, { timeoutMs: state.config.limits.syncTimeoutMs }).then((done) => runwayItems(state, done));
  if (later) {
    // Over the WebSocket a sync task answers when it is done, without holding other messages up.
    wait.then(later, (err) => later({ data: [], errors: [taskError(err, task)] }));
    return { data: [], errors: [] };
  }
  return wait;
}

async function getResponse(state: ServerState, task: Task, session: Session): Promise<Reply> {
  const keyId = requireKey(session);
  const id = task.taskUUID;
  if (typeof id !== 'string') throw new HttpError(400, 'E_INVALID_ARGUMENT', 'taskUUID is required', 'taskUUID');
  const v = await state.queue.get(id);
  if (!v || v.api !== 'runware' || !ownJob(state, v, keyId)) throw new HttpError(404, 'E_NOT_FOUND', `no task ${id}`, 'taskUUID');
  return runwayItems(state, v);
}

async function cancelTask(state: ServerState, task: Task, session: Session): Promise<Reply> {
  const keyId = requireKey(session);
  const id = task.taskUUID;
  if (typeof id !== 'string') throw new HttpError(400, 'E_INVALID_ARGUMENT', 'taskUUID is required', 'taskUUID');
  const v = await state.queue.get(id);
  if (!v || v.api !== 'runware' || !ownJob(state, v, keyId)) throw new HttpError(404, 'E_NOT_FOUND', `no task ${id}`, 'taskUUID');
  const after = TERMINAL.has(v.status) ? v : await state.queue.cancel(id);
  return { data: [{ taskType: 'cancelTask', taskUUID: id, status: after?.status === 'cancelled' || !TERMINAL.has(after?.status ?? 'queued') ? 'cancelled' : after!.status }], errors: [] };
}

/** One task, answered as Runware answers it. */
async function handleTask(state: ServerState, task: unknown, session: Session, later?: (r: Reply) => void): Promise<Reply> {
  if (task === null || typeof task !== 'object' || Array.isArray(task)) {
    return { data: [], errors: [runwareError({ status: 400, code: 'E_INVALID_ARGUMENT', message: 'each task must be an object with a taskType', field: 'taskType' })] };
  }
  const t = task as Task;
  try {
    switch (t.taskType) {
      case 'authentication': {
        const name = state.keys.check(typeof t.apiKey === 'string' ? t.apiKey : undefined);
        if (name === null) throw new HttpError(401, 'E_UNAUTHORIZED', 'Invalid API key', 'apiKey');
        session.keyId = state.keys.disabled ? null : name;
        session.sessionUUID ??= typeof t.connectionSessionUUID === 'string' ? t.connectionSessionUUID : randomUUID();
        return { data: [{ taskType: 'authentication', connectionSessionUUID: session.sessionUUID }], errors: [] };
      }
      case 'ping':
        return { data: [{ taskType: 'ping', pong: true }], errors: [] };
      case 'videoInference':
        return await videoInference(state, t, session, later);
      case 'getResponse':
        return await getResponse(state, t, session);
      case 'cancelTask':
        return await cancelTask(state, t, session);
      default:
        throw new HttpError(400, 'E_UNSUPPORTED', `taskType ${JSON.stringify(t.taskType)} is not served here (videoInference, getResponse, cancelTask, authentication, ping)`, 'taskType');
    }
  } catch (err) {
    return { data: [], errors: [taskError(err, t)] };
  }
}

async function restRoute(state: ServerState, req: FastifyRequest, reply: FastifyReply) {
  const tasks = Array.isArray(req.body) ? req.body : [req.body];
  const session: Session = { keyId: undefined };
  const key = keyFromHeaders(req.headers);
  if (state.keys.disabled) session.keyId = null;
  else if (key) session.keyId = authenticate(state, req, key);
  // An authentication task anywhere in the array authenticates the others.
  const auth = tasks.find((t) => (t as Task)?.taskType === 'authentication');
  const out: Reply = { data: [], errors: [] };
  if (auth) {
    const r = await handleTask(state, auth, session);
    out.data.push(...r.data);
    out.errors.push(...r.errors);
  }
  for (const t of tasks) {
    if (t === auth) continue;
    const r = await handleTask(state, t, session);
    out.data.push(...r.data);
    out.errors.push(...r.errors);
  }
  const status = out.errors.length && !out.data.length ? statusFromErrors(out.errors) : 200;
  return reply.code(status).send({ ...(out.data.length || !out.errors.length ? { data: out.data } : {}), ...(out.errors.length ? { errors: out.errors } : {}) });
}

function statusFromErrors(errors: Task[]): number {
  const code = errors[0]?.code;
  return code === 'invalidApiKey' ? 401 : code === 'notFound' ? 404 : code === 'tooManyRequests' ? 429 : code === 'internalError' ? 500 : 400;
}

function socketRoute(state: ServerState, socket: WebSocket, req: FastifyRequest) {
  const session: Session = { keyId: state.keys.disabled ? null : undefined };
  const key = keyFromHeaders(req.headers);
  if (key && !state.keys.disabled) session.keyId = state.keys.check(key) ?? undefined;
  const send = (r: Reply) => {
    if (socket.readyState !== 1) return;
    if (r.data.length) socket.send(JSON.stringify({ data: r.data }));
    if (r.errors.length) socket.send(JSON.stringify({ errors: r.errors }));
  };
  socket.on('message', (raw: Buffer) => {
    if (raw.length > state.config.limits.bodyBytes) return send({ data: [], errors: [runwareError({ status: 413, code: 'E_BODY_TOO_LARGE', message: 'message larger than limits.bodyBytes' })] });
    let tasks: unknown;
    try {
      tasks = JSON.parse(raw.toString('utf8'));
    } catch (err) {
      return send({ data: [], errors: [runwareError({ status: 400, code: 'E_INVALID_ARGUMENT', message: `the message is not valid JSON: ${(err as Error).message}` })] });
    }
    void (async () => {
      for (const t of Array.isArray(tasks) ? tasks : [tasks]) send(await handleTask(state, t, session, send));
    })();
  });
  socket.on('error', () => socket.terminate());
}

/** The body POSTed to a webhookURL. */
export async function runwareWebhook(state: ItemContext, v: JobView) {
  const r = await runwayItems(state, v);
  return r.errors.length ? { errors: r.errors } : { data: r.data };
}

export function registerRunware(app: FastifyInstance, state: ServerState): void {
  const config = { api: 'runware' as const };
  app.route({
    method: 'GET',
    url: '/v1',
    config,
    handler: (_req, reply) => reply.code(426).send({ errors: [{ code: 'upgradeRequired', message: 'connect with a WebSocket, or POST an array of tasks' }] }),
    wsHandler: (socket, req) => socketRoute(state, socket as unknown as WebSocket, req),
  });
  app.route({
    method: 'POST',
    url: '/v1',
    config,
    handler: async (req, reply) => {
      try {
        return await restRoute(state, req, reply);
      } catch (err) {
        const e = describeError(err);
        return reply.code(e.status).send({ errors: [runwareError(e)] });
      }
    },
  });
}
