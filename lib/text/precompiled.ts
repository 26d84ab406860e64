// SentencePiece's precompiled normalizer (`precompiled_charsmap` in tokenizer.json), applied the way
// Hugging Face tokenizers (Rust) applies it. @huggingface/tokenizers 0.2.0 ignores the charsmap and
// approximates it with NFKC plus a few hard-coded replacements, which differs from the real table
// (nmt_nfkc) on many characters, so the table itself is read here.
//
// Format: u32 little-endian byte length of the trie, the trie (Darts-clone double array of u32
// units, keyed by UTF-8 bytes), then the replacement strings, each UTF-8 and NUL-terminated; a trie
// value is the byte offset of its replacement.

const decoder = new TextDecoder('utf-8');
const encoder = new TextEncoder();

/** Thrown for a charsmap that cannot be read; the caller names the file it came from. */
export class CharsmapError extends Error {}

export class PrecompiledCharsmap {
  private readonly units: Uint32Array;
  private readonly strings: Uint8Array;
  private readonly cache = new Map<number, string>();
  private readonly graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

  constructor(bytes: Uint8Array) {
    if (bytes.length < 4) throw new CharsmapError(`precompiled_charsmap is ${bytes.length} bytes, too short for its header`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const trieBytes = view.getUint32(0, true);
    if (trieBytes % 4 !== 0 || trieBytes === 0 || 4 + trieBytes > bytes.length) {
      throw new CharsmapError(`precompiled_charsmap declares a ${trieBytes}-byte trie in ${bytes.length} bytes`);
    }
    this.units = new Uint32Array(trieBytes / 4);
    for (let i = 0; i < this.units.length; i++) this.units[i] = view.getUint32(4 + 4 * i, true);
    this.strings = bytes.subarray(4 + trieBytes);
  }

  static fromBase64(b64: string): PrecompiledCharsmap {
    return new PrecompiledCharsmap(new Uint8Array(Buffer.from(b64, 'base64')));
  }

  /**
   * The value of the SHORTEST key that is a prefix of `key` (the first hit of Darts'
   * commonPrefixSearch, which is what HF's transform takes), or -1. Unit layout: bits 0..7 the
   * label, bit 8 "has a leaf", bits 10.. the offset (shifted left by 8 more when bit 9 is set);
   * a leaf unit holds the value in its low 31 bits.
   */
  private firstPrefixValue(key: Uint8Array): number {
    const units = this.units;
    let pos = 0;
    let unit = units[0];
    pos ^= (unit >>> 10) << ((unit & 0x200) >>> 6);
    for (const c of key) {
      if (c === 0) break;
      pos ^= c;
      if (pos >= units.length) return -1;
      unit = units[pos];
      if ((unit & 0x800000ff) >>> 0 !== c) return -1;
      pos ^= (unit >>> 10) << ((unit & 0x200) >>> 6);
      if ((unit >>> 8) & 1) return pos < units.length ? units[pos] & 0x7fffffff : -1;
    }
    return -1;
  }

  private replacementAt(offset: number): string | null {
    if (offset < 0 || offset > this.strings.length) return null;
    let s = this.cache.get(offset);
    if (s === undefined) {
      let end = this.strings.indexOf(0, offset);
      if (end < 0) end = this.strings.length;
      s = decoder.decode(this.strings.subarray(offset, end));
      this.cache.set(offset, s);
    }
    return s;
  }

  /** The replacement for `chunk` (keyed by its leading bytes), or null to keep it. */
  transform(chunk: string): string | null {
    const v = this.firstPrefixValue(encoder.encode(chunk));
    return v < 0 ? null : this.replacementAt(v);
  }

  /**
   * HF's loop, kept as it is because it decides real token ids: each extended grapheme cluster
   * shorter than 6 UTF-8 bytes is looked up whole (and, if its first key matches, replaced whole);
   * otherwise, or when nothing matches, each character is looked up on its own.
   */
  normalize(text: string): string {
    let out = '';
    for (const { segment } of this.graphemes.segment(text)) {
      if (utf8Length(segment) < 6) {
        const whole = this.transform(segment);
        if (whole !== null) {
          out += whole;
          continue;
        }
      }
      for (const ch of segment) out += this.transform(ch) ?? ch;
    }
    return out;
  }
}

function utf8Length(s: string): number {
  let n = 0;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    n += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return n;
}
