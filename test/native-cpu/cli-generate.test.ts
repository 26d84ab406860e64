// wan-video generate and demo as a person runs them (the built dist/).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { findFfmpeg } from '../../lib/video/ffmpeg.js';
import { repoRoot } from '../helpers/paths.js';

const cli = join(repoRoot, 'dist', 'cli', 'main.js');
const cache = mkdtempSync(join(tmpdir(), 'wan-demo-cache-'));
const run = (cwd: string, ...args: string[]) =>
  spawnSync(process.execPath, [cli, ...args], { cwd, encoding: 'utf8', env: { ...process.env, WAN_VIDEO_CACHE: cache, WAN_VIDEO_DEVICE: 'cpu' } });

/** Frame count and size of a video, decoded back with ffmpeg. */
function probe(file: string): { frames: number; width: number; height: number } {
  const r = spawnSync(findFfmpeg().path, ['-hide_banner', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: 1 << 28 });
  const m = /Stream #.*Video:.* (\d+)x(\d+)/.exec(r.stderr.toString());
  if (!m) throw new Error(`ffmpeg could not read ${file}: ${r.stderr.toString()}`);
  const [width, height] = [Number(m[1]), Number(m[2])];
  return { frames: r.stdout.length / (width * height * 3), width, height };
}

describe('wan-video demo and generate', () => {
  it('demo writes an mp4 with the expected frames and size, and a contact sheet', () => {
    const out = mkdtempSync(join(tmpdir(), 'wan-demo-out-'));
    const r = run(out, 'demo');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/RANDOM weights/);
    expect(r.stderr).toMatch(/--model .*Wan2\.1-T2V-1\.3B-Diffusers/);
    expect(probe(join(out, 'wan-video-demo.mp4'))).toEqual({ frames: 33, width: 256, height: 144 });
    expect(existsSync(join(out, 'wan-video-demo.png'))).toBe(true);
  }, 300_000);

  it('generate refuses an invalid request naming the field, and a broken folder naming the file', () => {
    const out = mkdtempSync(join(tmpdir(), 'wan-gen-'));
    expect(run(out, 'demo').status).toBe(0);
    const model = join(cache, 'demo-tiny-wan');
    const bad = run(out, 'generate', '--model', model, '--prompt', 'x', '--steps', '0', '--out', join(out, 'x.mp4'));
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/steps/);
    const request = join(out, 'fal.json');
    writeFileSync(request, JSON.stringify({ prompt: 'a fox', num_frames: 9, resolution: '480p', num_inference_steps: 99 }));
    const fal = run(out, 'generate', '--model', model, '--request', request, '--out', join(out, 'y.mp4'));
    expect(fal.status).not.toBe(0);
    expect(fal.stderr).toMatch(/num_inference_steps/);
    const broken = run(out, 'generate', '--model', out, '--prompt', 'x', '--out', join(out, 'z.mp4'));
    expect(broken.status).not.toBe(0);
    expect(broken.stderr).toMatch(/model_index\.json/);
  }, 300_000);

  it('generate writes PNG frames, JSON lines with --json', () => {
    const out = mkdtempSync(join(tmpdir(), 'wan-gen-'));
    expect(run(out, 'demo').status).toBe(0);
    const r = run(out, 'generate', '--model', join(cache, 'demo-tiny-wan'), '--prompt', 'a cat', '--width', '64', '--height', '48', '--frames', '5', '--steps', '2', '--seed', '7', '--out', join(out, 'frames'), '--json');
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.type === 'step')).toHaveLength(2);
    expect(lines.at(-1)).toMatchObject({ type: 'result', frames: 5, width: 64, height: 48, seed: '7' });
    expect(existsSync(join(out, 'frames', 'frame_0004.png'))).toBe(true);
  }, 300_000);

  it('generate writes webm (VP9) and mov (H.264) at the requested fps', () => {
    const out = mkdtempSync(join(tmpdir(), 'wan-gen-'));
    expect(run(out, 'demo').status).toBe(0);
    const model = join(cache, 'demo-tiny-wan');
    for (const ext of ['webm', 'mov']) {
      const file = join(out, `v.${ext}`);
      const r = run(out, 'generate', '--model', model, '--prompt', 'a cat', '--width', '64', '--height', '48', '--frames', '9', '--fps', '24', '--steps', '2', '--quality', '30', '--write-mode', 'fast', '--out', file);
      expect(r.status, r.stderr).toBe(0);
      expect(probe(file)).toEqual({ frames: 9, width: 64, height: 48 });
      const info = spawnSync(findFfmpeg().path, ['-hide_banner', '-i', file]).stderr.toString();
      expect(info).toMatch(ext === 'webm' ? /Video: vp9/ : /Video: h264/);
      expect(info).toMatch(/24 fps/);
    }
  }, 300_000);

  it('generate --interpolate N --rife PATH writes (n - 1) * (N + 1) + 1 frames at fps * (N + 1)', () => {
    const out = mkdtempSync(join(tmpdir(), 'wan-gen-'));
    expect(run(out, 'demo').status).toBe(0);
    const model = join(cache, 'demo-tiny-wan');
    const rife = join(repoRoot, 'test', 'fixtures', 'models', 'rife-4.25-tiny', 'flownet.safetensors');
    const file = join(out, 'smooth.mp4');
    const r = run(out, 'generate', '--model', model, '--prompt', 'a cat', '--width', '64', '--height', '48', '--frames', '5', '--fps', '16', '--steps', '2', '--interpolate', '2', '--rife', rife, '--out', file);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/13 frames 64x48 at 48 fps/);
    expect(probe(file)).toEqual({ frames: 13, width: 64, height: 48 });
    expect(spawnSync(findFfmpeg().path, ['-hide_banner', '-i', file]).stderr.toString()).toMatch(/48 fps/);
    const missing = run(out, 'generate', '--model', model, '--prompt', 'a cat', '--width', '64', '--height', '48', '--frames', '5', '--steps', '2', '--interpolate', '1', '--out', join(out, 'x.mp4'));
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toMatch(/interpolate: frame interpolation needs an interpolator.*--rife PATH/);
  }, 300_000);

  it('Ctrl-C (SIGINT) cancels within a step, says so, exits 130 and leaves no file', async () => {
    const out = mkdtempSync(join(tmpdir(), 'wan-gen-'));
    expect(run(out, 'demo').status).toBe(0);
    const file = join(out, 'never.mp4');
    const child = spawn(process.execPath, [cli, 'generate', '--model', join(cache, 'demo-tiny-wan'), '--prompt', 'a cat', '--width', '256', '--height', '144', '--frames', '33', '--steps', '100', '--out', file], {
      env: { ...process.env, WAN_VIDEO_DEVICE: 'cpu' },
    });
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await new Promise<void>((resolve) =>
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (/step 2\/100/.test(stderr)) resolve();
      }),
    );
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toMatch(/cancelled; nothing was written/);
    expect(stderr).not.toMatch(/step 100\/100/);
    expect(existsSync(file)).toBe(false);
  }, 300_000);
});
