// wan-video info [PATH]: which addon loaded and why, and what a model folder, a component folder
// (transformer, VAE, text encoder, tokenizer, scheduler) or a single .safetensors / .gguf file holds.
// Text for people, --json for programs.
import { readFile, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';

import { loadAddon } from '../bindings/loader.js';
import { ModelFormatError, WanError } from '../errors.js';
import { inspectModelFolder } from '../model/folder.js';
import { resolveBudget } from '../memory/budget.js';
import { describeMemoryPlan } from '../memory/describe.js';
import { type MemoryPlan, planMemory } from '../memory/plan.js';
import { estimateMemory, weightBytes } from '../model/memory.js';
import { readSafetensorsHeader } from '../model/safetensors.js';
import { planTextEncoder } from '../model/text-encoder-plan.js';
import { planTransformer } from '../model/transformer-plan.js';
import type { TextEncoderPlan, TensorRef, TransformerPlan, VaePlan } from '../model/types.js';
import { planVae } from '../model/vae-plan.js';
import { planPipelineImageEncoder } from '../pipeline/image-inputs.js';
import { defaultsFor } from '../schemas/request.js';
import { type CommandSpec, parseCommand, parseDevice } from './args.js';

export const INFO = {
  name: 'info',
  summary: 'which addon runs and why; what a model folder or file holds',
  usage: `usage: wan-video info [PATH] [--width W --height H --frames N --steps N] [--max-memory SIZE] [--json] [--device auto|cpu|cuda]

Says which native addon loaded (CPU or CUDA, and from where) and why, and which matrix-product
implementation serves the CPU backend. With PATH, also what it holds:
  a diffusers pipeline folder    every component, and the memory plan of a request on the addon's backend
                                 (--width/--height/--frames/--steps; default: the model's own default
                                 request): weights, activations, where the transformer lives, the
                                 text encoder's release, the VAE decode chunk, or what does not fit
  --max-memory SIZE              the budget the plan is made against: 16GB, 16GiB or bytes (default:
                                 the device's free memory, on the CPU the available host memory, less
                                 a margin)
  a component folder             transformer, vae, text_encoder (config.json + weights), tokenizer, scheduler
  a single .safetensors/.gguf    a transformer, VAE or UMT5 text encoder in diffusers or original Wan /
                                 ComfyUI names (told by its tensor names)
  --json                         one JSON document instead of text
`,
  options: {
    json: { type: 'boolean', default: false },
    device: { type: 'string' },
    width: { type: 'string' },
    height: { type: 'string' },
    frames: { type: 'string' },
    steps: { type: 'string' },
    'max-memory': { type: 'string' },
  },
  aliases: { num_frames: 'frames', numFrames: 'frames', max_memory: 'max-memory', maxMemory: 'max-memory' },
} satisfies CommandSpec;

const params = (tensors: TensorRef[]) => tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
const gib = (b: number) => (b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(2)} GiB` : `${(b / 2 ** 20).toFixed(1)} MiB`);
const count = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} B` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : n >= 1e4 ? `${(n / 1e3).toFixed(0)} K` : `${n}`);

function transformerSummary(plan: TransformerPlan) {
  const n = params(plan.tensors);
  return {
    kind: 'transformer' as const,
    source: plan.source,
    variant: plan.variant.variant,
    expert: plan.variant.expert,
    description: plan.variant.description,
    layout: plan.layout,
    dtypes: plan.dtypes,
    parameters: n,
    // What the weights occupy once loaded on each backend (matrices may stay at their stored dtype).
    cpuWeightBytes: weightBytes(plan, 'cpu'),
    cudaWeightBytes: weightBytes(plan, 'cuda'),
    config: plan.config,
  };
}

function vaeSummary(plan: VaePlan) {
  const n = params(plan.tensors);
  return { kind: 'vae' as const, source: plan.source, version: plan.version, layout: plan.layout, dtypes: plan.dtypes, parameters: n, cpuWeightBytes: weightBytes(plan, 'cpu'), cudaWeightBytes: weightBytes(plan, 'cuda'), config: plan.config };
}

function textEncoderSummary(plan: TextEncoderPlan) {
  const n = params(plan.tensors);
  return { kind: 'text_encoder' as const, source: plan.source, layout: plan.layout, dtypes: plan.dtypes, parameters: n, cpuWeightBytes: weightBytes(plan, 'cpu'), cudaWeightBytes: weightBytes(plan, 'cuda'), config: plan.config };
}

type Component = ReturnType<typeof transformerSummary> | ReturnType<typeof vaeSummary> | ReturnType<typeof textEncoderSummary> | { kind: 'tokenizer'; source: string; vocabSize: number | null } | { kind: 'scheduler'; source: string; className: string; flowShift: number | null };

const exists = (p: string) => stat(p).then(() => true, () => false);

async function readJson(file: string): Promise<Record<string, unknown>> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new ModelFormatError(`${file}: cannot be read as JSON (${(err as Error).message})`, { file });
  }
}

async function tokenizerInfo(dir: string): Promise<Component> {
  const file = join(dir, 'tokenizer.json');
  const json = await readJson(file);
  const vocab = (json.model as { vocab?: unknown[] } | undefined)?.vocab;
  return { kind: 'tokenizer', source: file, vocabSize: Array.isArray(vocab) ? vocab.length : null };
}

async function schedulerInfo(file: string): Promise<Component> {
  const json = await readJson(file);
  return { kind: 'scheduler', source: file, className: String(json._class_name ?? 'unknown'), flowShift: typeof json.flow_shift === 'number' ? json.flow_shift : null };
}

type Kind = 'transformer' | 'vae' | 'text_encoder';
const PLANNERS: Record<Kind, (p: string) => Promise<Component>> = {
  transformer: async (p) => transformerSummary(await planTransformer(p)),
  vae: async (p) => vaeSummary(await planVae(p)),
  text_encoder: async (p) => textEncoderSummary(await planTextEncoder(p)),
};

/** Which component a config.json or a file's tensor names point at, to try first. */
async function guessKind(path: string, isDir: boolean): Promise<Kind | null> {
  if (isDir) {
    const cfg = await readJson(join(path, 'config.json'));
    const name = `${String(cfg._class_name ?? '')} ${String((cfg.architectures as string[] | undefined)?.[0] ?? '')} ${String(cfg.model_type ?? '')}`;
    if (/WanTransformer3DModel|WanModel/.test(name)) return 'transformer';
    if (/AutoencoderKLWan/.test(name)) return 'vae';
    if (/UMT5|umt5|T5Encoder/.test(name)) return 'text_encoder';
    return null;
  }
  if (path.endsWith('.gguf')) return null;  // the planners tell a Wan transformer from a T5 encoder by general.architecture
  const header = await readSafetensorsHeader(path);
  const names = header.tensors.map((t) => t.name);
  const any = (re: RegExp) => names.some((n) => re.test(n));
  if (any(/(^|\.)blocks\.\d+\.(self_attn|attn1|cross_attn|attn2)\./) || any(/patch_embedding|condition_embedder/)) return 'transformer';
  if (any(/(^|\.)(encoder|decoder)\.(conv_in|conv1|up_blocks|upsamples|mid_block|middle|down_blocks|downsamples)/)) return 'vae';
  if (any(/encoder\.block\.\d+\.layer|shared\.weight|token_embedding|blocks\.\d+\.attn\.q\./)) return 'text_encoder';
  return null;
}

/** A component folder or a single file: tried as what it looks like first, then as the others. */
async function inspectComponent(path: string): Promise<Component> {
  const st = await stat(path).catch(() => null);
  if (!st) throw new WanError('E_INVALID_ARGUMENT', `${path}: no such file or folder`);
  if (st.isDirectory()) {
    if (await exists(join(path, 'tokenizer.json'))) return tokenizerInfo(path);
    if (await exists(join(path, 'scheduler_config.json'))) return schedulerInfo(join(path, 'scheduler_config.json'));
    if (!(await exists(join(path, 'config.json')))) {
      throw new ModelFormatError(`${path}: not a model folder (no model_index.json, config.json, tokenizer.json or scheduler_config.json)`, { file: path });
    }
  } else if (basename(path) === 'tokenizer.json') {
    return tokenizerInfo(resolve(path, '..'));
  } else if (!path.endsWith('.safetensors') && !path.endsWith('.gguf')) {
    throw new ModelFormatError(`${path}: not a .safetensors or .gguf file (info reads weights files, model folders and tokenizer.json)`, { file: path });
  }
  const first = await guessKind(path, st.isDirectory());
  const order: Kind[] = first ? [first, ...(['transformer', 'vae', 'text_encoder'] as Kind[]).filter((k) => k !== first)] : ['transformer', 'vae', 'text_encoder'];
  const reasons: string[] = [];
  for (const kind of order) {
    try {
      return await PLANNERS[kind](path);
    } catch (err) {
      // What it looked like failed: that error is the useful one.
      if (kind === first) throw err;
      reasons.push(`as a ${kind.replace('_', ' ')}: ${(err as Error).message}`);
    }
  }
  throw new ModelFormatError(`${path}: not a Wan transformer, VAE or UMT5 text encoder that wan-video reads (${reasons.join('; ')})`, { file: path });
}

export async function runInfo(args: string[]): Promise<number> {
  const parsed = parseCommand(INFO, args);
  if (parsed.help) return 0;
  const { values, positionals } = parsed;
  if (positionals.length > 1) throw new WanError('E_INVALID_ARGUMENT', `info takes one PATH, got ${positionals.length}`);
  const size = (flag: 'width' | 'height' | 'frames' | 'steps', fallback: number) => {
    const v = values[flag] === undefined ? fallback : Number(values[flag]);
    if (!Number.isInteger(v) || v < 1) throw new WanError('E_INVALID_ARGUMENT', `--${flag} ${values[flag]}: expected a positive integer`);
    return v;
  };
  const loaded = loadAddon(parseDevice(values.device));
  const native = loaded.addon.info();
  // Checked before any model file is read.
  const backend = loaded.kind === 'cuda' ? ('cuda' as const) : ('cpu' as const);
  const budget = resolveBudget(backend, values['max-memory'], native, '--max-memory');
  const out: Record<string, unknown> = {
    addon: { kind: loaded.kind, path: loaded.path, reason: loaded.reason },
    backend: native,
  };
  if (positionals[0]) {
    const target = resolve(positionals[0]);
    if (await exists(join(target, 'model_index.json'))) {
      const folder = await inspectModelFolder(target);
      const components: Record<string, Component> = {};
      const plans: TransformerPlan[] = [];
      for (const name of ['transformer', 'transformer_2'] as const) {
        if (!folder.present.includes(name)) continue;
        const paired = folder.present.includes('transformer_2');
        const plan = await planTransformer(join(target, name), { expert: paired ? (name === 'transformer' ? 'high-noise' : 'low-noise') : undefined, pairedWith: paired });
        components[name] = transformerSummary(plan);
        plans.push(plan);
      }
      const vae = folder.present.includes('vae') ? await planVae(join(target, 'vae')) : undefined;
      if (vae) components.vae = vaeSummary(vae);
      const textEncoder = folder.present.includes('text_encoder') ? await planTextEncoder(join(target, 'text_encoder')) : undefined;
      if (textEncoder) components.text_encoder = textEncoderSummary(textEncoder);
      if (folder.present.includes('tokenizer')) components.tokenizer = await tokenizerInfo(join(target, 'tokenizer'));
      const sched = join(target, 'scheduler', 'scheduler_config.json');
      if (await exists(sched)) components.scheduler = await schedulerInfo(sched);
      out.model = { kind: 'pipeline', dir: folder.dir, pipelineClass: folder.pipelineClass, diffusersVersion: folder.diffusersVersion, present: folder.present, missing: folder.missing, boundaryRatio: folder.boundaryRatio, expandTimesteps: folder.expandTimesteps, components };
      if (plans.length && vae) {
        const d = defaultsFor(plans[0].variant.variant);
        const request = { width: size('width', d.width), height: size('height', d.height), numFrames: size('frames', d.numFrames), steps: size('steps', d.steps) };
        // The plan on this addon's backend; a refusal is reported, not thrown: info says what does not fit.
        let plan: MemoryPlan | null = null;
        let refused: { code: string; message: string } | null = null;
        try {
          const hostBudget = backend === 'cuda' ? resolveBudget('cpu', undefined, null) : undefined;
          // Wan2.1 I2V/FLF2V: the CLIP image encoder stays loaded beside the transformer.
          const imageEncoder = plans[0].config.imageDim !== null && folder.present.includes('image_encoder') ? await planPipelineImageEncoder(target, plans[0].config) : null;
          plan = planMemory({ transformers: plans, vae, textEncoder, imageEncoder, request, backend, budget, hostBudget });
        } catch (err) {
          if (!(err instanceof WanError) || err.code !== 'E_OOM') throw err;
          refused = { code: err.code, message: err.message };
        }
        out.memory = { request, cpuEstimate: estimateMemory({ transformers: plans, vae, textEncoder }, request), plan, refused };
      }
    } else {
      out.model = await inspectComponent(target);
    }
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return 0;
  }
  const lines: string[] = [];
  lines.push(`addon: ${loaded.kind} (${loaded.path})`, `  why: ${loaded.reason}`);
  lines.push(`backend: ${native.backend}, ${native.threads} threads on ${native.device}; matrix products: ${native.gemm}${native.blas ? '' : ' (no BLAS linked)'}`);
  if (native.cudaBuild) {
    const devs = native.cudaDevices ?? [];
    lines.push(`cuda devices: ${devs.length ? devs.map((d) => `${d.name} (sm ${d.computeCapability})`).join(', ') : `none (${native.cudaError ?? ''})`}`);
  }
  const model = out.model as (Component & { kind: string }) | { kind: 'pipeline'; dir: string; pipelineClass: string; diffusersVersion: string | null; missing: string[]; boundaryRatio: number | null; expandTimesteps: boolean | null; components: Record<string, Component> } | undefined;
  if (model?.kind === 'pipeline') {
    const m = model as { dir: string; pipelineClass: string; diffusersVersion: string | null; missing: string[]; boundaryRatio: number | null; expandTimesteps: boolean | null; components: Record<string, Component> };
    lines.push('', `${m.dir}: diffusers pipeline folder (${m.pipelineClass}${m.diffusersVersion ? `, diffusers ${m.diffusersVersion}` : ''})`);
    for (const [name, c] of Object.entries(m.components)) lines.push(...describeComponent(c, name));
    if (m.boundaryRatio !== null) lines.push(`  boundary_ratio ${m.boundaryRatio}: the high-noise expert runs while t >= ${m.boundaryRatio * 1000}`);
    if (m.expandTimesteps) lines.push('  expand_timesteps: one timestep per token (TI2V)');
    if (m.missing.length) lines.push(`  missing: ${m.missing.join(', ')} (declared in model_index.json, folder absent)`);
  } else if (model) {
    lines.push('', ...describeComponent(model as Component, null));
  }
  if (out.memory) {
    const mem = out.memory as { plan: MemoryPlan | null; refused: { message: string } | null };
    lines.push('');
    if (mem.plan) lines.push(...describeMemoryPlan(mem.plan));
    if (mem.refused) lines.push(`memory: does not fit (E_OOM): ${mem.refused.message}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

/** Lines for one component; `name` is its folder in a pipeline (null: shown on its own). */
function describeComponent(c: Component, name: string | null): string[] {
  const head = name ? `  ${name.padEnd(14)}` : `${c.source}: `;
  const pad = name ? ' '.repeat(16) : '  ';
  const weights = (x: { layout: string; dtypes: string[]; parameters: number; cpuWeightBytes: number; cudaWeightBytes: number }) =>
    `${x.layout === 'original' ? 'original Wan/ComfyUI names' : 'diffusers names'}, ${x.dtypes.join('+')}, ${count(x.parameters)} parameters (${gib(x.cpuWeightBytes)} on the CPU backend, ${gib(x.cudaWeightBytes)} on CUDA)`;
  switch (c.kind) {
    case 'transformer': {
      const k = c.config;
      return [
        `${head}${name ? '' : 'transformer: '}${c.description}`,
        `${pad}${weights(c)}`,
        `${pad}dim ${k.numHeads * k.headDim} (${k.numHeads} heads x ${k.headDim}), ${k.numLayers} layers, ffn ${k.ffnDim}, channels in ${k.inChannels} / out ${k.outChannels}, text_dim ${k.textDim}${k.imageDim ? `, image_dim ${k.imageDim}` : ''}`,
      ];
    }
    case 'vae': {
      const k = c.config;
      return [
        `${head}${name ? '' : 'VAE: '}${c.version === 'custom' ? 'Wan-style VAE (custom size)' : `${c.version === 'wan2.1' ? 'Wan2.1' : 'Wan2.2'} VAE`}: ${k.zDim} latent channels, ${k.scaleFactorSpatial}x spatial / ${k.scaleFactorTemporal}x temporal compression`,
        `${pad}${weights(c)}`,
      ];
    }
    case 'text_encoder': {
      const k = c.config;
      return [`${head}${name ? '' : 'text encoder: '}UMT5 encoder: d_model ${k.dModel}, ${k.numLayers} layers, ${k.numHeads} heads, vocabulary ${k.vocabSize}`, `${pad}${weights(c)}`];
    }
    case 'tokenizer':
      return [`${head}${name ? '' : 'tokenizer: '}tokenizer.json${c.vocabSize ? `, ${c.vocabSize} pieces` : ''}`];
    case 'scheduler':
      return [`${head}${name ? '' : 'scheduler: '}${c.className}${c.flowShift !== null ? ` (flow_shift ${c.flowShift})` : ''}`];
  }
}
