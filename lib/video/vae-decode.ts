// Decoding latents to frames through the native VAE, chunk by chunk: an async iterator whose
// consumer sets the pace (the decoder runs at most a chunk ahead of it) and an AbortSignal that
// stops the decoder between chunks.
import type { NativeVae, NativeVaeChunk } from '../bindings/native-vae.js';
import type { NativeTensor } from '../bindings/native.js';
import { WanError, fromNativeError } from '../errors.js';
import { assembleVideo } from './frames.js';

export interface DecodeFramesOptions {
  /** 'normalized' (default): the diffusion model's latents, mapped back with the VAE's
   * latents_mean/latents_std first, as the Wan pipelines do. 'raw': the VAE's own latent space. */
  latents?: 'normalized' | 'raw';
  /** 'rgb8' (default): RGB bytes as the pipelines post-process frames; 'float': [-1, 1]. */
  format?: 'rgb8' | 'float';
  signal?: AbortSignal;
  /** A job's cancel flag (see NativeVae.decode): the decode stops before its next chunk once it is set. */
  cancelFlag?: Int32Array;
}

const cancelledError = () => new WanError('E_CANCELLED', 'the VAE decode was cancelled');

/** Frames of latents [B, z, T, h, w], one chunk per latent frame (1 frame, then 4 each). */
export function decodeFrames(vae: NativeVae, latents: NativeTensor, opts: DecodeFramesOptions = {}): AsyncIterableIterator<NativeVaeChunk> {
  const { signal } = opts;
  if (signal?.aborted) throw cancelledError();
  const queue: Array<{ chunk: NativeVaeChunk; taken: () => void }> = [];
  let wake: (() => void) | null = null;
  let finished = false;
  let failure: unknown = null;
  const job = vae.decode(
    latents,
    { normalized: (opts.latents ?? 'normalized') === 'normalized', format: opts.format ?? 'rgb8', cancelFlag: opts.cancelFlag },
    (chunk) => new Promise<void>((taken) => {
      queue.push({ chunk, taken });
      wake?.();
    }),
  );
  job.done.then(
    () => {
      finished = true;
      wake?.();
    },
    (err: unknown) => {
      failure = err;
      finished = true;
      wake?.();
    },
  );
  const onAbort = () => job.cancel();
  signal?.addEventListener('abort', onAbort, { once: true });
  const stop = () => signal?.removeEventListener('abort', onAbort);

  return {
    async next(): Promise<IteratorResult<NativeVaeChunk>> {
      for (;;) {
        const item = queue.shift();
        if (item) {
          item.taken();
          return { value: item.chunk, done: false };
        }
        if (finished) {
          stop();
          if (signal?.aborted) throw cancelledError();
          if (failure) throw fromNativeError(failure);
          return { value: undefined, done: true };
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = null;
      }
    },
    async return(): Promise<IteratorResult<NativeVaeChunk>> {
      job.cancel();
      for (const item of queue.splice(0)) item.taken();
      await job.done.catch(() => undefined);
      stop();
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/** The whole decoded video, [B, 3, T, H, W] in [-1, 1]: the reference decoder's output. */
export async function decodeVideo(vae: NativeVae, latents: NativeTensor, opts: Omit<DecodeFramesOptions, 'format'> = {}): Promise<NativeTensor> {
  const chunks: NativeVaeChunk[] = [];
  for await (const chunk of decodeFrames(vae, latents, { ...opts, format: 'float' })) chunks.push(chunk);
  return assembleVideo(chunks, latents.shape[0]);
}
