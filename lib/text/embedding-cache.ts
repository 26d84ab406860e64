// A bounded LRU of prompt embeddings keyed by encoder and text: most requests share the default
// negative prompt, and a repeated prompt should not run a 5B-parameter encoder again.

export interface CachedEmbedding {
  /** The rows of the prompt's tokens only, [length, dModel]. */
  rows: Float32Array;
  length: number;
}

export class EmbeddingCache {
  private readonly entries = new Map<string, CachedEmbedding>();
  private bytes = 0;

  constructor(readonly maxBytes: number) {}

  static key(encoder: string, maxLength: number, cleanedText: string): string {
    return `${encoder}\u0000${maxLength}\u0000${cleanedText}`;
  }

  get(key: string): CachedEmbedding | undefined {
    const e = this.entries.get(key);
    if (e) {
      // Re-insert to mark it most recently used (Map keeps insertion order).
      this.entries.delete(key);
      this.entries.set(key, e);
    }
    return e;
  }

  set(key: string, value: CachedEmbedding): void {
    const size = value.rows.byteLength;
    if (size > this.maxBytes) return;
    const old = this.entries.get(key);
    if (old) {
      this.bytes -= old.rows.byteLength;
      this.entries.delete(key);
    }
    this.entries.set(key, value);
    this.bytes += size;
    for (const [k, v] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(k);
      this.bytes -= v.rows.byteLength;
    }
  }

  get sizeBytes(): number {
    return this.bytes;
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }
}
