#!/usr/bin/env node
// Fuzz the weight-file readers: every target (safetensors header, safetensors shard index, GGUF header
// and tensor table) gets --inputs mutated inputs from a seeded mutator (bit flips, truncation, length
// and count field edits, insertions, random JSON edits), and the run is written to bench/results/.
// A crash is any exception that is not a WanError naming the input file; the expected count is 0,
// and the script exits 1 when there is one. Runs over dist/ (npm run fuzz builds it first).
//
//   node bench/fuzz/fuzz-loaders.mjs [--inputs 1000000] [--seed 1] [--out bench/results/fuzz-loaders.json]

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { loaderFuzzTargets, fuzzTarget } = await import(join(root, 'dist', 'model', 'fuzz-targets.js'));

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const inputs = Number(opt('inputs', 1_000_000));
const seed = Number(opt('seed', 1));
const out = resolve(opt('out', join(root, 'bench', 'results', 'fuzz-loaders.json')));
if (!Number.isSafeInteger(inputs) || inputs < 1) throw new Error('--inputs must be a positive integer');

const results = [];
for (const target of loaderFuzzTargets()) {
  const stats = fuzzTarget(target, inputs, seed, (done) => process.stderr.write(`${target.name}: ${done} inputs\n`));
  const perSec = Math.round(stats.inputs / (stats.ms / 1000));
  process.stdout.write(`${target.name}: ${stats.inputs} inputs, ${stats.accepted} accepted, rejected ${JSON.stringify(stats.rejected)}, ${stats.crashes} crashes, ${stats.ms} ms (${perSec}/s)\n`);
  results.push({ ...stats, inputsPerSecond: perSec });
}
const report = {
  benchmark: 'fuzz-loaders',
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
  inputsPerTarget: inputs,
  seed,
  crashes: results.reduce((n, r) => n + r.crashes, 0),
  targets: results,
};
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
process.stdout.write(`wrote ${out}\n`);
process.exitCode = report.crashes === 0 ? 0 : 1;
