// wan-video demo, generate and info as a person runs them (the built dist/).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { findFfmpeg } from '../../lib/video/ffmpeg.js';
import { repoRoot } from '../helpers/paths.js';
import { readPng } from '../helpers/png.js';
import { makeTinyPipeline } from '../helpers/tiny-pipeline.js';

const cli = join(repoRoot, 'dist', 'cli', 'main.js');
const work = mkdtempSync(join(tmpdir(), 'wan-cli-'));
const cache = join(work, 'cache');
const run = (cwd: string, ...args: string[]) =>
  spawnSync(process.execPath, [cli, ...args], { cwd, encoding: 'utf8', env: { ...process.env, WAN_VIDEO_CACHE: cache, WAN_VIDEO_DEVICE: 'cpu' } });
const model = join(cache, 'demo-tiny-wan');
const out = (name: string) => join(work, name);

/** Frame count, size and the frames' spread of byte values, decoded back with ffmpeg. */
function probe(file: string): { frames: number; width: number; height: number; std: number } {
  const r = spawnSync(findFfmpeg().path, ['-hide_banner', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: 1 << 28 });
  const m = /Stream #.*Video:.* (\d+)x(\d+)/.exec(r.stderr.toString());
  if (!m) throw new Error(`ffmpeg could not read ${file}: ${r.stderr.toString()}`);
  const [width, height] = [Number(m[1]), Number(m[2])];
  let sum = 0;
  let sq = 0;
  for (const v of r.stdout) {
    sum += v;
    sq += v * v;
  }
  const n = r.stdout.length;
  return { frames: n / (width * height * 3), width, height, std: Math.round(Math.sqrt(sq / n - (sum / n) ** 2)) };
}

let demo: ReturnType<typeof run>;
beforeAll(() => {
  demo = run(work, 'demo', '--out-dir', work);
}, 300_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('wan-video demo', () => {
  it('runs ONE generation and writes the video and the labelled sheet from it', () => {
    expect(demo.status, demo.stderr).toBe(0);
    expect(demo.stderr).toMatch(/RANDOM weights/);
    expect(demo.stderr.match(/^step 1\/12 /gm)).toHaveLength(1);
    // The two experts and the step cache both decided something.
    expect(demo.stderr).toMatch(/^step 1\/12 expert=high-noise /m);
    expect(demo.stderr).toMatch(/^step 12\/12 expert=low-noise /m);
    expect(demo.stderr).toMatch(/served by the step cache \(First Block Cache/);
    expect(demo.stderr).not.toMatch(/MaxListenersExceededWarning/);
    expect(demo.stderr).toMatch(/--model .*Wan2\.1-T2V-1\.3B-Diffusers/);
    const video = probe(out('wan-video-demo.mp4'));
    expect(video).toMatchObject({ frames: 33, width: 256, height: 144 });
    // Not a uniform grey: the first-contact complaint was a spread of about 1 level.
    expect(video.std).toBeGreaterThan(20);
    const sheet = readPng(out('wan-video-demo.png'));
    // Five pictures a row at the video's width, plus labels.
    expect(sheet.width).toBeGreaterThan(5 * 256);
    expect(sheet.height).toBeGreaterThan(2 * 144 + 150);
  });
});

describe('wan-video generate: refusals before any work', () => {
  it('an invalid request names the field; a broken folder names the file', () => {
    const bad = run(work, 'generate', '--model', model, '--prompt', 'x', '--steps', '0', '--out', out('x.mp4'));
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/steps/);
    const request = out('fal.json');
    writeFileSync(request, JSON.stringify({ prompt: 'a fox', num_frames: 9, resolution: '480p', num_inference_steps: 99 }));
    const fal = run(work, 'generate', '--model', model, '--request', request, '--out', out('y.mp4'));
    expect(fal.status).toBe(1);
    expect(fal.stderr).toMatch(/num_inference_steps/);
    const broken = run(work, 'generate', '--model', work, '--prompt', 'x', '--out', out('z.mp4'));
    expect(broken.status).toBe(1);
    expect(broken.stderr).toMatch(/model_index\.json/);
  });

  it('refuses an output it cannot write, naming the path, before loading anything', () => {
    const cases: Array<[string[], RegExp]> = [
      [['--out', '/nonexistent/x.mp4'], /--out \/nonexistent\/x\.mp4: the folder \/nonexistent does not exist/],
      [['--out', out('x.gif')], /--out .*x\.gif: \.gif is not an output format/],
      [['--out', out('q.mp4'), '--format', 'webm'], /--format webm contradicts --out .*q\.mp4/],
      [['--out', out('q.mp4'), '--format', 'avi'], /--format avi: not an output format/],
      [['--out', join(out('fal.json'), 'x.mp4')], /is not a folder/],
    ];
    for (const [args, message] of cases) {
      const r = run(work, 'generate', '--model', model, '--prompt', 'x', ...args);
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/text encoded|^step /m);
    }
    expect(existsSync(out('q.mp4'))).toBe(false);
  });

  it('a request of shared fields is read with fal\'s ranges under --api fal', () => {
    const request = out('shared.json');
    writeFileSync(request, JSON.stringify({ prompt: 'fox', num_frames: 162 }));
    const r = run(work, 'generate', '--model', model, '--request', request, '--api', 'fal', '--out', out('s.mp4'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/num_frames = 162 is not allowed: expected an integer from 17 to 161/);
    const flags = run(work, 'generate', '--model', model, '--prompt', 'x', '--api', 'fal', '--out', out('s.mp4'));
    expect(flags.stderr).toMatch(/--api fal reads a --request file/);
  });
});

describe('wan-video generate: outputs', () => {
  const small = ['--model', model, '--prompt', 'a cat', '--width', '64', '--height', '48', '--steps', '2', '--seed', '7'];

  it('writes one generation to every --out: video, contact sheet and PNG frames; JSON lines with --json', () => {
    const r = run(work, 'generate', ...small, '--frames', '5', '--max-memory', '4GiB', '--out', out('multi.mp4'), '--out', out('multi.png'), '--out', out('frames'), '--json');
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.type === 'step')).toHaveLength(2);
    expect(lines.at(-1)).toMatchObject({ type: 'result', frames: 5, width: 64, height: 48, seed: '7' });
    // The result's memory plan: this request, against the --max-memory budget.
    expect(lines.at(-1).memory).toMatchObject({ backend: 'cpu', budget: { bytes: 4 * 2 ** 30, source: 'maxMemory 4GiB' }, request: { width: 64, height: 48, numFrames: 5, steps: 2 }, transformer: { experts: 'both-resident' } });
    const refused = run(work, 'generate', ...small, '--frames', '5', '--max-memory', '100kB', '--out', out('never.mp4'));
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/E_OOM.*memory plan for .*: the transformer: needs .* more than the budget of 97.7 KiB \(maxMemory 100kB\); nothing was loaded/);
    expect(existsSync(out('never.mp4'))).toBe(false);
    expect(probe(out('multi.mp4'))).toMatchObject({ frames: 5, width: 64, height: 48 });
    expect(readPng(out('multi.png')).width).toBe(3 * 64);
    expect(readdirSync(out('frames')).sort()).toEqual(['frame_0000.png', 'frame_0001.png', 'frame_0002.png', 'frame_0003.png', 'frame_0004.png']);
  });

  it('writes webm (VP9) and mov (H.264) at the requested fps', () => {
    for (const ext of ['webm', 'mov']) {
      const file = out(`v.${ext}`);
      const r = run(work, 'generate', ...small, '--frames', '9', '--fps', '24', '--quality', '30', '--write-mode', 'fast', '--out', file);
      expect(r.status, r.stderr).toBe(0);
      expect(probe(file)).toMatchObject({ frames: 9, width: 64, height: 48 });
      const info = spawnSync(findFfmpeg().path, ['-hide_banner', '-i', file]).stderr.toString();
      expect(info).toMatch(ext === 'webm' ? /Video: vp9/ : /Video: h264/);
      expect(info).toMatch(/24 fps/);
    }
  });

  it("honours a Runware request's outputFormat and outputQuality, and refuses a file name that contradicts them", () => {
    const request = (extra: Record<string, unknown>) => {
      const file = out(`runware-${Object.values(extra).join('-')}.json`);
      writeFileSync(file, JSON.stringify({ positivePrompt: 'a cat in the snow', width: 256, height: 256, duration: 1, fps: 15, steps: 4, seed: 5, ...extra }));
      return file;
    };
    const low = run(work, 'generate', '--model', model, '--request', request({ outputFormat: 'WEBM', outputQuality: 20 }), '--out', out('rw-20.webm'));
    const high = run(work, 'generate', '--model', model, '--request', request({ outputFormat: 'WEBM', outputQuality: 99 }), '--out', out('rw-99.webm'));
    expect(low.status, low.stderr).toBe(0);
    expect(high.status, high.stderr).toBe(0);
    expect(low.stderr).toMatch(/request read as runware .*; writing rw-20\.webm \(VP9 \.webm, quality 20/);
    expect(statSync(out('rw-99.webm')).size).toBeGreaterThan(statSync(out('rw-20.webm')).size);
    expect(spawnSync(findFfmpeg().path, ['-hide_banner', '-i', out('rw-20.webm')]).stderr.toString()).toMatch(/Video: vp9/);
    const refused = run(work, 'generate', '--model', model, '--request', request({ outputFormat: 'WEBM' }), '--out', out('rw.mp4'));
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/outputFormat \(runware request\) webm contradicts --out .*rw\.mp4/);
  });

  it('prints the expert only for a two-expert model', async () => {
    const single = await makeTinyPipeline();
    try {
      const r = run(work, 'generate', '--model', single, '--prompt', 'a cat', '--width', '64', '--height', '48', '--frames', '5', '--steps', '2', '--out', out('one.mp4'));
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/^step 1\/2 computed=2\/2 /m);
      expect(r.stderr).not.toMatch(/expert=/);
    } finally {
      rmSync(single, { recursive: true, force: true });
    }
  });

  it('takes a single transformer file with the other components named', () => {
    const file = join(model, 'transformer', 'diffusion_pytorch_model.safetensors');
    const alone = run(work, 'generate', '--model', file, '--prompt', 'a cat', '--out', out('file.mp4'));
    expect(alone.status).toBe(1);
    expect(alone.stderr).toMatch(/is a single file, so it is taken as the transformer alone; also give vae \(--vae\), textEncoder \(--text-encoder\), tokenizer \(--tokenizer\)/);
    const r = run(work, 'generate', '--model', file, '--vae', join(model, 'vae'), '--text-encoder', join(model, 'text_encoder', 'model.safetensors'),
      '--tokenizer', join(model, 'tokenizer', 'tokenizer.json'), '--prompt', 'a cat', '--width', '64', '--height', '48', '--frames', '5', '--steps', '2', '--out', out('file.mp4'));
    expect(r.status, r.stderr).toBe(0);
    expect(probe(out('file.mp4'))).toMatchObject({ frames: 5, width: 64, height: 48 });
  });

  it('generate --interpolate N --rife PATH writes (n - 1) * (N + 1) + 1 frames at fps * (N + 1)', () => {
    const out = mkdtempSync(join(tmpdir(), 'wan-gen-'));
    expect(run(out, 'demo').status).toBe(0);
    const model = join(cache, 'demo-tiny-wan');
    const rife = join(repoRoot, 'test', 'fixtures', 'models', 'rife-4.25-tiny', 'flownet.safetensors');
    const file = join(out, 'smooth.mp4');
    const r = run(out, 'generate', '--model', model, '--prompt', 'a cat', '--width', '64', '--height', '48', '--frames', '5', '--fps', '16', '--steps', '2', '--interpolate', '2', '--rife', rife, '--out', file);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/13 frames 64x48 at 48 fps/);
    expect(probe(file)).toMatchObject({ frames: 13, width: 64, height: 48 });
    expect(spawnSync(findFfmpeg().path, ['-hide_banner', '-i', file]).stderr.toString()).toMatch(/48 fps/);
    const missing = run(out, 'generate', '--model', model, '--prompt', 'a cat', '--width', '64', '--height', '48', '--frames', '5', '--steps', '2', '--interpolate', '1', '--out', join(out, 'x.mp4'));
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toMatch(/interpolate: frame interpolation needs an interpolator.*--rife PATH/);
  }, 300_000);

  it('Ctrl-C (SIGINT) cancels within a step, says so, exits 130 and leaves no file', async () => {
    const file = out('never.mp4');
    const child = spawn(process.execPath, [cli, 'generate', '--model', model, '--prompt', 'a cat', '--width', '256', '--height', '144', '--frames', '33', '--steps', '100', '--out', file], {
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

describe('wan-video generate from an image', () => {
  it('runs a Wan2.1 I2V folder with --image (a PNG file), and refuses an unreadable one naming --image\'s field', async () => {
    const { makeTinyPipeline } = await import('../helpers/tiny-pipeline.js');
    const { encodeImage, testPixels } = await import('../helpers/images.js');
    const out = mkdtempSync(join(tmpdir(), 'wan-gen-i2v-'));
    const model = await makeTinyPipeline({ wan21I2V: true });
    writeFileSync(join(out, 'first.png'), await encodeImage(testPixels(40, 30), 40, 30, 'png'));
    const r = run(out, 'generate', '--model', model, '--prompt', 'a fox', '--image', join(out, 'first.png'), '--width', '32', '--height', '32', '--frames', '5', '--steps', '2', '--out', join(out, 'frames'), '--json');
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!)).toMatchObject({ type: 'result', frames: 5, width: 32, height: 32 });
    const bad = run(out, 'generate', '--model', model, '--prompt', 'a fox', '--image', join(out, 'absent.png'), '--width', '32', '--height', '32', '--frames', '5', '--steps', '2', '--out', join(out, 'x'));
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/image: no such file/);
    // info's memory plan counts the CLIP image encoder as the pipeline loads it.
    const info = JSON.parse(run(out, 'info', model, '--json').stdout);
    expect(info.memory.plan.weights.imageEncoder).toBeGreaterThan(0);
  }, 300_000);
});

describe('the CLI\'s manners', () => {
  it('--help on every command, --version', () => {
    for (const cmd of ['generate', 'demo', 'info', 'conformance', 'build']) {
      const r = run(work, cmd, '--help');
      expect(r.status, cmd).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^usage: wan-video ${cmd}`));
    }
    const v = run(work, '--version');
    expect(v.stdout.trim()).toBe(JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version);
    const unknown = run(work, 'genrate');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command "genrate"; did you mean "generate"\?/);
  });

  it('info reads a pipeline folder, each component folder and single files, as text and as JSON', () => {
    const pipeline = run(work, 'info', model);
    expect(pipeline.status, pipeline.stderr).toBe(0);
    expect(pipeline.stdout).toMatch(/^addon: cpu /m);
    expect(pipeline.stdout).toMatch(/diffusers pipeline folder \(WanPipeline/);
    expect(pipeline.stdout).toMatch(/^ {2}transformer_2 +.*low-noise/m);
    expect(pipeline.stdout).toMatch(/^ {2}vae +Wan-style VAE|^ {2}vae +Wan2\.1 VAE/m);
    expect(pipeline.stdout).toMatch(/^memory plan for \d+x\d+, \d+ frames, \d+ steps on the CPU backend: peak .* of a .* budget \(available host memory/m);
    expect(pipeline.stdout).toMatch(/^ {2}transformer resident \(both experts\); text encoder kept loaded$/m);
    // The plan as JSON, at a size and budget of the caller's; a budget too small is reported, not thrown.
    const planned = JSON.parse(run(work, 'info', model, '--json', '--width', '64', '--height', '48', '--frames', '9', '--steps', '4', '--max-memory', '2GiB').stdout);
    expect(planned.memory.plan).toMatchObject({
      backend: 'cpu', budget: { bytes: 2 * 2 ** 30, source: '--max-memory 2GiB' }, request: { width: 64, height: 48, numFrames: 9, steps: 4 },
      transformer: { placement: 'resident', experts: 'both-resident' }, textEncoder: { release: false }, vaeDecode: { framesPerChunk: 4, chunks: 3 },
    });
    expect(planned.memory.plan.weights.transformer).toHaveLength(2);
    const tiny = run(work, 'info', model, '--max-memory', '1000');
    expect(tiny.status).toBe(0);
    expect(tiny.stdout).toMatch(/^memory: does not fit \(E_OOM\): memory plan for .*: the transformer: needs .* more than the budget of 1000 bytes \(--max-memory 1000\)/m);
    const bad = run(work, 'info', model, '--max-memory', 'lots');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/--max-memory "lots": expected a size such as 16GB, 16GiB or a number of bytes/);
    expect(pipeline.stdout).not.toMatch(/^\s*[{}]/m);
    const vae = run(work, 'info', join(model, 'vae'));
    expect(vae.status, vae.stderr).toBe(0);
    expect(vae.stdout).toMatch(/: VAE: .*16 latent channels, 8x spatial \/ 4x temporal compression/);
    const te = run(work, 'info', join(model, 'text_encoder', 'model.safetensors'));
    expect(te.stdout).toMatch(/text encoder: UMT5 encoder: d_model 32, 2 layers/);
    const dit = run(work, 'info', join(model, 'transformer', 'diffusion_pytorch_model.safetensors'));
    expect(dit.stdout).toMatch(/transformer: .*\n.*diffusers names, F32/);
    expect(run(work, 'info', join(model, 'tokenizer')).stdout).toMatch(/tokenizer: tokenizer\.json, \d+ pieces/);
    expect(run(work, 'info', join(model, 'scheduler')).stdout).toMatch(/scheduler: UniPCMultistepScheduler \(flow_shift 3\)/);
    const json = JSON.parse(run(work, 'info', join(model, 'vae'), '--json').stdout);
    expect(json.model).toMatchObject({ kind: 'vae', config: { zDim: 16 } });
    const notModel = run(work, 'info', out('fal.json'));
    expect(notModel.status).toBe(1);
    expect(notModel.stderr).toMatch(/not a \.safetensors or \.gguf file/);
  });
});
