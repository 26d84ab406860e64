// A typed view of the parts of @huggingface/tokenizers (0.2.0) used here. The package's bundled
// .d.ts files use extensionless relative imports, which do not resolve under NodeNext, so as
// imported everything is `any` and most named exports are missing from the types (they do exist
// at run time). These declarations state what tokenizer.ts relies on.
import * as untyped from '@huggingface/tokenizers';

/** Normalizers and pre-tokenizers are callable objects in the JS port. */
export interface HfNormalizer {
  (text: string): string;
  normalize(text: string): string;
}

export interface HfPreTokenizer {
  (text: string | string[], options?: { section_index?: number }): string[];
  pre_tokenize_text(text: string, options?: { section_index?: number }): string[];
}

export interface HfTokenizer {
  normalizer: HfNormalizer | null;
  pre_tokenizer: HfPreTokenizer | null;
  encode(text: string, options?: { add_special_tokens?: boolean }): { ids: number[]; tokens: string[] };
}

interface HfModule {
  Tokenizer: new (tokenizerJson: object, tokenizerConfig: object) => HfTokenizer;
  Normalizer: new (config: unknown) => HfNormalizer;
  PrecompiledNormalizer: new (config: unknown) => HfNormalizer;
  SequenceNormalizer: new (config: unknown) => HfNormalizer & { normalizers: (HfNormalizer | null)[] };
  MetaspacePreTokenizer: new (config: unknown) => HfPreTokenizer & { replacement: string };
  SequencePreTokenizer: new (config: unknown) => HfPreTokenizer & { tokenizers: (HfPreTokenizer | null)[] };
}

export const hf = untyped as unknown as HfModule;
