// wan-video demo: builds (once, cached) a tiny random-weight model folder with the real diffusers
// layout and generates a short clip on the CPU, writing an mp4 and a contact sheet.
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

import { ensureTinyModel } from '../demo/tiny-model.js';
import { parseCommandArgs } from './args.js';
import { runGenerate } from './generate.js';

export async function runDemo(args: string[]): Promise<number> {
  const { values } = parseCommandArgs(args, { 'out-dir': { type: 'string' }, json: { type: 'boolean', default: false } });
  const outDir = resolve(values['out-dir'] ?? '.');
  const cache = process.env.WAN_VIDEO_CACHE ?? join(homedir(), '.cache', 'wan-video');
  const model = await ensureTinyModel(join(cache, 'demo-tiny-wan'));
  const say = (line: string) => process.stderr.write(`${line}\n`);
  say('wan-video demo: a tiny model with RANDOM weights, made locally (nothing downloaded).');
  say(`  model folder: ${model}`);
  say('  The clip is noise-like by design: it shows the whole path (tokenizer, UMT5, transformer, UniPC, VAE, encoder) running.');
  const common = ['--model', model, '--prompt', 'a red fox walking in the snow, slow camera', '--width', '256', '--height', '144', '--frames', '33', '--steps', '12', '--seed', '42', '--device', 'cpu', ...(values.json ? ['--json'] : [])];
  const video = join(outDir, 'wan-video-demo.mp4');
  const sheet = join(outDir, 'wan-video-demo.png');
  let code = await runGenerate([...common, '--out', video]);
  if (code === 0) code = await runGenerate([...common, '--out', sheet]);
  if (code === 0) {
    say(`wrote ${video} and ${sheet}`);
    say('With real weights (e.g. a Wan-AI/Wan2.1-T2V-1.3B-Diffusers folder you downloaded):');
    say('  npx wan-video generate --model ./Wan2.1-T2V-1.3B-Diffusers --prompt "..." --out video.mp4');
  }
  return code;
}
