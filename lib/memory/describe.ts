// The memory plan in words, for `wan-video info` and `wan-video generate`.
import type { MemoryPlan } from './plan.js';

/** 1.50 GiB, 12.0 MiB, 512 bytes. */
export const formatBytes = (b: number) =>
  Math.abs(b) >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(2)} GiB` : Math.abs(b) >= 2 ** 20 ? `${(b / 2 ** 20).toFixed(1)} MiB` : Math.abs(b) >= 2 ** 10 ? `${(b / 2 ** 10).toFixed(1)} KiB` : `${b} bytes`;
const size = formatBytes;

export function describeMemoryPlan(p: MemoryPlan): string[] {
  const r = p.request;
  const t = p.transformer;
  const device = p.backend === 'cuda' ? 'the CUDA device' : 'the CPU backend';
  const experts = p.weights.transformer.length > 1 ? `transformer experts ${p.weights.transformer.map(size).join(' + ')}` : `transformer ${size(p.weights.transformer[0])}`;
  const where =
    t.placement === 'resident'
      ? t.experts === 'one-resident'
        ? 'one expert resident at a time (the other in pinned host memory, swapped at the boundary)'
        : `resident${t.experts === 'both-resident' ? ' (both experts)' : ''}`
      : `offloaded: ${t.residentBlocks} of ${t.blocks} blocks resident, the rest streamed from pinned host memory${t.experts === 'one-resident' ? ', one expert at a time' : ''} (${size(t.blockBytes)} a block, ${size(t.hostBytes)} in host memory)`;
  return [
    `memory plan for ${r.width}x${r.height}, ${r.numFrames} frames${r.steps !== null ? `, ${r.steps} steps` : ''} on ${device}: peak ${size(p.peakBytes)} of a ${size(p.budget.bytes)} budget (${p.budget.source})`,
    `  weights: ${experts}, text encoder ${size(p.weights.textEncoder)}, VAE ${size(p.weights.vae)}${p.weights.imageEncoder ? `, image encoder ${size(p.weights.imageEncoder)}` : ''}`,
    `  activations at ${r.tokens} tokens: attention ${size(p.activations.attentionBytes)}, FFN ${size(p.activations.ffnBytes)}, block I/O ${size(p.activations.blockIoBytes)}, latents ${size(p.activations.latentsBytes)}; text encoder ${size(p.activations.textEncoderBytes)}`,
    `  VAE decode: ${p.vaeDecode.chunks} chunks of ${p.vaeDecode.framesPerChunk} frames, ${size(p.vaeDecode.chunkBytes)} each`,
    `  phases: encode ${size(p.phases.encode)}, denoise ${size(p.phases.denoise)}, decode ${size(p.phases.decode)}`,
    `  transformer ${where}; text encoder ${p.textEncoder.release ? 'released after encoding' : 'kept loaded'}`,
  ];
}
