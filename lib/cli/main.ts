#!/usr/bin/env node
// wan-video: the command line. Subcommands live in their own files; this only dispatches.
import { runBuild } from './build.js';
import { runConformanceCommand } from './conformance.js';
import { runDemo } from './demo.js';
import { runGenerate } from './generate.js';
import { runInfo } from './info.js';
import { runServe, runWorker } from './serve.js';

const USAGE = `usage: wan-video <command> [options]

commands:
  generate --model DIR (--prompt TEXT [request flags] | --request FILE.json) --out FILE [--format F] [--quality 20-99]
           [--write-mode fast|balanced|small] [--json] [--device auto|cpu|cuda]
      request flags: --negative-prompt --width --height --frames --fps --steps --guidance --guidance-2
      --shift --seed --scheduler unipc|dpm++2m|euler --cache teacache|fbcache [--cache-threshold X]; --request takes any accepted API shape (canonical,
      Oxen, fal, Runware); FILE: .mp4 .webm .mov (ffmpeg), .png (contact sheet), or a folder (PNG frames)
  demo [--out-dir DIR]
      a tiny random-weight model made locally; writes wan-video-demo.mp4 and wan-video-demo.png
  conformance <root> [--family NAME]... [--case REGEX] [--json] [--device auto|cpu|cuda]
      run the reference cases under <root>/cases (e.g. ../shared/fixtures)
  info [DIR] [--width W --height H --frames N] [--json] [--device auto|cpu|cuda]
      which addon loaded and why, what a model folder or file holds, and the memory a request needs
  build [--cuda]
      compile the native addon from source (CPU with node-gyp; CUDA with cmake-js)
  serve --model [NAME=]DIR... [--config FILE] [--port N] [--host H] (--api-key KEY... | --keys-file FILE | --no-auth)
        [--queue FILE.sqlite|redis://HOST:PORT] [--storage DIR] [--public-url URL] [--workers N] [--lora-root DIR...]
        [--allow-loopback-fetch] [--allow-private-fetch] [--device auto|cpu|cuda]
      the fal, Runware and Oxen video APIs on these models (README: Server)
  worker --queue redis://HOST:PORT --model [NAME=]DIR... [--config FILE] [--storage DIR] [--public-url URL]
         [--concurrency N] [--memory-budget-gb G] [--device auto|cpu|cuda]
      run the jobs of a Redis queue on this machine's device
`;

const commands: Record<string, (args: string[]) => Promise<number>> = {
  generate: runGenerate,
  demo: runDemo,
  conformance: runConformanceCommand,
  info: runInfo,
  build: runBuild,
  serve: runServe,
  worker: runWorker,
};

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(USAGE);
    return cmd ? 0 : 2;
  }
  const run = commands[cmd];
  if (!run) {
    process.stderr.write(`wan-video: unknown command "${cmd}"\n${USAGE}`);
    return 2;
  }
  return run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const code = (err as { code?: string }).code;
    process.stderr.write(`wan-video: ${code ? `${code}: ` : ''}${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
