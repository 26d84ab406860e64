// An RGB drawing surface for the demo sheet: filled rectangles, images scaled by nearest neighbour,
// and text in the built-in 5x7 font. Just enough to label pictures; no dependency.
import { GLYPH_HEIGHT, GLYPH_WIDTH, glyphRows } from './font5x7.js';

export type Rgb = readonly [number, number, number];

export class Canvas {
  readonly rgb: Uint8Array;

  constructor(readonly width: number, readonly height: number, background: Rgb = [0, 0, 0]) {
    this.rgb = new Uint8Array(width * height * 3);
    this.fill(0, 0, width, height, background);
  }

  fill(x: number, y: number, w: number, h: number, c: Rgb): void {
    const x0 = Math.max(0, Math.round(x));
    const y0 = Math.max(0, Math.round(y));
    const x1 = Math.min(this.width, Math.round(x + w));
    const y1 = Math.min(this.height, Math.round(y + h));
    for (let yy = y0; yy < y1; yy++) {
      for (let xx = x0; xx < x1; xx++) this.rgb.set(c, (yy * this.width + xx) * 3);
    }
  }

  /** An RGB image drawn at (x, y), scaled by nearest neighbour to w x h. */
  image(src: Uint8Array, sw: number, sh: number, x: number, y: number, w = sw, h = sh): void {
    for (let yy = 0; yy < h; yy++) {
      const ty = y + yy;
      if (ty < 0 || ty >= this.height) continue;
      const sy = Math.min(sh - 1, Math.floor((yy * sh) / h));
      for (let xx = 0; xx < w; xx++) {
        const tx = x + xx;
        if (tx < 0 || tx >= this.width) continue;
        const sx = Math.min(sw - 1, Math.floor((xx * sw) / w));
        const s = (sy * sw + sx) * 3;
        const t = (ty * this.width + tx) * 3;
        this.rgb[t] = src[s];
        this.rgb[t + 1] = src[s + 1];
        this.rgb[t + 2] = src[s + 2];
      }
    }
  }

  /** Width in pixels of `text` at `scale` (each font cell scale x scale pixels, one blank column between characters). */
  static textWidth(text: string, scale = 1): number {
    return text.length * (GLYPH_WIDTH + 1) * scale;
  }

  static lineHeight(scale = 1): number {
    return (GLYPH_HEIGHT + 3) * scale;
  }

  /** Draws one line of text with its top-left corner at (x, y). */
  text(x: number, y: number, text: string, c: Rgb, scale = 1): void {
    let cx = x;
    for (const ch of text) {
      const rows = glyphRows(ch);
      for (let r = 0; r < GLYPH_HEIGHT; r++) {
        for (let b = 0; b < GLYPH_WIDTH; b++) {
          if ((rows[r] >> (GLYPH_WIDTH - 1 - b)) & 1) this.fill(cx + b * scale, y + r * scale, scale, scale, c);
        }
      }
      cx += (GLYPH_WIDTH + 1) * scale;
    }
  }

  /** `text` broken at spaces into lines of at most `maxWidth` pixels (a longer word is cut). */
  static wrap(text: string, maxWidth: number, scale = 1): string[] {
    const max = Math.max(1, Math.floor(maxWidth / ((GLYPH_WIDTH + 1) * scale)));
    const lines: string[] = [];
    let line = '';
    for (const word of text.split(' ')) {
      const next = line ? `${line} ${word}` : word;
      if (next.length <= max) line = next;
      else {
        if (line) lines.push(line);
        line = word.length > max ? Canvas.fit(word, maxWidth, scale) : word;
      }
    }
    if (line || lines.length === 0) lines.push(line);
    return lines;
  }

  /** `text` cut to fit `maxWidth` pixels, with "..." when it was cut. */
  static fit(text: string, maxWidth: number, scale = 1): string {
    const max = Math.floor(maxWidth / ((GLYPH_WIDTH + 1) * scale));
    return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 3))}...`;
  }
}
