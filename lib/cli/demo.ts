// wan-video demo: builds (once, cached) a tiny random-weight model folder with the real diffusers
// layout of a two-expert Wan2.2 model and runs ONE generation on it, written to a video and to a
// labelled sheet of what the runtime did: the denoising trajectory (noise, the model's predictions of
// the finished frame at chosen steps), frames of the video, and every step's time, expert and
// step-cache decision. It says, in the terminal and on the sheet, that the weights are random.
import { mkdir, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

import { loadAddon } from '../bindings/loader.js';
import { demoSheet, spread } from '../demo/sheet.js';
import { ensureTinyModel } from '../demo/tiny-model.js';
import { WanError } from '../errors.js';
import { encodePng } from '../video/png.js';
import { type OutputSpec, preflightOutput, resolveOutput } from '../video/output.js';
import { type CommandSpec, parseCommand, parseDevice } from './args.js';
import { generateToFiles } from './generate.js';

export const DEMO = {
  name: 'demo',
  summary: 'see the whole runtime work on a tiny random-weight model (nothing downloaded)',
  usage: `usage: wan-video demo [--out-dir DIR] [--json] [--device auto|cpu|cuda]

Makes (once, cached under $WAN_VIDEO_CACHE or ~/.cache/wan-video) a tiny model with RANDOM weights in
the diffusers layout of a two-expert Wan2.2 model, and runs one generation on it: tokenizer, UMT5 text
encoder, the denoising loop (UniPC, guidance, the expert switch, a step cache), the causal VAE decode
and the video encoder. Writes, into DIR (default: the current folder; made when missing):
  wan-video-demo.mp4   the video (needs ffmpeg; skipped with a message when there is none)
  wan-video-demo.png   what ran: the noise and the model's predictions of the finished frame at
                       chosen steps, frames of the video, and each step's time, expert and cache decision
The pictures are noise-like by design: random weights know no fox.
  --json     the generation's events as JSON lines on stdout
  --device   auto|cpu|cuda (default cpu: the tiny model gains nothing from a GPU)
`,
  options: {
    'out-dir': { type: 'string' },
    json: { type: 'boolean', default: false },
    device: { type: 'string' },
  },
} satisfies CommandSpec;

const PROMPT = 'a red fox walking in the snow, slow camera';
const STEPS = 12;
const FB_THRESHOLD = 0.9;

export async function runDemo(args: string[]): Promise<number> {
  const parsed = parseCommand(DEMO, args);
  if (parsed.help) return 0;
  const { values } = parsed;
  const device = parseDevice(values.device ?? 'cpu');
  const say = (line: string) => process.stderr.write(`${line}\n`);
  const outDir = resolve(values['out-dir'] ?? '.');
  const videoPath = join(outDir, 'wan-video-demo.mp4');
  const sheetPath = join(outDir, 'wan-video-demo.png');
  // The demo's own folder is made when missing (generate, by contrast, refuses a missing folder).
  await mkdir(outDir, { recursive: true });
  // Both outputs are checked before anything runs; a missing ffmpeg costs the video only.
  const sheet = resolveOutput(sheetPath);
  await preflightOutput(sheet);
  const outputs: OutputSpec[] = [];
  const video = resolveOutput(videoPath);
  try {
    await preflightOutput(video);
    outputs.push(video);
  } catch (err) {
    if ((err as WanError).code !== 'E_UNSUPPORTED') throw err;
    say(`note: no video this time: ${(err as Error).message}`);
  }

  const cache = process.env.WAN_VIDEO_CACHE ?? join(homedir(), '.cache', 'wan-video');
  const model = await ensureTinyModel(join(cache, 'demo-tiny-wan'));
  say('wan-video demo: a tiny model with RANDOM weights, made locally (nothing downloaded).');
  say(`  model folder: ${model} (two experts in the Wan2.2 A14B layout, 2 layers each, dim 32)`);
  say('  The pictures are noise-like by design; what matters is that every stage runs: tokenizer, UMT5,');
  say('  the denoising loop (UniPC, guidance, the expert switch at t=875, a step cache), the VAE, the encoder.');

  const request = {
    prompt: PROMPT, width: 256, height: 144, numFrames: 33, steps: STEPS, guidanceScale: 5, guidanceScale2: 3, seed: 42n,
    // First Block Cache, far looser than its default 0.1: random weights change block 0's output
    // so much from step to step that only a loose threshold lets some steps reuse the cache.
    cache: { kind: 'fbcache', threshold: FB_THRESHOLD },
  };
  const previewSteps = spread(STEPS, 4);
  const done = await generateToFiles({ model, request, api: 'canonical', outputs, device, json: values.json === true, previewSteps, log: say });
  const { result, steps, twoExperts } = done;
  const loaded = loadAddon(device);
  const backend = loaded.addon.info();
  const switchAt = steps.findIndex((s) => s.expert === 'low-noise');
  const rgb = demoSheet({
    title: [
      'wan-video demo: RANDOM WEIGHTS. A tiny model made on this machine, not a trained one: the pictures are noise by design. They show every stage running.',
      `Prompt "${PROMPT}", seed 42, ${result.width}x${result.height}, ${result.frames.length} frames, ${STEPS} UniPC steps, guidance 5 (high-noise) / 3 (low-noise). ` +
        `Two experts: high-noise for steps 1-${switchAt < 0 ? STEPS : switchAt}${switchAt < 0 ? '' : `, low-noise from step ${switchAt + 1}`} (the switch at t=875). ` +
        `First Block Cache at threshold ${FB_THRESHOLD}: ${result.forwards.skipped} of ${result.forwards.computed + result.forwards.skipped} transformer calls reused.`,
    ],
    previews: result.previews ?? [],
    steps,
    frames: result.frames,
    width: result.width,
    height: result.height,
    fps: result.fps,
    footer: [
      `${backend.backend} backend (${loaded.kind} addon), ${backend.threads} threads, matrix products ${backend.gemm}; text ${result.timings.encodeMs.toFixed(0)} ms, ` +
        `denoising ${(result.timings.denoiseMs / 1000).toFixed(2)} s, VAE decode ${(result.timings.decodeMs / 1000).toFixed(2)} s, total ${(result.timings.totalMs / 1000).toFixed(2)} s`,
      'With real weights: npx wan-video generate --model ./Wan2.1-T2V-1.3B-Diffusers --prompt "..." --out video.mp4',
    ],
    twoExperts,
  });
  await writeFile(sheetPath, encodePng(rgb.rgb, rgb.width, rgb.height));

  say('');
  say(`per step (ms, transformer calls computed/made${twoExperts ? ', expert' : ''}):`);
  say(`  ${steps.map((s) => `${s.index + 1}: ${Math.round(s.ms)} ${s.computed}/${s.forwards}${twoExperts ? ` ${s.expert === 'high-noise' ? 'H' : 'L'}` : ''}`).join('  ')}`);
  say(`  ${result.forwards.computed} transformer calls computed, ${result.forwards.skipped} served by the step cache (${result.forwards.cache ?? 'none'})`);
  say(`wrote ${[...done.files, sheetPath].join(' and ')}`);
  say('  the .png shows the trajectory (noise -> the model\'s predictions of the finished frame), frames, and every step');
  say('With real weights (e.g. a Wan-AI/Wan2.1-T2V-1.3B-Diffusers folder you downloaded):');
  say('  npx wan-video generate --model ./Wan2.1-T2V-1.3B-Diffusers --prompt "..." --out video.mp4');
  return 0;
}
