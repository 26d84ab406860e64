// npm run bench -- rife [--save] [--width W --height H] [--iters N]
// RIFE 4.25's IFNet at its real widths (head 16 -> 4 channels, blocks 192/128/96/64/32) with random
// weights, on Wan's 480p frames (832x480, padded to 832x512): seconds per interpolated frame on the
// CPU backend, as the pipeline runs it (a decoded chunk of 4 frames plus the carried boundary frame:
// 4 pairs, 1 frame each), and for a lone pair (whose two head passes are not shared with a neighbour).
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const RIFE_425 = { headHidden: 16, headChannels: 4, blockWidths: [192, 128, 96, 64, 32] };

/** Multiply-adds of one interpolated frame (blocks) and of one frame's head, at the padded size. */
export function rifeMacs(c, H, W) {
  const n = c.blockWidths.length;
  let blocks = 0;
  c.blockWidths.forEach((w, i) => {
    const s = 2 ** (n - 1 - i);
    const inPlanes = i === 0 ? 7 + 2 * c.headChannels : 20 + 2 * c.headChannels;
    const half = (H / s / 2) * (W / s / 2);
    const quarter = (H / s / 4) * (W / s / 4);
    blocks += half * inPlanes * (w / 2) * 9 + quarter * ((w / 2) * w * 9 + 8 * w * w * 9 + w * 52 * 16);
  });
  const h2 = (H / 2) * (W / 2);
  const head = h2 * (3 * c.headHidden * 9 + 2 * c.headHidden * c.headHidden * 9 + c.headHidden * c.headChannels * 16);
  return { blocks, head };
}

export async function benchRife({ save, args }) {
  const arg = (k, d) => (args.includes(k) ? Number(args[args.indexOf(k) + 1]) : d);
  const width = arg('--width', 832);
  const height = arg('--height', 480);
  const iters = arg('--iters', 2);
  const { loadAddon } = await import(join(root, 'dist', 'bindings', 'loader.js'));
  const { addon } = loadAddon('cpu');
  const info = addon.info();
  const rife = await addon.randomRife(RIFE_425, 425);
  const pad = (x) => Math.ceil(x / rife.padMultiple) * rife.padMultiple;
  const macs = rifeMacs(RIFE_425, pad(height), pad(width));
  const frame = () => Uint8Array.from({ length: width * height * 3 }, (_, i) => (i * 2654435761) % 251);
  const run = async (k) => {
    const data = new Uint8Array(k * width * height * 3);
    for (let i = 0; i < k; i++) data.set(frame().map((v) => (v + 17 * i) % 256), i * width * height * 3);
    const times = [];
    const cpu = [];
    for (let it = 0; it < iters; it++) {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      await rife.interpolate({ data, shape: [k, height, width, 3] }, { timesteps: [0.5] });
      const c = process.cpuUsage(c0);
      cpu.push((c.user + c.system) / 1e6);
      times.push((performance.now() - t0) / 1000);
    }
    const best = Math.min(...times);
    const cpuBest = Math.min(...cpu);
    const gmac = ((k - 1) * macs.blocks + k * macs.head) / 1e9;
    return {
      frames: k, interpolated: k - 1, seconds: times, cpuSeconds: cpu, best, secondsPerInterpolatedFrame: best / (k - 1),
      cpuSecondsPerInterpolatedFrame: cpuBest / (k - 1), gflops: (2 * gmac) / best,
    };
  };
  const result = {
    benchmark: 'rife',
    date: new Date().toISOString(),
    host: hostname(),
    commit: spawnSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout.trim(),
    config: "RIFE 4.25 IFNet (Practical-RIFE), head 16 -> 4, blocks 192/128/96/64/32, random weights, float32",
    backend: { gemm: info.gemm, device: info.device, threads: info.threads },
    // The machine's load while it ran: with more runnable threads than cores, wall time overstates.
    loadAverage: loadavg(),
    input: { width, height, padded: [pad(width), pad(height)] },
    gmacPerInterpolatedFrame: macs.blocks / 1e9,
    gmacHeadPerFrame: macs.head / 1e9,
    runs: {},
  };
  console.log(`rife: ${result.config}`);
  console.log(`  ${width}x${height} (padded ${pad(width)}x${pad(height)}): ${result.gmacPerInterpolatedFrame.toFixed(2)} GMAC per interpolated frame + ${result.gmacHeadPerFrame.toFixed(2)} per frame's head`);
  for (const [label, k] of [['chunk', 5], ['pair', 2]]) {
    const r = await run(k);
    result.runs[label] = r;
    console.log(`  ${label.padEnd(5)} ${k} frames -> ${r.interpolated} interpolated: best ${r.best.toFixed(2)} s wall, ${r.secondsPerInterpolatedFrame.toFixed(2)} s wall and ${r.cpuSecondsPerInterpolatedFrame.toFixed(2)} s CPU (all threads) per interpolated frame, ${r.gflops.toFixed(1)} GFLOP/s (gemm ${info.gemm}, ${info.threads} threads, load average ${loadavg()[0].toFixed(1)})`);
  }
  rife.dispose();
  if (save) {
    mkdirSync(join(root, 'bench', 'results'), { recursive: true });
    const file = join(root, 'bench', 'results', `${result.date.slice(0, 10)}-cpu-rife.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`  saved ${file}`);
  }
}
