// The memory plan of a load and of each request, made before any weight is read: what every
// component's weights take on the backend (from the stored dtypes, lib/model/memory.ts), what the
// request's activations take (from the config dims at its token count), and, against a budget,
// where the transformer lives, whether the text encoder is freed after encoding, and the VAE decode
// chunk. What does not fit is refused with E_OOM naming the component, the bytes it needs and the
// budget. Pure: plans in, a plan out; nothing here opens a file.
//
// The phases run one after another and the plan holds the largest:
//   encode:  resident weights + text encoder weights + its activations
//   denoise: resident weights (+ text encoder unless released) + streaming slots + one forward's activations
//   decode:  resident weights (+ text encoder unless released) + one VAE decode chunk
// where "resident weights" are the transformer's device part, the VAE and the image encoder.
import { WanError } from '../errors.js';
import { type ActivationBytes, type MemoryBackend, activationBytes, latentFramesOf, residentBytes, weightBytes, weightUse } from '../model/memory.js';
import type { ImageEncoderPlan, TextEncoderPlan, TransformerPlan, VaePlan } from '../model/types.js';
import type { MemoryBudget } from './budget.js';
import { formatBytes } from './describe.js';

/**
 * Blocks a streamed transformer holds on the device besides its resident ones: the block being
 * computed and the next one arriving on the copy stream (double buffering; see
 * Backend::stream_weights in cpp/ops/backend.h).
 */
export const STREAM_SLOTS = 2;

/** The native VAE decodes one latent frame per chunk (the causal cache works frame by frame, as the
 * reference decoder does): 1 video frame first, then scaleFactorTemporal each. There is no larger
 * or smaller chunk to choose. */
export const VAE_LATENT_FRAMES_PER_CHUNK = 1;

export interface MemoryPlanInput {
  /** One transformer, or the two experts of a Wan2.2 A14B pair (high-noise first). */
  transformers: TransformerPlan[];
  vae: VaePlan;
  textEncoder?: TextEncoderPlan | null;
  imageEncoder?: ImageEncoderPlan | null;
  request: { width: number; height: number; numFrames: number; steps?: number; textLength?: number };
  backend: MemoryBackend;
  budget: MemoryBudget;
  /** On CUDA: the host memory the pinned copies of offloaded weights may take (default: unchecked). */
  hostBudget?: MemoryBudget;
}

/** Where the transformer lives. 'offloaded': `residentBlocks` of its blocks stay on the device and
 * the rest stream from pinned host memory (CUDA only: on the CPU every weight is host memory). */
export type TransformerPlacement = 'resident' | 'offloaded';
/** 'single': one transformer; 'both-resident': both A14B experts on the device; 'one-resident':
 * the active expert on the device, the other in pinned host memory, swapped at the boundary. */
export type ExpertResidency = 'single' | 'both-resident' | 'one-resident';

export interface PlacementDecision {
  placement: TransformerPlacement;
  experts: ExpertResidency;
  /** Blocks per expert kept on the device (all of them when resident). */
  residentBlocks: number;
  releaseTextEncoder: boolean;
}

export interface MemoryPlan {
  backend: MemoryBackend;
  budget: MemoryBudget;
  request: { width: number; height: number; numFrames: number; steps: number | null; textLength: number; tokens: number };
  /** What each component's weights take on the backend. */
  weights: { transformer: number[]; textEncoder: number; imageEncoder: number; vae: number; total: number };
  activations: Omit<ActivationBytes, 'tokens' | 'textLength'>;
  transformer: {
    placement: TransformerPlacement;
    experts: ExpertResidency;
    blocks: number;
    residentBlocks: number;
    /** The largest block's weights (one streaming slot). */
    blockBytes: number;
    /** The transformer weights on the device (resident part plus the streaming slots). */
    deviceBytes: number;
    /** Weights held in pinned host memory (streamed blocks; both experts when one is resident at a time). */
    hostBytes: number;
  };
  textEncoder: { release: boolean };
  vaeDecode: { latentFramesPerChunk: number; framesPerChunk: number; chunks: number; chunkBytes: number };
  phases: { encode: number; denoise: number; decode: number };
  peakBytes: number;
  /** Budget left at the peak. */
  headroomBytes: number;
}

/** One transformer's weights split into its blocks (streamable) and the rest (always resident). */
interface TransformerSplit {
  blocks: number[];
  rest: number;
  total: number;
}

const BLOCK = /^blocks\.(\d+)\./;

function splitTransformer(plan: TransformerPlan, backend: MemoryBackend): TransformerSplit {
  const blocks = new Array<number>(plan.config.numLayers).fill(0);
  for (const t of plan.tensors) {
    const m = BLOCK.exec(t.name);
    if (m && Number(m[1]) < blocks.length) blocks[Number(m[1])] += residentBytes(t, weightUse('transformer', t), backend);
  }
  const total = weightBytes(plan, backend);  // with CUDA's dequantization scratch, which stays with the rest
  return { blocks, rest: total - blocks.reduce((a, b) => a + b, 0), total };
}

const gib = formatBytes;

/** The plan for a load and a request; throws E_OOM naming what does not fit. With `fixed`, only that
 * placement is evaluated (a request on an already loaded pipeline). */
export function planMemory(input: MemoryPlanInput, fixed?: PlacementDecision): MemoryPlan {
  const { backend, budget, request } = input;
  if (input.transformers.length === 0) throw new WanError('E_INVALID_ARGUMENT', 'planMemory: no transformer');
  const splits = input.transformers.map((p) => splitTransformer(p, backend));
  const vae = weightBytes(input.vae, backend);
  const image = input.imageEncoder ? weightBytes(input.imageEncoder, backend) : 0;
  const text = input.textEncoder ? weightBytes(input.textEncoder, backend) : 0;
  const act = activationBytes({ transformers: input.transformers, vae: input.vae, textEncoder: input.textEncoder }, request);
  const fixedCost = vae + image;
  const pair = splits.length > 1;
  const blockBytes = Math.max(0, ...splits.flatMap((s) => s.blocks));
  const numLayers = Math.max(...splits.map((s) => s.blocks.length));

  /** The transformer's device bytes under a placement, and what it parks in host memory. */
  const transformerBytes = (d: PlacementDecision) => {
    // One expert at a time: the larger one bounds the device's share.
    const live = d.experts === 'one-resident' ? [splits.reduce((a, b) => (a.total >= b.total ? a : b))] : splits;
    let kept = 0;
    let slots = 0;
    for (const s of live) {
      if (d.placement === 'resident') kept += s.total;
      else {
        kept += s.rest + s.blocks.slice(0, d.residentBlocks).reduce((a, b) => a + b, 0);
        slots += STREAM_SLOTS * blockBytes;
      }
    }
    // Pinned host memory: the streamed blocks; with one expert at a time, both experts whole (either
    // may be parked, so each keeps its host copy: cpp/backends/cuda/cuda_residency.cpp).
    const all = splits.reduce((n, s) => n + s.total, 0);
    return { device: kept + slots, host: d.experts === 'one-resident' ? all : all - kept };
  };
  const phasesOf = (d: PlacementDecision) => {
    const t = transformerBytes(d).device;
    const kept = d.releaseTextEncoder ? 0 : text;
    return {
      encode: t + fixedCost + text + act.textEncoderBytes,
      denoise: t + fixedCost + kept + act.transformerBytes,
      decode: t + fixedCost + kept + act.vaeDecodeBytes,
    };
  };
  const peakOf = (d: PlacementDecision) => Math.max(...Object.values(phasesOf(d)));
  const hostFits = (d: PlacementDecision) => !input.hostBudget || transformerBytes(d).host <= input.hostBudget.bytes;
  const fits = (d: PlacementDecision) => peakOf(d) <= budget.bytes && hostFits(d);

  let chosen: PlacementDecision | null = null;
  if (fixed) {
    if (fits(fixed)) chosen = fixed;
  } else {
    // Cheapest first: everything resident; then free the text encoder after encoding (it is reloaded
    // on an embedding-cache miss); then, on CUDA, one A14B expert at a time; then stream blocks,
    // keeping as many resident as fit.
    const experts: ExpertResidency = pair ? 'both-resident' : 'single';
    const candidates: PlacementDecision[] = [
      { placement: 'resident', experts, residentBlocks: numLayers, releaseTextEncoder: false },
      { placement: 'resident', experts, residentBlocks: numLayers, releaseTextEncoder: true },
    ];
    if (backend === 'cuda' && pair) candidates.push({ placement: 'resident', experts: 'one-resident', residentBlocks: numLayers, releaseTextEncoder: true });
    chosen = candidates.find(fits) ?? null;
    if (!chosen && backend === 'cuda') {
      const base = { placement: 'offloaded' as const, experts: pair ? ('one-resident' as const) : ('single' as const), releaseTextEncoder: true };
      for (let n = numLayers - 1; n >= 0 && !chosen; n--) if (fits({ ...base, residentBlocks: n })) chosen = { ...base, residentBlocks: n };
    }
  }
  if (!chosen) {
    const lean = fixed ?? leanest(backend, pair);
    // The device would take it, host memory cannot hold the offloaded weights' pinned copies.
    if (peakOf(lean) <= budget.bytes && !hostFits(lean)) {
      const h = input.hostBudget!;
      return throwing(new WanError('E_OOM', `memory plan for ${request.width}x${request.height}x${request.numFrames}: the offloaded transformer: needs ${gib(transformerBytes(lean).host)} of pinned host memory (${lean.experts === 'one-resident' ? 'both experts, one resident at a time' : 'its streamed blocks'}), more than the host budget of ${gib(h.bytes)} (${h.source}); nothing was loaded`));
    }
    throw refusal(input, lean, phasesOf, transformerBytes, { text, vae, image, act });
  }

  const phases = phasesOf(chosen);
  const peak = peakOf(chosen);
  const t = transformerBytes(chosen);
  const latentFrames = latentFramesOf(input.vae.config, request.numFrames);
  return {
    backend,
    budget,
    request: { width: request.width, height: request.height, numFrames: request.numFrames, steps: request.steps ?? null, textLength: act.textLength, tokens: act.tokens },
    weights: { transformer: splits.map((s) => s.total), textEncoder: text, imageEncoder: image, vae, total: splits.reduce((n, s) => n + s.total, 0) + text + image + vae },
    activations: {
      attentionBytes: act.attentionBytes, ffnBytes: act.ffnBytes, blockIoBytes: act.blockIoBytes, latentsBytes: act.latentsBytes,
      transformerBytes: act.transformerBytes, textEncoderBytes: act.textEncoderBytes, vaeDecodeBytes: act.vaeDecodeBytes,
    },
    transformer: { placement: chosen.placement, experts: chosen.experts, blocks: numLayers, residentBlocks: chosen.residentBlocks, blockBytes, deviceBytes: t.device, hostBytes: t.host },
    textEncoder: { release: chosen.releaseTextEncoder },
    vaeDecode: {
      latentFramesPerChunk: VAE_LATENT_FRAMES_PER_CHUNK,
      framesPerChunk: VAE_LATENT_FRAMES_PER_CHUNK * input.vae.config.scaleFactorTemporal,
      chunks: Math.ceil(latentFrames / VAE_LATENT_FRAMES_PER_CHUNK),
      chunkBytes: act.vaeDecodeBytes,
    },
    phases,
    peakBytes: peak,
    headroomBytes: budget.bytes - peak,
  };
}

function throwing(err: Error): never {
  throw err;
}

/** The placement that needs least: everything the backend can move out of the way, moved. */
function leanest(backend: MemoryBackend, pair: boolean): PlacementDecision {
  if (backend === 'cpu') return { placement: 'resident', experts: pair ? 'both-resident' : 'single', residentBlocks: Infinity, releaseTextEncoder: true };
  return { placement: 'offloaded', experts: pair ? 'one-resident' : 'single', residentBlocks: 0, releaseTextEncoder: true };
}

/** E_OOM naming the phase's component that does not fit even at the leanest placement. */
function refusal(
  input: MemoryPlanInput,
  lean: PlacementDecision,
  phasesOf: (d: PlacementDecision) => { encode: number; denoise: number; decode: number },
  transformerBytes: (d: PlacementDecision) => { device: number; host: number },
  parts: { text: number; vae: number; image: number; act: ActivationBytes },
): WanError {
  const { budget, request, backend } = input;
  const phases = phasesOf(lean);
  const t = transformerBytes(lean).device;
  const size = `${request.width}x${request.height}x${request.numFrames}`;
  const others = `VAE weights ${gib(parts.vae)}${parts.image ? `, image encoder ${gib(parts.image)}` : ''}`;
  const where = backend === 'cuda' ? 'on the CUDA device' : 'on the CPU backend';
  const how =
    backend === 'cpu'
      ? 'every weight resident (the CPU backend has no offload)'
      : lean.placement === 'offloaded'
        ? `the transformer streamed (${STREAM_SLOTS} blocks on the device${lean.experts === 'one-resident' ? ', one expert at a time' : ''})`
        : 'as placed at load';
  let what: string;
  let need: number;
  // The component named: the transformer when its weights alone cannot be placed; else the phase
  // that overflows most: the transformer forward, the text encoder, or the VAE decode.
  const worst = (['denoise', 'encode', 'decode'] as const).reduce((a, b) => (phases[b] > phases[a] ? b : a));
  if (t > budget.bytes || worst === 'denoise') {
    need = phases.denoise;
    what = `transformer: needs ${gib(need)} ${where} with ${how} (transformer weights ${gib(t)}, activations at ${parts.act.tokens} tokens ${gib(parts.act.transformerBytes)}, ${others})`;
  } else if (worst === 'decode') {
    need = phases.decode;
    what = `VAE decode: needs ${gib(need)} ${where} for one chunk of ${size} (chunk ${gib(parts.act.vaeDecodeBytes)}, transformer weights ${gib(t)}, ${others})`;
  } else {
    need = phases.encode;
    what = `text encoder: needs ${gib(need)} ${where} to encode a prompt (text encoder weights ${gib(parts.text)}, activations ${gib(parts.act.textEncoderBytes)}, transformer weights ${gib(t)}, ${others})`;
  }
  return new WanError('E_OOM', `memory plan for ${size}: the ${what}, more than the budget of ${gib(budget.bytes)} (${budget.source}); nothing was loaded`);
}
