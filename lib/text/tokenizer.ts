// The UMT5 tokenizer (tokenizer.json beside the text encoder): the prompt, cleaned, to token ids.
//
// @huggingface/tokenizers runs the pipeline (added-token splitting, the Unigram model's Viterbi
// search with unknown pieces fused, the post-processor that appends </s>). Two of its parts differ
// from Hugging Face tokenizers (Rust), which is what the reference pipelines use, and are replaced:
//  - the Precompiled normalizer: the JS port ignores `precompiled_charsmap` and approximates it with
//    NFKC; precompiled.ts applies the real table;
//  - the Metaspace pre-tokenizer: the JS port ignores `split: true`, so Unigram runs over the whole
//    text instead of per word; the subclass below splits before each '▁' as Rust does.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { ModelFormatError, WanError } from '../errors.js';
import { cleanPrompt } from './clean.js';
import { hf, type HfNormalizer, type HfPreTokenizer, type HfTokenizer } from './hf.js';
import { CharsmapError, PrecompiledCharsmap } from './precompiled.js';

export interface PaddedEncoding {
  /** Token ids, </s> included, padded with <pad> (0) to maxLength. */
  ids: Int32Array;
  /** 1 for real tokens, 0 for padding. */
  mask: Int32Array;
  /** Real tokens (</s> included), at most maxLength. */
  length: number;
  /** Whether the prompt had more than maxLength tokens and was cut. */
  truncated: boolean;
  /** Tokens (</s> included) before truncation. */
  originalLength: number;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Applies the charsmap in place of the JS port's NFKC approximation. */
class CharsmapNormalizer extends hf.Normalizer {
  private readonly charsmap: PrecompiledCharsmap;
  constructor(config: Json, charsmap: PrecompiledCharsmap) {
    super(config);
    this.charsmap = charsmap;
  }
  normalize(text: string): string {
    return this.charsmap.normalize(text);
  }
}

/** Metaspace with `split: true`: each '▁' starts a new word (Rust's MergedWithNext). */
class SplittingMetaspace extends hf.MetaspacePreTokenizer {
  pre_tokenize_text(text: string, options?: { section_index?: number }): string[] {
    const words: string[] = [];
    for (const joined of super.pre_tokenize_text(text, options)) {
      let start = 0;
      for (let i = joined.indexOf(this.replacement, 1); i > 0; i = joined.indexOf(this.replacement, i + 1)) {
        words.push(joined.slice(start, i));
        start = i;
      }
      if (start < joined.length) words.push(joined.slice(start));
    }
    return words;
  }
}

// instanceof without narrowing: the typed views of these classes are structurally alike.
const isInstance = (v: unknown, ctor: abstract new (...args: never[]) => unknown): boolean => v instanceof ctor;

/** Swap every Precompiled normalizer (top level or inside Sequences) for the charsmap one. */
function replaceNormalizer(n: HfNormalizer | null, config: unknown): HfNormalizer | null {
  if (isInstance(n, hf.PrecompiledNormalizer)) {
    const b64 = isObject(config) ? config.precompiled_charsmap : undefined;
    if (typeof b64 !== 'string' || b64.length === 0) throw new CharsmapError('a Precompiled normalizer has no precompiled_charsmap');
    return new CharsmapNormalizer(config as Json, PrecompiledCharsmap.fromBase64(b64));
  }
  if (isInstance(n, hf.SequenceNormalizer) && isObject(config) && Array.isArray(config.normalizers)) {
    const configs = config.normalizers as unknown[];
    const seq = n as InstanceType<typeof hf.SequenceNormalizer>;
    seq.normalizers = seq.normalizers.map((child, i) => replaceNormalizer(child, configs[i]));
  }
  return n;
}

function replacePreTokenizer(p: HfPreTokenizer | null, config: unknown): HfPreTokenizer | null {
  if (isInstance(p, hf.MetaspacePreTokenizer) && isObject(config) && config.split !== false) {
    return new SplittingMetaspace(config);
  }
  if (isInstance(p, hf.SequencePreTokenizer) && isObject(config) && Array.isArray(config.pretokenizers)) {
    const configs = config.pretokenizers as unknown[];
    const seq = p as InstanceType<typeof hf.SequencePreTokenizer>;
    seq.tokenizers = seq.tokenizers.map((child, i) => replacePreTokenizer(child, configs[i]));
  }
  return p;
}

function addedTokenId(json: Json, content: string, file: string): number {
  const tokens = Array.isArray(json.added_tokens) ? json.added_tokens : [];
  const hit = tokens.find((t): t is Json => isObject(t) && t.content === content);
  if (!hit || !Number.isInteger(hit.id)) throw new ModelFormatError(`${file}: no "${content}" token in added_tokens`, { file });
  return hit.id as number;
}

export class UmT5Tokenizer {
  private constructor(
    private readonly tok: HfTokenizer,
    /** Id used for padding (<pad>). */
    readonly padId: number,
    /** Ids the post-processor appends to every text (for UMT5: </s>). */
    readonly suffixIds: readonly number[],
  ) {}

  /** Read `<dir>/tokenizer.json`. Problems with the file are ModelFormatErrors naming it. */
  static async load(dir: string): Promise<UmT5Tokenizer> {
    const file = join(dir, 'tokenizer.json');
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new ModelFormatError(`${file}: cannot read the tokenizer (${(err as Error).message})`, { file });
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new ModelFormatError(`${file}: not valid JSON (${(err as Error).message})`, { file });
    }
    return UmT5Tokenizer.fromJson(json, file);
  }

  /** Build from parsed tokenizer.json contents; `file` names the source in errors. */
  static fromJson(json: unknown, file = 'tokenizer.json'): UmT5Tokenizer {
    if (!isObject(json) || !isObject(json.model)) throw new ModelFormatError(`${file}: no "model" object; not a tokenizer.json`, { file });
    if (json.model.type !== 'Unigram') {
      throw new ModelFormatError(`${file}: model type is ${JSON.stringify(json.model.type)}; the UMT5 tokenizer is "Unigram"`, { file });
    }
    const padId = addedTokenId(json, '<pad>', file);
    addedTokenId(json, '</s>', file);
    let tok: HfTokenizer;
    try {
      // The JS port also reads tokenizer_config.json fields; Rust uses tokenizer.json alone, so none.
      tok = new hf.Tokenizer(json, {});
      tok.normalizer = replaceNormalizer(tok.normalizer, json.normalizer);
      tok.pre_tokenizer = replacePreTokenizer(tok.pre_tokenizer, json.pre_tokenizer);
    } catch (err) {
      throw new ModelFormatError(`${file}: cannot build the tokenizer (${(err as Error).message})`, { file });
    }
    // What the post-processor adds, found on the empty text, and checked to be a suffix.
    const suffixIds = tok.encode('').ids;
    const probe = tok.encode('a').ids;
    const bare = tok.encode('a', { add_special_tokens: false }).ids;
    if (probe.join() !== [...bare, ...suffixIds].join()) {
      throw new ModelFormatError(`${file}: the post-processor does not only append tokens; the UMT5 one appends </s>`, { file });
    }
    return new UmT5Tokenizer(tok, padId, suffixIds);
  }

  /** Token ids of an already-cleaned prompt, </s> appended, not truncated. */
  encode(cleanedText: string): number[] {
    return this.tok.encode(cleanedText).ids;
  }

  /**
   * As the pipelines call the tokenizer (max_length, padding='max_length', truncation=True): a
   * longer prompt keeps its first maxLength-1 pieces and </s>; the rest is <pad> with mask 0.
   */
  encodePadded(cleanedText: string, maxLength = 512): PaddedEncoding {
    if (!Number.isInteger(maxLength) || maxLength <= this.suffixIds.length) {
      throw new WanError('E_INVALID_ARGUMENT', `maxLength must be an integer above ${this.suffixIds.length}, got ${maxLength}`);
    }
    const pieces = this.tok.encode(cleanedText, { add_special_tokens: false }).ids;
    const originalLength = pieces.length + this.suffixIds.length;
    const truncated = originalLength > maxLength;
    const kept = truncated ? pieces.slice(0, maxLength - this.suffixIds.length) : pieces;
    const real = [...kept, ...this.suffixIds];
    const ids = new Int32Array(maxLength).fill(this.padId);
    ids.set(real);
    const mask = new Int32Array(maxLength);
    mask.fill(1, 0, real.length);
    return { ids, mask, length: real.length, truncated, originalLength };
  }
}

export interface TokenizedPrompt extends PaddedEncoding {
  /** The prompt after cleaning: what was tokenized. */
  cleaned: string;
  /** Set when the prompt was truncated: the text of the job's warning event. */
  warning?: string;
}

/** Clean a raw prompt as diffusers does, then tokenize it padded to maxLength. */
export function tokenizePrompt(tokenizer: UmT5Tokenizer, rawText: string, maxLength = 512): TokenizedPrompt {
  const cleaned = cleanPrompt(rawText);
  const enc = tokenizer.encodePadded(cleaned, maxLength);
  const out: TokenizedPrompt = { cleaned, ...enc };
  if (enc.truncated) out.warning = `prompt is ${enc.originalLength} tokens, truncated to ${maxLength}`;
  return out;
}
