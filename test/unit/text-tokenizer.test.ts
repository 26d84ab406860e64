// The UMT5 tokenizer against the reference fixtures, its error reporting, and the two parts that
// replace @huggingface/tokenizers' own (the precompiled charsmap and Metaspace's split).
import { readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runTokenizerCase, tokenizerUnsupported } from '../../lib/conformance/kinds/tokenizer.js';
import { readManifest, type CaseManifest } from '../../lib/conformance/manifest.js';
import type { CaseContext, ModelCache } from '../../lib/conformance/types.js';
import { ModelFormatError, WanError } from '../../lib/errors.js';
import { readSafetensorsF32 } from '../../lib/model/safetensors.js';
import { PrecompiledCharsmap } from '../../lib/text/precompiled.js';
import { UmT5Tokenizer, tokenizePrompt } from '../../lib/text/tokenizer.js';
import { fixturesRoot } from '../helpers/paths.js';

const CASES = join(fixturesRoot, 'cases', 'tokenizer');
const TOKENIZER_DIR = join(fixturesRoot, 'models', 'tiny-umt5', 'tokenizer');
const caseNames = readdirSync(CASES).sort();

interface Fixture {
  manifest: CaseManifest;
  ids: number[];
  idsPadded: number[];
  mask: number[];
}

async function loadCase(name: string): Promise<Fixture> {
  const dir = join(CASES, name);
  const manifest = await readManifest(join(dir, 'manifest.json'));
  const t = await readSafetensorsF32(join(dir, 'tensors.safetensors'));
  const ints = (n: string): number[] => Array.from(t.get(n)!.data);
  return { manifest, ids: ints('out.ids'), idsPadded: ints('out.ids_padded'), mask: ints('out.mask') };
}

let tokenizer: UmT5Tokenizer;
const temps: string[] = [];
beforeAll(async () => {
  tokenizer = await UmT5Tokenizer.load(TOKENIZER_DIR);
});
afterAll(async () => {
  await Promise.all(temps.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'wan-tokenizer-test-'));
  temps.push(d);
  return d;
}

describe('UmT5Tokenizer on the reference cases', () => {
  it.each(caseNames)('%s: ids, padded ids and mask', async (name) => {
    const { manifest, ids, idsPadded, mask } = await loadCase(name);
    const cleaned = manifest.params.cleaned as string;
    const maxLength = manifest.params.max_length as number;
    expect(tokenizer.encode(cleaned)).toEqual(ids);
    const padded = tokenizer.encodePadded(cleaned, maxLength);
    expect(Array.from(padded.ids)).toEqual(idsPadded);
    expect(Array.from(padded.mask)).toEqual(mask);
    expect(padded.length).toBe(mask.filter((m) => m === 1).length);
    expect(padded.originalLength).toBe(ids.length);
    expect(padded.truncated).toBe(ids.length > maxLength);
  });

  it.each(caseNames)('%s: the conformance kind reproduces the outputs', async (name) => {
    const { manifest, ids, idsPadded, mask } = await loadCase(name);
    expect(tokenizerUnsupported(manifest)).toBeNull();
    const out = await runTokenizerCase(context(manifest));
    expect(Array.from(out.get('out.ids')!.data)).toEqual(ids);
    expect(out.get('out.ids')!.shape).toEqual(manifest.shapes['out.ids']);
    expect(Array.from(out.get('out.ids_padded')!.data)).toEqual(idsPadded);
    expect(out.get('out.ids_padded')!.shape).toEqual(manifest.shapes['out.ids_padded']);
    expect(Array.from(out.get('out.mask')!.data)).toEqual(mask);
    expect(out.get('out.mask')!.shape).toEqual(manifest.shapes['out.mask']);
  });
});

/** A case context with a cache that records what it loaded. */
function context(manifest: CaseManifest, loads: string[] = []): CaseContext {
  const values = new Map<string, unknown>();
  const cache: ModelCache = {
    async get<T>(key: string, load: () => Promise<{ value: T; dispose: () => void }>): Promise<T> {
      if (!values.has(key)) {
        loads.push(key);
        values.set(key, (await load()).value);
      }
      return values.get(key) as T;
    },
  };
  return { root: fixturesRoot, manifest, inputs: new Map(), addon: {} as never, cache };
}

describe('runTokenizerCase', () => {
  it('loads the tokenizer once per folder', async () => {
    const loads: string[] = [];
    const a = await loadCase('plain');
    const b = await loadCase('chinese');
    const ctx = context(a.manifest, loads);
    await runTokenizerCase(ctx);
    await runTokenizerCase({ ...ctx, manifest: b.manifest });
    expect(loads).toEqual([`tokenizer:${TOKENIZER_DIR}`]);
  });

  it('fails when its cleaning differs from params.cleaned, naming both', async () => {
    const { manifest } = await loadCase('smart-quotes');
    const altered = { ...manifest, params: { ...manifest.params, cleaned: 'something else' } };
    await expect(runTokenizerCase(context(altered))).rejects.toThrow(
      /"\\"A 'quiet' street,\\" she said — at dawn…" differs from the reference's "something else"/,
    );
  });

  it('cleans params.text itself rather than using params.cleaned', async () => {
    const { manifest } = await loadCase('html-entities');
    const altered = { ...manifest, params: { ...manifest.params, text: manifest.params.cleaned } };
    // Already clean text cleans to itself, so this passes; raw text with entities must be cleaned.
    await expect(runTokenizerCase(context(altered))).resolves.toBeDefined();
    const raw = { ...manifest, params: { ...manifest.params, text: 'Tom &amp;amp; Jerry' } };
    await expect(runTokenizerCase(context(raw))).rejects.toThrow(/"Tom & Jerry" differs/);
  });

  it('says which cases it cannot run', async () => {
    const { manifest } = await loadCase('plain');
    expect(tokenizerUnsupported({ ...manifest, model: null })).toMatch(/model/);
    expect(tokenizerUnsupported({ ...manifest, kind: 'umt5_forward' })).toMatch(/umt5_forward/);
    expect(tokenizerUnsupported({ ...manifest, params: { ...manifest.params, padding_side: 'left' } }))
      .toBe('case params not supported yet: padding_side');
  });
});

describe('encodePadded and tokenizePrompt', () => {
  it('truncates to maxLength-1 pieces plus </s> and reports it', async () => {
    const { manifest, ids } = await loadCase('long-truncated');
    const r = tokenizePrompt(tokenizer, manifest.params.text as string, 16);
    expect(r.cleaned).toBe(manifest.params.cleaned);
    expect(r.truncated).toBe(true);
    expect(r.originalLength).toBe(64);
    expect(r.length).toBe(16);
    expect(Array.from(r.ids)).toEqual([...ids.slice(0, 15), 1]);
    expect(Array.from(r.mask)).toEqual(new Array(16).fill(1));
    expect(r.warning).toBe('prompt is 64 tokens, truncated to 16');
  });

  it('pads to 512 by default and gives no warning when it fits', () => {
    const r = tokenizePrompt(tokenizer, '  A cat walks on the beach at sunset. ');
    expect(r.ids).toBeInstanceOf(Int32Array);
    expect(r.ids.length).toBe(512);
    expect(r.mask.length).toBe(512);
    expect(Array.from(r.ids.subarray(0, 17))).toEqual([12, 51, 15, 212, 64, 16, 4, 13, 11, 7, 184, 5, 15, 78, 6, 1, 0]);
    expect(r.mask.reduce((a, b) => a + b, 0)).toBe(16);
    expect(r.length).toBe(16);
    expect(r.truncated).toBe(false);
    expect(r.warning).toBeUndefined();
  });

  it('keeps a prompt of exactly maxLength tokens whole', () => {
    const r = tokenizer.encodePadded('A cat walks on the beach at sunset.', 16);
    expect(r.truncated).toBe(false);
    expect(r.ids[15]).toBe(1);
    const cut = tokenizer.encodePadded('A cat walks on the beach at sunset.', 15);
    expect(cut.truncated).toBe(true);
    expect(Array.from(cut.ids)).toEqual([12, 51, 15, 212, 64, 16, 4, 13, 11, 7, 184, 5, 15, 78, 1]);
  });

  it('rejects a maxLength with no room for a piece', () => {
    expect(() => tokenizer.encodePadded('a', 1)).toThrow(WanError);
    expect(() => tokenizer.encodePadded('a', 2.5)).toThrow(/maxLength/);
  });

  it('extracts a literal </s> as the special token, as tokenizer.json does', () => {
    expect(tokenizer.encode('a</s>a')).toEqual([5, 1, 5, 1]);
  });
});

describe('tokenizer.json problems', () => {
  async function expectFormatError(dir: string, message: RegExp): Promise<void> {
    const file = join(dir, 'tokenizer.json');
    const err = await UmT5Tokenizer.load(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelFormatError);
    expect((err as ModelFormatError).file).toBe(file);
    expect((err as Error).message).toContain(file);
    expect((err as Error).message).toMatch(message);
  }
  const original = async (): Promise<Record<string, any>> => JSON.parse(await readFile(join(TOKENIZER_DIR, 'tokenizer.json'), 'utf8'));
  async function withJson(json: unknown): Promise<string> {
    const dir = await tempDir();
    await writeFile(join(dir, 'tokenizer.json'), typeof json === 'string' ? json : JSON.stringify(json));
    return dir;
  }

  it('a folder without tokenizer.json', async () => {
    await expectFormatError(await tempDir(), /cannot read/);
  });

  it('a tokenizer.json that is not JSON', async () => {
    await expectFormatError(await withJson('{"model": '), /not valid JSON/);
  });

  it('a model that is not Unigram', async () => {
    const j = await original();
    j.model.type = 'BPE';
    await expectFormatError(await withJson(j), /"BPE".*Unigram/);
  });

  it('no <pad> token', async () => {
    const j = await original();
    j.added_tokens = j.added_tokens.filter((t: { content: string }) => t.content !== '<pad>');
    await expectFormatError(await withJson(j), /<pad>/);
  });

  it('a broken precompiled_charsmap', async () => {
    const j = await original();
    j.normalizer.normalizers[0].precompiled_charsmap = Buffer.from([255, 255, 0, 0, 1, 2]).toString('base64');
    await expectFormatError(await withJson(j), /precompiled_charsmap/);
  });
});

describe('parts that replace @huggingface/tokenizers', () => {
  let charsmap: PrecompiledCharsmap;
  beforeAll(async () => {
    const j = JSON.parse(await readFile(join(TOKENIZER_DIR, 'tokenizer.json'), 'utf8'));
    charsmap = PrecompiledCharsmap.fromBase64(j.normalizer.normalizers[0].precompiled_charsmap);
  });

  it('the charsmap applies nmt_nfkc', () => {
    expect(charsmap.normalize('… ﬁ ① ™ Ｈｅｌｌｏ')).toBe('... fi 1 TM Hello');
    expect(charsmap.normalize('a\u200bb\u3000c')).toBe('a b c');
    // Characters the table does not list stay as they are, where NFKC would fold them (U+A7F1 is
    // newer than the table; the JS port's NFKC approximation gives 'S').
    expect(charsmap.normalize('\ua7f1 \u200d')).toBe('\ua7f1 \u200d');
    // HF's quirk, reproduced: a short grapheme cluster whose first character has an entry is
    // replaced whole by that entry, so CR LF becomes one space.
    expect(charsmap.normalize('a\r\nb')).toBe('a b');
  });

  it('the tokenizer normalizes with the charsmap, not the JS port approximation', () => {
    // nmt_nfkc leaves ZERO WIDTH JOINER alone (sentencepiece's builder comments its rule out), so it
    // is an unknown piece between "▁a" and "b"; an NFKC-plus-spaces approximation would give "▁a ▁b".
    expect(tokenizer.encode('a\u200db')).toEqual([5, 2, 265, 1]);
    expect(tokenizer.encode('a b')).toEqual([5, 23, 1]);
  });

  it('rejects a charsmap too short for its trie', () => {
    expect(() => new PrecompiledCharsmap(new Uint8Array([1, 2]))).toThrow(/too short/);
    expect(() => new PrecompiledCharsmap(new Uint8Array([16, 0, 0, 0, 1, 2, 3, 4]))).toThrow(/16-byte trie/);
  });

  it('Metaspace splits words before Unigram, so no piece spans a word boundary', () => {
    // A made-up vocabulary where the best path over the whole of "▁a▁b" would be "▁" + "a▁b".
    const vocab: [string, number][] = [
      ['<pad>', 0], ['</s>', 0], ['<unk>', 0], ['▁', -1], ['a', -5], ['b', -5], ['▁a', -3], ['▁b', -3], ['a▁b', -0.5],
    ];
    const special = (id: number, content: string) => ({
      id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
    });
    const json = {
      version: '1.0', truncation: null, padding: null,
      added_tokens: [special(0, '<pad>'), special(1, '</s>'), special(2, '<unk>')],
      normalizer: null,
      pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
      post_processor: {
        type: 'TemplateProcessing',
        single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
        pair: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
        special_tokens: { '</s>': { id: '</s>', ids: [1], tokens: ['</s>'] } },
      },
      decoder: null,
      model: { type: 'Unigram', unk_id: 2, vocab, byte_fallback: false },
    };
    expect(UmT5Tokenizer.fromJson(json).encode('a b')).toEqual([6, 7, 1]);
    const unsplit = { ...json, pre_tokenizer: { ...json.pre_tokenizer, split: false } };
    expect(UmT5Tokenizer.fromJson(unsplit).encode('a b')).toEqual([3, 8, 1]);
  });
});
