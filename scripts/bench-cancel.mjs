// npm run bench -- cancel [--save]
// How long a cancel takes to return where one denoising step takes far longer: the Wan2.1-1.3B
// block configuration (dim 1536, 12 heads of 128, ffn 8960, text_dim 4096; 2 blocks instead of 30
// to keep memory small) with random weights at 832x480x81 (21 x 30 x 52 = 32760 tokens), guidance 5.
// One block's self-attention alone is 6.6 TFLOP there, so a step is many minutes on a CPU; the job's
// cancel flag is set a few seconds in and the time until runDenoise rejects is measured. Before the
// one job model (cancel checked between steps only) this was the whole step.
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export async function benchCancel({ save, config }) {
  const { loadAddon } = await import(join(root, 'dist', 'bindings', 'loader.js'));
  const { estimateGeneration } = await import(join(root, 'dist', 'pipeline', 'estimate.js'));
  const { addon } = loadAddon('cpu');
  const info = addon.info();
  const layers = 2;
  const c = { ...config, numLayers: layers };
  const model = await addon.randomTransformer(c, 1);
  const latentShape = [1, 16, 21, 60, 104];
  const tokens = 21 * 30 * 52;
  const text = (seed) => ({ data: addon.randn(seed, [1, 512, c.textDim]), shape: [1, 512, c.textDim] });
  const step = estimateGeneration(c, { tokens, textLen: 512, calls: 2 }, { backend: 'cpu', threads: info.threads });
  const full = estimateGeneration(config, { tokens, textLen: 512, calls: 2 }, { backend: 'cpu', threads: info.threads });
  console.log(`cancel: ${layers} Wan2.1-1.3B blocks at ${tokens} tokens, guidance 5: one step is ${(step.flops / 1e12).toFixed(1)} TFLOP, about ${(step.seconds / 60).toFixed(0)} min here (${(full.seconds / 60).toFixed(0)} min with all 30 blocks)`);
  const runs = [];
  for (const after of [3, 10]) {
    const flag = new Int32Array(new SharedArrayBuffer(4));
    let steps = 0;
    const t0 = performance.now();
    const job = addon.runDenoise({
      transformer: model, scheduler: { kind: 'unipc' }, steps: 2, shift: 5, guidanceScale: 5,
      latents: { data: addon.randn(42, latentShape), shape: latentShape }, promptEmbeds: text(1), negativeEmbeds: text(2),
      cancelFlag: flag, onStep: () => steps++,
    });
    await new Promise((r) => setTimeout(r, after * 1000));
    const tCancel = performance.now();
    Atomics.store(flag, 0, 1);
    const outcome = await job.then(() => 'finished', (e) => e.message);
    const latency = (performance.now() - tCancel) / 1000;
    runs.push({ cancelledAfterSeconds: (tCancel - t0) / 1000, latencySeconds: latency, stepsCompleted: steps, error: outcome });
    console.log(`  cancelled ${((tCancel - t0) / 1000).toFixed(1)} s in (${steps} steps done): returned after ${(latency * 1000).toFixed(0)} ms: ${outcome}`);
  }
  model.dispose();
  const result = {
    bench: 'cancel',
    date: new Date().toISOString(),
    host: hostname(),
    device: info.device,
    gemm: info.gemm,
    threads: info.threads,
    config: { model: `Wan2.1-1.3B block configuration, ${layers} blocks, random weights`, latent: latentShape, tokens, textTokens: 512, guidance: 5 },
    estimatedStepSeconds: step.seconds,
    estimatedStepSecondsAll30Blocks: full.seconds,
    runs,
  };
  if (save) {
    mkdirSync(join(root, 'bench', 'results'), { recursive: true });
    const file = join(root, 'bench', 'results', `${result.date.slice(0, 10)}-cpu-cancel.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`  saved ${file}`);
  }
}
