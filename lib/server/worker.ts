// What a worker does with a job: take the pipeline from the pool, run the request, stream frames
// into the result files as they are decoded, report steps (and a small preview), upload results
// where the request asks, and once the job has ended, POST its webhook.
import { readFile, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';

import { WanError } from '../errors.js';
import { webhookBody } from '../api/webhooks.js';
import { normalizeRequest } from '../schemas/normalize.js';
import type { FrameSink } from '../video/output.js';
import type { ServerConfig } from './config.js';
import { openResultFile, resultFormat } from './encode.js';
import { type EngineEvent, runRequest } from './engine.js';
import { guardedFetch } from './fetch-guard.js';
import type { PipelinePool } from './pool.js';
import { previewPng } from './preview.js';
import type { JobQueue } from './queue/types.js';
import { CONTENT_TYPES, type Storage } from './storage.js';
import { type JobHandler, type JobProgress, type JobResult, logLine } from './types.js';
import { postWebhook } from './webhooks.js';

export interface WorkerDeps {
  pool: PipelinePool;
  storage: Storage;
  config: ServerConfig;
  publicUrl: string;
}

export function createJobHandler(deps: WorkerDeps): JobHandler {
  return async (spec, ctx) => {
    const { request } = normalizeRequest(spec.input, { api: spec.api });
    const ext = resultFormat(request.output);
    const lease = await deps.pool.acquire(spec.model);
    const files = new Map<number, { sink: FrameSink; file: string; temp: string; name: string; expiresAt: number }>();
    const t0 = performance.now();
    let stepsDone = 0;
    let lastPreview = 0;
    const results = request.numberResults;
    const onEvent = async (e: EngineEvent, result: number) => {
      if (e.type === 'step') {
        stepsDone++;
        const done = e.index + 1;
        const elapsed = (performance.now() - t0) / 1000;
        const remaining = (e.total - done) + (results - 1 - result) * e.total;
        const p: JobProgress = {
          step: done, total: e.total, expert: e.expert, cached: e.cached, forwards: e.forwards,
          secondsPerStep: e.ms / 1000, etaSeconds: Math.round((elapsed / stepsDone) * remaining * 10) / 10, result, results,
        };
        const of = results > 1 ? ` (video ${result + 1}/${results})` : '';
        ctx.progress(p, logLine(`step ${done}/${e.total}${of} expert ${e.expert}, ${e.cached}/${e.forwards} transformer calls cached, ${p.secondsPerStep.toFixed(2)} s/step, ETA ${Math.ceil(p.etaSeconds)} s`));
      } else if (e.type === 'frames') {
        let f = files.get(result);
        if (!f) {
          const place = deps.storage.place(spec.id, result, ext, spec.delivery.ttlSeconds);
          f = { ...place, sink: openResultFile(place.temp, request.output) };
          files.set(result, f);
        }
        await f.sink.add(e.frames, e.width, e.height, e.fps);
        if (deps.config.previews && e.frames.length && Date.now() - lastPreview > 1000) {
          lastPreview = Date.now();
          ctx.preview(previewPng(e.frames[e.frames.length - 1], e.width, e.height).toString('base64'));
        }
      } else if (e.type === 'warning') {
        ctx.log(logLine(`warning: ${e.message}`, 'WARN'));
      } else if (e.type === 'encode') {
        ctx.log(logLine(`prompt encoded in ${e.ms.toFixed(0)} ms (embedding cache: ${e.cacheHits} hit, ${e.cacheMisses} miss)`));
      }
    };
    try {
      ctx.log(logLine(`running on ${spec.model} (worker ${hostname()}:${process.pid}, attempt ${ctx.attempt})`));
      const made = await runRequest(lease.pipe, spec.input, { api: spec.api, signal: ctx.signal, onEvent });
      const out: JobResult[] = [];
      for (const r of made) {
        const f = files.get(r.index);
        if (!f) throw new WanError('E_NATIVE', `result ${r.index} produced no frames`);
        await f.sink.finish();
        await deps.storage.publish(f);
        const bytes = (await stat(f.file)).size;
        const res: JobResult = {
          index: r.index, seed: r.seed.toString(), name: f.name, contentType: CONTENT_TYPES[ext], bytes,
          width: r.width, height: r.height, frames: r.frames, fps: r.fps, expiresAt: f.expiresAt,
        };
        if (spec.delivery.uploadEndpoint) res.uploadedTo = await upload(f.file, res, spec.delivery.uploadEndpoint, deps.config);
        out.push(res);
      }
      ctx.log(logLine(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`));
      return out;
    } catch (err) {
      for (const f of files.values()) {
        f.sink.abort();
        await rm(f.temp, { force: true });
      }
      throw err;
    } finally {
      lease.release();
    }
  };
}

/** PUT one result to the request's upload endpoint (Runware `uploadEndpoint`), retried as webhooks are. */
async function upload(file: string, r: JobResult, endpoint: string, config: ServerConfig): Promise<string> {
  const body = await readFile(file);
  let status = 0;
  for (let attempt = 0; attempt <= config.webhooks.retries; attempt++) {
    if (attempt > 0) await new Promise((res) => setTimeout(res, config.webhooks.backoffMs * 2 ** (attempt - 1)));
    const res = await guardedFetch(endpoint, { method: 'PUT', headers: { 'content-type': r.contentType, 'content-length': String(body.length) }, body, field: 'uploadEndpoint', policy: config.fetch });
    status = res.status;
    if (status >= 200 && status < 300) return endpoint;
  }
  throw new WanError('E_INVALID_ARGUMENT', `uploadEndpoint: the upload answered HTTP ${status} (${config.webhooks.retries + 1} tries)`);
}

/** Runs the queue's jobs in this process and sends each ended job's webhook. */
export function startWorking(queue: JobQueue, deps: WorkerDeps, concurrency: number) {
  const handler = createJobHandler(deps);
  return queue.work(handler, {
    concurrency,
    onFinished: (id) => {
      void (async () => {
        const view = await queue.get(id);
        if (!view?.delivery.webhookUrl || view.status === 'cancelled') return;
        await postWebhook(view.delivery.webhookUrl, await webhookBody(view, deps), {
          policy: deps.config.fetch, retries: deps.config.webhooks.retries, backoffMs: deps.config.webhooks.backoffMs,
          field: view.api === 'fal' ? 'fal_webhook' : 'webhookURL', log: (l) => console.error(`wan-video: job ${id}: ${l}`),
        });
      })().catch((err) => console.error(`wan-video: webhook of job ${id}:`, err));
    },
  });
}
