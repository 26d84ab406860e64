// Shared by the server tests: the tiny demo model, servers in this process or as `wan-video serve`
// child processes, a private redis-server, and a check that a video file decodes.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ensureTinyModel } from '../../lib/demo/tiny-model.js';
import { type WanServer, createServer } from '../../lib/server/server.js';
import type { ServerConfigInput } from '../../lib/server/config.js';
import { findFfmpeg } from '../../lib/video/ffmpeg.js';
import { repoRoot } from '../helpers/paths.js';

export const KEY = 'test-key-0123456789';
export const CLI = join(repoRoot, 'dist', 'cli', 'main.js');

/** The tiny random-weight model, made once per machine under the temp folder. */
export function tinyModel(): Promise<string> {
  return ensureTinyModel(join(tmpdir(), 'wan-video-server-tests', 'demo-tiny-wan'));
}

export function tempDir(prefix = 'wan-srv-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export interface TestServer {
  server: WanServer;
  url: string;
  dir: string;
  close(): Promise<void>;
}

/** A server in this process on a free loopback port: SQLite queue, one in-process worker, key KEY. */
export async function startServer(over: Partial<ServerConfigInput> = {}): Promise<TestServer> {
  const dir = tempDir();
  const model = await tinyModel();
  const server = await createServer({
    port: 0,
    host: '127.0.0.1',
    models: { tiny: { path: model } },
    auth: { keys: [{ name: 'test', key: KEY }] },
    queue: join(dir, 'queue.sqlite'),
    storage: { dir: join(dir, 'out') },
    device: 'cpu',
    fetch: { allowLoopback: true },
    ...over,
  });
  const url = await server.listen();
  return {
    server,
    url,
    dir,
    async close() {
      await server.close({ abort: true });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Child {
  proc: ChildProcess;
  output: () => string;
  /** Resolves with the first output line matching `re`. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): Child {
  const proc = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, WAN_VIDEO_DEVICE: 'cpu', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  return wrapChild(proc);
}

export function wrapChild(proc: ChildProcess): Child {
  let out = '';
  const waiters: Array<{ re: RegExp; resolve: (l: string) => void }> = [];
  const feed = (d: Buffer) => {
    out += d.toString();
    for (const w of [...waiters]) {
      const m = out.split('\n').find((l) => w.re.test(l));
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  proc.stdout?.on('data', feed);
  proc.stderr?.on('data', feed);
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  return {
    proc,
    output: () => out,
    waitFor(re, timeoutMs = 60_000) {
      const m = out.split('\n').find((l) => re.test(l));
      if (m) return Promise.resolve(m);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timed out waiting for ${re} in:\n${out.slice(-2000)}`)), timeoutMs);
        waiters.push({ re, resolve: (l) => (clearTimeout(t), resolve(l)) });
        exited.then(() => setTimeout(() => reject(new Error(`process exited waiting for ${re}:\n${out.slice(-2000)}`)), 50));
      });
    },
    async kill(signal = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill(signal);
      await exited;
    },
  };
}

export const haveRedis = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;

/** A redis-server of our own on a free loopback port, data in a temp folder (append-only file on). */
export async function startRedis(): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const dir = tempDir('wan-redis-');
  const child = wrapChild(spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--protected-mode', 'yes'], { stdio: ['ignore', 'pipe', 'pipe'] }));
  await child.waitFor(/Ready to accept connections/, 20_000);
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      await child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Frames ffmpeg decodes from a video (0 when it cannot decode it). */
export function decodedFrames(file: string): number {
  const r = spawnSync(findFfmpeg().path, ['-v', 'error', '-i', file, '-map', '0:v:0', '-f', 'framemd5', '-'], { encoding: 'utf8' });
  if (r.status !== 0) return 0;
  return r.stdout.split('\n').filter((l) => l && !l.startsWith('#')).length;
}

export async function download(url: string, file: string): Promise<number> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  const { writeFile } = await import('node:fs/promises');
  const b = Buffer.from(await res.arrayBuffer());
  await writeFile(file, b);
  return b.length;
}

export async function until<T>(fn: () => Promise<T | undefined | null | false>, timeoutMs = 60_000, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A small Oxen request the tiny model runs in well under a second. */
export const oxenSmall = (extra: Record<string, unknown> = {}) => ({ model: 'wan-ai-wan2-1-t2v-1-3b-diffusers', prompt: 'a red fox in the snow', width: 64, height: 64, num_frames: 5, num_inference_steps: 2, ...extra });
