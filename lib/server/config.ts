// The server's configuration: a JSON file (--config) with the command's flags on top. Every default
// and limit is declared here, once.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';

import { WanError } from '../errors.js';

const GiB = 2 ** 30;
const MiB = 2 ** 20;

export const ModelConfigSchema = z.strictObject({
  /** A diffusers pipeline folder. */
  path: z.string().min(1),
  /** The APIs' model ids this model answers (besides its name and, with one model, every known id). */
  ids: z.array(z.string().min(1)).default([]),
  /** The distilled 4-step LoRA pair for `fast` / run_fast (Wan2.2 A14B). */
  fastLoras: z.strictObject({ high: z.string(), low: z.string() }).optional(),
  /** RIFE weights (flownet.safetensors) for fal's interpolation fields; without them an interpolation ask is skipped with a warning. */
  interpolator: z.string().min(1).optional(),
  /** Wan2.1 I2V's CLIP image encoder, where the folder has no image_encoder/ (a folder or clip_vision_h.safetensors). */
  imageEncoder: z.string().min(1).optional(),
});

export const ServerConfigSchema = z.strictObject({
  host: z.string().default('127.0.0.1'),
  port: z.int().min(0).max(65535).default(8000),
  /** The base of the URLs the server hands out (files, status_url): default http://host:port. */
  publicUrl: z.string().url().optional(),
  models: z.record(z.string().regex(/^[A-Za-z0-9._:@/-]+$/), ModelConfigSchema).default({}),
  auth: z
    .strictObject({
      /** Turn key checks off explicitly (never the default). */
      disabled: z.boolean().default(false),
      keys: z.array(z.strictObject({ name: z.string().min(1), key: z.string().min(8) })).default([]),
      /** One key a line: `name:key` or just `key`; # starts a comment. */
      keysFile: z.string().optional(),
    })
    .prefault({}),
  /** A SQLite file (the default, embedded) or a redis:// URL (BullMQ, workers elsewhere). */
  queue: z.string().default('wan-video-queue.sqlite'),
  storage: z
    .strictObject({
      dir: z.string().default('wan-video-outputs'),
      /** How long results are served when the request says nothing (Runware's ttl overrides). */
      ttlSeconds: z.int().min(60).default(24 * 3600),
    })
    .prefault({}),
  limits: z
    .strictObject({
      bodyBytes: z.int().min(1024).default(16 * MiB),
      promptChars: z.int().min(16).default(8000),
      /** Jobs a key may have queued or running at once. */
      jobsPerKey: z.int().min(1).default(16),
      /** A request body must arrive within this time (slow clients get 408). */
      requestTimeoutMs: z.int().min(100).default(30_000),
      /** Runs of a job whose worker died before it is failed for good. */
      maxAttempts: z.int().min(1).max(20).default(3),
      /** How long a synchronous request waits for its job. */
      syncTimeoutMs: z.int().min(1000).default(30 * 60_000),
    })
    .prefault({}),
  /** URL fetches: images in requests, webhooks, uploads. */
  fetch: z
    .strictObject({
      maxBytes: z.int().min(1024).default(32 * MiB),
      timeoutMs: z.int().min(100).default(20_000),
      /** Loopback targets (127.0.0.0/8, ::1) are refused unless this is true. */
      allowLoopback: z.boolean().default(false),
      /** Private and link-local targets (10/8, 172.16/12, 192.168/16, 169.254/16, fc00::/7, fe80::/10) likewise. */
      allowPrivate: z.boolean().default(false),
    })
    .prefault({}),
  /** Folders LoRA paths in requests must resolve into (none: requests cannot name LoRAs). */
  loraRoots: z.array(z.string()).default([]),
  /** Folders model paths must be inside (none: any path the operator configures). */
  modelRoots: z.array(z.string()).default([]),
  webhooks: z.strictObject({ retries: z.int().min(0).max(20).default(5), backoffMs: z.int().min(10).default(1000) }).prefault({}),
  /** Jobs run inside the server process (SQLite queue); 0 leaves them to `wan-video worker`. */
  workers: z.int().min(0).max(16).default(1),
  device: z.enum(['auto', 'cpu', 'cuda']).default('auto'),
  /** Memory the loaded pipelines may take before the least recently used is released. */
  memoryBudgetBytes: z.number().positive().default(64 * GiB),
  /** BullMQ: a worker holding a job renews its lock this often; a dead worker's job is retried after it lapses. */
  lockMs: z.int().min(500).default(30_000),
  /** Step events stored per job (fal logs). */
  maxLogs: z.int().min(1).default(500),
  /** Send a downscaled PNG of the latest decoded frame on progress streams. */
  previews: z.boolean().default(true),
});

export type ServerConfig = z.output<typeof ServerConfigSchema>;
export type ServerConfigInput = z.input<typeof ServerConfigSchema>;
export type ModelConfig = z.output<typeof ModelConfigSchema>;

/** Validates a config object; messages name the field. */
export function parseServerConfig(input: unknown, source = 'config'): ServerConfig {
  const r = ServerConfigSchema.safeParse(input);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
    throw new WanError('E_INVALID_ARGUMENT', `${source}: ${lines.join('; ')}`);
  }
  return r.data;
}

/** Reads a JSON config file; relative paths in it resolve against the file's folder. */
export function readConfigFile(file: string): Record<string, unknown> {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new WanError('E_INVALID_ARGUMENT', `--config ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const base = dirname(resolve(file));
  const abs = (p: unknown) => (typeof p === 'string' && !isAbsolute(p) && !p.startsWith('redis://') && !p.startsWith('rediss://') ? resolve(base, p) : p);
  const models = json.models as Record<string, Record<string, unknown>> | undefined;
  if (models && typeof models === 'object') {
    for (const m of Object.values(models)) {
      if (!m || typeof m !== 'object') continue;
      for (const k of ['path', 'interpolator', 'imageEncoder']) if (k in m) m[k] = abs(m[k]);
      const fast = m.fastLoras as Record<string, unknown> | undefined;
      if (fast && typeof fast === 'object') for (const k of ['high', 'low']) if (k in fast) fast[k] = abs(fast[k]);
    }
  }
  if (typeof json.queue === 'string') json.queue = abs(json.queue);
  const storage = json.storage as Record<string, unknown> | undefined;
  if (storage && typeof storage === 'object') storage.dir = abs(storage.dir);
  const auth = json.auth as Record<string, unknown> | undefined;
  if (auth && typeof auth === 'object' && auth.keysFile) auth.keysFile = abs(auth.keysFile);
  for (const k of ['loraRoots', 'modelRoots']) if (Array.isArray(json[k])) json[k] = (json[k] as unknown[]).map(abs);
  return json;
}

/** `--model DIR` or `--model NAME=DIR`: the name defaults to the folder's base name. */
export function modelFlag(v: string): [string, { path: string }] {
  const eq = v.indexOf('=');
  if (eq > 0 && !v.slice(0, eq).includes('/')) return [v.slice(0, eq), { path: resolve(v.slice(eq + 1)) }];
  const path = resolve(v);
  return [path.split(/[\\/]/).filter(Boolean).pop() ?? 'model', { path }];
}

export function publicUrlOf(config: ServerConfig, port = config.port): string {
  if (config.publicUrl) return config.publicUrl.replace(/\/+$/, '');
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
