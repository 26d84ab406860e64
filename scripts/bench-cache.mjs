// npm run bench -- cache [--save] [--steps N]
// The step caches at their default settings on the Wan2.1-1.3B transformer configuration with
// random weights (one latent frame of 30x52 = 390 tokens, 512 text tokens, guidance 5, UniPC with
// shift 5): transformer calls computed and skipped, and the loop's wall time beside the uncached
// loop in the same process. Random weights move differently from trained ones, so the number of
// skips says how the mechanism behaves here, not how often a real model skips; the time per
// skipped call (what a skip still costs: embeddings and head, plus block 0 for First Block Cache and
// the first Fn blocks for DBCache) carries over, and the forced runs (skipping whenever the
// consecutive bound allows) measure it. DBCache at cache-dit's defaults computes its first 8 steps
// (warmup), so it can only reuse from step 8 on.
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export async function benchCache({ save, steps, config }) {
  const { loadAddon } = await import(join(root, 'dist', 'bindings', 'loader.js'));
  const { resolveStepCache } = await import(join(root, 'dist', 'pipeline', 'step-cache.js'));
  const { addon } = loadAddon('cpu');
  const info = addon.info();
  const model = await addon.randomTransformer(config, 1);
  const [F, H, W] = [1, 30, 52];
  const latentShape = [1, config.inChannels, F, H, W];
  const text = (seed) => ({ data: addon.randn(seed, [1, 512, config.textDim]), shape: [1, 512, config.textDim] });
  const base = {
    transformer: model, scheduler: { kind: 'unipc' }, steps, shift: 5, guidanceScale: 5,
    latents: { data: addon.randn(42, latentShape), shape: latentShape }, promptEmbeds: text(1), negativeEmbeds: text(2),
  };
  const shape = { variant: 'wan2.1-t2v-1.3b', dim: config.numHeads * config.headDim, inChannels: config.inChannels, latentChannels: 16, numLayers: config.numLayers };
  const size = { width: 832, height: 480, steps };
  await addon.runDenoise({ ...base, steps: 1, guidanceScale: 1, negativeEmbeds: null }); // warm-up
  const runs = [];
  // The defaults first; then each cache forced to skip whenever its bound allows (threshold out of
  // reach, at most 3 skips in a row: Runware's default bound), which measures what a skip saves.
  // DBCache forced: threshold 1 (always similar), no warmup, cache-dit's Fn 8 / Bn 0.
  const forcedFields = { teacache: { coefficients: [1], startStep: 1 }, fbcache: {}, dbcache: { threshold: 1, warmupSteps: 0 } };
  const forced = (kind) => ({ native: { kind, threshold: 1e30, maxConsecutive: 3, ...forcedFields[kind] }, summary: `${kind} forced: every call the 3-in-a-row bound allows is skipped` });
  const configs = [
    ['none', null],
    ['teacache', resolveStepCache({ kind: 'teacache' }, shape, size)],
    ['fbcache', resolveStepCache({ kind: 'fbcache' }, shape, size)],
    ['dbcache', resolveStepCache({ kind: 'dbcache' }, shape, size)],
    ['teacache-forced', forced('teacache')],
    ['fbcache-forced', forced('fbcache')],
    ['dbcache-forced', forced('dbcache')],
  ];
  for (const [label, cache] of configs) {
    const t0 = performance.now();
    const r = await addon.runDenoise({ ...base, cache: cache?.native ?? null });
    const seconds = (performance.now() - t0) / 1000;
    const computed = r.calls.computed.filter(Boolean).length;
    const run = { cache: label, settings: cache?.summary ?? null, seconds, calls: r.calls.computed.length, computed, skipped: r.calls.computed.length - computed, stepMs: r.stepMs };
    runs.push(run);
    console.log(`  ${label.padEnd(15)} ${run.computed}/${run.calls} calls computed, ${run.skipped} skipped, ${seconds.toFixed(1)} s${cache ? ` (${cache.summary})` : ''}`);
  }
  model.dispose();
  const none = runs[0];
  const perCall = none.seconds / none.calls;
  for (const run of runs.slice(1)) {
    run.secondsSaved = none.seconds - run.seconds;
    // what a skipped call still costs, from the two loops' times (computed calls cost perCall)
    run.secondsPerSkippedCall = run.skipped ? (run.seconds - run.computed * perCall) / run.skipped : null;
    console.log(`  ${run.cache.padEnd(15)} saved ${run.secondsSaved.toFixed(1)} s of ${none.seconds.toFixed(1)} s` + (run.skipped ? `; a skipped call cost about ${run.secondsPerSkippedCall.toFixed(2)} s against ${perCall.toFixed(2)} s computed` : ''));
  }
  const result = {
    bench: 'cache', date: new Date().toISOString(), host: hostname(), device: info.device, gemm: info.gemm, threads: info.threads,
    config: { model: 'Wan2.1-1.3B configuration, random weights', tokens: F * (H / 2) * (W / 2), textTokens: 512, steps, guidance: 5 },
    note: 'random weights: skip counts show the mechanism, not how often a trained model skips',
    runs,
  };
  if (save) {
    mkdirSync(join(root, 'bench', 'results'), { recursive: true });
    const file = join(root, 'bench', 'results', `${result.date.slice(0, 10)}-cpu-cache.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`  saved ${file}`);
  }
}
