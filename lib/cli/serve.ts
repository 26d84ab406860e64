// wan-video serve: the fal, Runware and Oxen APIs on this machine's models; wan-video worker: a
// process that runs the jobs of a Redis queue (one device each, pipelines kept loaded).
import { resolve } from 'node:path';

import { WanError } from '../errors.js';
import { type ServerConfig, modelFlag, parseServerConfig, publicUrlOf, readConfigFile } from '../server/config.js';
import { type CommandSpec, parseCommand, parseDevice } from './args.js';

const COMMON = {
  config: { type: 'string' },
  model: { type: 'string', multiple: true },
  queue: { type: 'string' },
  storage: { type: 'string' },
  'public-url': { type: 'string' },
  device: { type: 'string' },
  'lora-root': { type: 'string', multiple: true },
  rife: { type: 'string' },
  'allow-loopback-fetch': { type: 'boolean' },
  'allow-private-fetch': { type: 'boolean' },
} as const;

const SERVE_OPTIONS = {
  ...COMMON,
  port: { type: 'string' },
  host: { type: 'string' },
  'api-key': { type: 'string', multiple: true },
  'keys-file': { type: 'string' },
  'no-auth': { type: 'boolean' },
  workers: { type: 'string' },
} as const;

export const SERVE = {
  name: 'serve',
  summary: 'the fal, Runware and Oxen video APIs on this machine\'s models (README: Server)',
  usage: `usage: wan-video serve --model [NAME=]DIR... [--config FILE] [--port N] [--host H]
                       (--api-key KEY... | --keys-file FILE | --no-auth)
                       [--queue FILE.sqlite|redis://HOST:PORT] [--storage DIR] [--public-url URL]
                       [--workers N] [--lora-root DIR...] [--rife FLOWNET.safetensors]
                       [--allow-loopback-fetch] [--allow-private-fetch] [--device auto|cpu|cuda]

Serves the hosted APIs' endpoints (fal's queue and run, Runware's task API over WebSocket and REST,
Oxen's generate/queue/events) on the models given; with one --model every model id of the three APIs
reaches it. --rife gives every model RIFE weights for fal's frame interpolation (its default asks
for it; without weights the ask is skipped with a warning). Accepted jobs are on disk (SQLite, default) or in Redis before the reply; a job running
when the process dies runs again after restart. With a redis:// queue the jobs run in
\`wan-video worker\` processes unless --workers says otherwise.
`,
  options: SERVE_OPTIONS,
  aliases: { api_key: 'api-key', apiKey: 'api-key' },
} satisfies CommandSpec;

export const WORKER = {
  name: 'worker',
  summary: 'run the jobs of a Redis queue on this machine\'s device',
  usage: `usage: wan-video worker --queue redis://HOST:PORT --model [NAME=]DIR... [--config FILE] [--storage DIR]
                        [--rife FLOWNET.safetensors] [--public-url URL] [--concurrency N] [--memory-budget-gb G] [--device auto|cpu|cuda]

Takes jobs from the Redis queue a \`wan-video serve --queue redis://...\` accepts them into, keeping
its pipelines loaded (least recently used first out, within --memory-budget-gb).
`,
  options: { ...COMMON, concurrency: { type: 'string' }, 'memory-budget-gb': { type: 'string' } },
} satisfies CommandSpec;

type Values = Record<string, string | string[] | boolean | undefined>;

/** The config file (if any) with the flags on top, validated. */
function configFrom(values: Values, extra: (c: Record<string, unknown>) => void): ServerConfig {
  const c: Record<string, unknown> = values.config ? readConfigFile(values.config as string) : {};
  if (values.model) {
    const models: Record<string, unknown> = { ...((c.models as Record<string, unknown>) ?? {}) };
    for (const m of values.model as string[]) {
      const [name, cfg] = modelFlag(m);
      models[name] = { ...((models[name] as object) ?? {}), ...cfg };
    }
    c.models = models;
  }
  // --rife: the interpolator of every model that does not name its own.
  if (values.rife && c.models && typeof c.models === 'object') {
    const rife = resolve(values.rife as string);
    for (const m of Object.values(c.models as Record<string, Record<string, unknown>>)) if (m && typeof m === 'object' && m.interpolator === undefined) m.interpolator = rife;
  }
  if (values.queue) c.queue = values.queue;
  if (values.storage) c.storage = { ...((c.storage as object) ?? {}), dir: values.storage };
  if (values['public-url']) c.publicUrl = values['public-url'];
  if (values.device) c.device = parseDevice(values.device as string);
  if (values['lora-root']) c.loraRoots = values['lora-root'];
  const fetch = { ...((c.fetch as object) ?? {}) } as Record<string, unknown>;
  if (values['allow-loopback-fetch']) fetch.allowLoopback = true;
  if (values['allow-private-fetch']) fetch.allowPrivate = true;
  c.fetch = fetch;
  extra(c);
  return parseServerConfig(c, values.config ? `--config ${values.config}` : 'flags');
}

const int = (flag: string, v: unknown, min: number, max: number): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new WanError('E_INVALID_ARGUMENT', `--${flag} ${String(v)}: expected an integer from ${min} to ${max}`);
  return n;
};

export async function runServe(args: string[]): Promise<number> {
  const parsed = parseCommand(SERVE, args);
  if (parsed.help) return 0;
  const { values } = parsed;
  const config = configFrom(values as Values, (c) => {
    if (values.port !== undefined) c.port = int('port', values.port, 0, 65535);
    if (values.host) c.host = values.host;
    const auth = { ...((c.auth as object) ?? {}) } as Record<string, unknown>;
    if (values['api-key']) auth.keys = [...((auth.keys as unknown[]) ?? []), ...values['api-key'].map((key, i) => ({ name: `key${i + 1}`, key }))];
    if (values['keys-file']) auth.keysFile = values['keys-file'];
    if (values['no-auth']) auth.disabled = true;
    c.auth = auth;
    if (values.workers !== undefined) c.workers = int('workers', values.workers, 0, 16);
    // With Redis the jobs run in `wan-video worker` processes unless --workers says otherwise.
    else if (typeof c.queue === 'string' && /^rediss?:\/\//.test(c.queue) && c.workers === undefined) c.workers = 0;
  });
  const { createServer } = await import('../server/server.js');
  const server = await createServer(config);
  const url = await server.listen();
  const say = (line: string) => process.stderr.write(`${line}\n`);
  say(`wan-video serve: listening on ${url} (queue: ${server.state.queue.kind === 'sqlite' ? config.queue : 'redis'}, outputs: ${config.storage.dir})`);
  say(`  models: ${server.state.models.map((m) => `${m.name} (${m.variant ?? 'custom'})`).join(', ')}`);
  say(`  fal: ${url}/{owner}/{app} (queue), ${url}/_fal/run/... (sync); Runware: ${url.replace(/^http/, 'ws')}/v1 and POST ${url}/v1; Oxen: ${url}/api/ai/...`);
  if (server.state.keys.disabled) say('  keys: OFF (--no-auth): anyone who can reach this port can run jobs');
  if (config.workers === 0) say('  no jobs run in this process: start `wan-video worker --queue ...` processes');
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  say('wan-video serve: stopping (a running job is cancelled and will run again at the next start)');
  await server.close({ abort: true });
  return 0;
}

export async function runWorker(args: string[]): Promise<number> {
  const parsed = parseCommand(WORKER, args);
  if (parsed.help) return 0;
  const { values } = parsed;
  const config = configFrom(values as Values, (c) => {
    if (values['memory-budget-gb'] !== undefined) c.memoryBudgetBytes = Number(values['memory-budget-gb']) * 2 ** 30;
    c.auth = { disabled: true };
  });
  if (!/^rediss?:\/\//.test(config.queue)) throw new WanError('E_INVALID_ARGUMENT', `--queue ${config.queue}: a worker takes jobs from Redis (redis://host:port); the SQLite queue runs its jobs inside wan-video serve`);
  if (Object.keys(config.models).length === 0) throw new WanError('E_INVALID_ARGUMENT', 'no model: pass --model DIR (the same names as the server\'s) or --config FILE');
  const concurrency = values.concurrency === undefined ? 1 : int('concurrency', values.concurrency, 1, 16);
  const { openQueue } = await import('../server/queue/types.js');
  const { PipelinePool } = await import('../server/pool.js');
  const { Storage } = await import('../server/storage.js');
  const { startWorking } = await import('../server/worker.js');
  const queue = await openQueue(config.queue, { maxAttempts: config.limits.maxAttempts, maxLogs: config.maxLogs, lockMs: config.lockMs });
  const pool = new PipelinePool(config.models, { device: config.device, memoryBudgetBytes: config.memoryBudgetBytes });
  const storage = new Storage(config.storage.dir);
  config.storage.dir = storage.dir;
  const handle = startWorking(queue, { pool, storage, config, publicUrl: publicUrlOf(config) }, concurrency);
  process.stderr.write(`wan-video worker: ready (pid ${process.pid}, models ${Object.keys(config.models).join(', ')}, outputs ${storage.dir})\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await handle.stop({ abort: true });
  await pool.close();
  await queue.close();
  return 0;
}
