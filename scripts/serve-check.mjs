#!/usr/bin/env node
// Runs the three APIs' own clients against a running `wan-video serve` and checks that each gets a
// video ffmpeg can decode: @fal-ai/client (subscribe, logs), @runware/sdk-js (WebSocket) and Oxen
// as its documentation does it (fetch, and an SSE reader on /api/events).
//   node scripts/serve-check.mjs [BASE_URL] [KEY]      (defaults: http://127.0.0.1:8000, $WAN_VIDEO_KEY)
// Small sizes, so the demo model answers in seconds on a CPU. Exit status 1 if any client fails.
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createFalClient } from '@fal-ai/client';
import { RunwareServer } from '@runware/sdk-js';

import { findFfmpeg } from '../dist/video/ffmpeg.js';

const base = (process.argv[2] ?? 'http://127.0.0.1:8000').replace(/\/+$/, '');
const key = process.argv[3] ?? process.env.WAN_VIDEO_KEY ?? '';
const dir = mkdtempSync(join(tmpdir(), 'serve-check-'));

async function playable(name, url) {
  const file = join(dir, `${name}.video`);
  const res = await fetch(url);
  writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  const r = spawnSync(findFfmpeg().path, ['-v', 'error', '-i', file, '-f', 'framemd5', '-'], { encoding: 'utf8' });
  const frames = r.status === 0 ? r.stdout.split('\n').filter((l) => l && !l.startsWith('#')).length : 0;
  if (!frames) throw new Error(`${name}: ${url} does not decode`);
  return `${frames} frames (${file})`;
}

const checks = {
  async fal() {
    const fal = createFalClient({
      credentials: key,
      requestMiddleware: async (req) => ({ ...req, url: req.url.replace(/^https:\/\/queue\.fal\.run/, base).replace(/^https:\/\/fal\.run/, `${base}/_fal/run`) }),
    });
    let steps = 0;
    const { data } = await fal.subscribe('fal-ai/wan/v2.2-a14b/text-to-video', {
      input: { prompt: 'a red fox in the snow', resolution: '480p', num_frames: 17, num_inference_steps: 4, interpolator_model: 'none' },
      logs: true,
      onQueueUpdate: (u) => (steps = Math.max(steps, (u.logs ?? []).filter((l) => l.message.startsWith('step ')).length)),
    });
    return `${await playable('fal', data.video.url)}, ${steps} step lines in the logs`;
  },
  async runware() {
    const runware = new RunwareServer({ apiKey: key, url: `${base.replace(/^http/, 'ws')}/v1`, shouldReconnect: false });
    try {
      const [video] = await runware.videoInference({ positivePrompt: 'a red fox in the snow', model: 'runware:200@6', width: 256, height: 256, duration: 1, fps: 16, steps: 4 });
      return await playable('runware', video.videoURL);
    } finally {
      await runware.disconnect();
    }
  },
  async oxen() {
    const headers = { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' };
    const events = await fetch(`${base}/api/events`, { headers });
    const reader = events.body.getReader();
    const { generations } = await (await fetch(`${base}/api/ai/queue`, { method: 'POST', headers, body: JSON.stringify({ model: 'wan-ai-wan2-1-t2v-1-3b-diffusers', prompt: 'a red fox in the snow', width: 128, height: 128, num_frames: 17, num_inference_steps: 4 }) })).json();
    const id = generations[0].generation_id;
    let buf = '';
    let event = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error('oxen: the event stream ended');
      buf += new TextDecoder().decode(value);
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trimEnd();
        buf = buf.slice(nl + 1);
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:') && event === 'media_generation_completed') {
          const e = JSON.parse(line.slice(5));
          if (e.generation_id !== id) continue;
          await reader.cancel();
          if (e.status !== 'succeeded') throw new Error(`oxen: ${e.error}`);
          return await playable('oxen', e.url);
        } else if (line === '') event = null;
      }
    }
  },
};

let failed = 0;
for (const [name, run] of Object.entries(checks)) {
  const t0 = performance.now();
  try {
    console.log(`PASS ${name}: ${await run()} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${name}: ${err?.message ?? JSON.stringify(err)}`);
  }
}
process.exit(failed ? 1 : 0);
