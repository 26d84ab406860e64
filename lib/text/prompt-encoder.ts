// Prompt text to the embeddings the transformer takes: clean, tokenize, look up the cache, run the
// UMT5 encoder for the misses, cut and zero-pad. The encoder can be released after each use and is
// loaded again when a prompt misses the cache (the memory policy for machines where the 11 GB
// encoder and the transformer do not fit together).
import type { NativeTextEncoder } from '../bindings/native.js';
import { WanError } from '../errors.js';
import { type CachedEmbedding, EmbeddingCache } from './embedding-cache.js';
import { type UmT5Tokenizer, tokenizePrompt } from './tokenizer.js';

export interface PromptEncoderOptions {
  /** Loads the native encoder (from a plan); called again after a release. */
  load: () => Promise<NativeTextEncoder>;
  tokenizer: UmT5Tokenizer;
  /** Identifies the encoder weights in cache keys (e.g. the model folder). */
  encoderKey: string;
  maxLength?: number;
  /** Bound of the embedding cache in bytes (default 256 MiB). */
  cacheBytes?: number;
  /** Free the encoder after every encode() (default false: keep it resident). */
  releaseAfterEncode?: boolean;
}

export interface EncodedPrompts {
  /** [B, maxLength, dModel], rows past each prompt's length are zero. */
  embeds: { data: Float32Array; shape: [number, number, number] };
  seqLens: number[];
  /** One line per prompt that had to be truncated. */
  warnings: string[];
  timings: { cacheHits: number; cacheMisses: number; encoderLoads: number; encodeMs: number };
}

export class PromptEncoder {
  readonly cache: EmbeddingCache;
  private encoder: NativeTextEncoder | undefined;
  private loading: Promise<NativeTextEncoder> | undefined;
  private loads = 0;
  readonly maxLength: number;

  constructor(private readonly opts: PromptEncoderOptions) {
    this.maxLength = opts.maxLength ?? 512;
    this.cache = new EmbeddingCache(opts.cacheBytes ?? 256 * 2 ** 20);
  }

  /** Whether the native encoder is resident now. */
  get loaded(): boolean {
    return this.encoder !== undefined;
  }

  /** `cancelFlag`: a job's cancel flag; the encoder stops between layers once it is set. */
  async encode(prompts: string[], opts: { cancelFlag?: Int32Array } = {}): Promise<EncodedPrompts> {
    if (prompts.length === 0) throw new WanError('E_INVALID_ARGUMENT', 'encode() needs at least one prompt');
    const L = this.maxLength;
    const tokenized = prompts.map((p) => tokenizePrompt(this.opts.tokenizer, p, L));
    const keys = tokenized.map((t) => EmbeddingCache.key(this.opts.encoderKey, L, t.cleaned));
    const found = new Map<string, CachedEmbedding>();
    const missing: string[] = [];
    for (const k of new Set(keys)) {
      const e = this.cache.get(k);
      if (e) found.set(k, e);
      else missing.push(k);
    }
    const loadsBefore = this.loads;
    const t0 = performance.now();
    if (missing.length) {
      const rows = missing.map((k) => tokenized[keys.indexOf(k)]);
      const ids = new Int32Array(rows.length * L);
      const mask = new Int32Array(rows.length * L);
      rows.forEach((t, i) => {
        ids.set(t.ids, i * L);
        mask.set(t.mask, i * L);
      });
      const encoder = await this.acquire();
      let out;
      try {
        out = await encoder.encode({ ids, mask, shape: [rows.length, L] }, { cancelFlag: opts.cancelFlag });
      } finally {
        if (this.opts.releaseAfterEncode) this.release();
      }
      const d = out.shape[2];
      rows.forEach((t, i) => {
        const e = { rows: out.data.slice(i * L * d, (i * L + t.length) * d), length: t.length };
        found.set(missing[i], e);
        this.cache.set(missing[i], e);
      });
    }
    const first = found.get(keys[0])!;
    const dModel = first.rows.length / first.length;
    const data = new Float32Array(prompts.length * L * dModel);
    keys.forEach((k, i) => data.set(found.get(k)!.rows, i * L * dModel));
    const distinct = found.size;
    return {
      embeds: { data, shape: [prompts.length, L, dModel] },
      seqLens: keys.map((k) => found.get(k)!.length),
      warnings: tokenized.flatMap((t) => (t.warning ? [t.warning] : [])),
      timings: {
        cacheHits: distinct - missing.length,
        cacheMisses: missing.length,
        encoderLoads: this.loads - loadsBefore,
        encodeMs: performance.now() - t0,
      },
    };
  }

  /** Frees the native encoder; the next miss loads it again. */
  release(): void {
    this.encoder?.dispose();
    this.encoder = undefined;
  }

  private async acquire(): Promise<NativeTextEncoder> {
    if (this.encoder) return this.encoder;
    this.loading ??= this.opts.load().then(
      (e) => {
        this.loads++;
        this.encoder = e;
        this.loading = undefined;
        return e;
      },
      (err: unknown) => {
        this.loading = undefined;
        throw err;
      },
    );
    return this.loading;
  }
}
