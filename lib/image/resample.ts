// Image resizing as Pillow does it for an 8-bit RGB image (`Image.resize` with reducing_gap None),
// because the reference pipelines resize with Pillow: diffusers' VideoProcessor (LANCZOS) for the
// VAE's conditioning frame and transformers' CLIPImageProcessor (BICUBIC) for the CLIP encoder.
// The conventions that decide the exact bytes, written from Pillow's documented behaviour:
//  - separable: a horizontal pass into an 8-bit intermediate image, then a vertical pass;
//  - the filter is stretched by the scale when downscaling (support x max(scale, 1));
//  - output pixel x takes input pixels around center = (x + 0.5) * scale, from
//    trunc(center - support + 0.5) to trunc(center + support + 0.5) (clamped to the image), with
//    weights filter((i - center + 0.5) / max(scale, 1)) normalised to sum 1;
//  - the weights become fixed-point integers with 22 fractional bits, rounded half away from zero;
//    each output is (sum + 2^21) >> 22, clamped to 0..255.
// libvips (sharp) computes the same filters in another arithmetic; it lands close but not
// byte-identical (see test/unit/image-resample.test.ts).

export type ResampleFilter = 'lanczos' | 'bicubic';

interface FilterDef {
  support: number;
  weight(x: number): number;
}

const sinc = (x: number): number => {
  if (x === 0) return 1;
  const px = x * Math.PI;
  return Math.sin(px) / px;
};

/** Pillow's filters: Lanczos-3 (truncated sinc) and Keys' cubic with a = -0.5. */
const FILTERS: Record<ResampleFilter, FilterDef> = {
  lanczos: { support: 3, weight: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
  bicubic: {
    support: 2,
    weight: (x) => {
      const a = -0.5;
      const t = Math.abs(x);
      if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
      if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
      return 0;
    },
  },
};

const PRECISION_BITS = 22;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);

/** For each output position: the first input index, how many inputs, and their fixed-point weights. */
interface Coefficients {
  ksize: number;
  start: Int32Array;
  count: Int32Array;
  weights: Int32Array; // [outSize, ksize]
}

function coefficients(inSize: number, outSize: number, f: FilterDef): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = f.support * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const n = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let sum = 0;
    for (let x = 0; x < n; x++) {
      w[x] = f.weight((x + xmin - center + 0.5) / filterScale);
      sum += w[x];
    }
    for (let x = 0; x < n; x++) {
      const v = sum !== 0 ? w[x] / sum : w[x];
      weights[xx * ksize + x] = Math.trunc(v < 0 ? v * ONE - 0.5 : v * ONE + 0.5);
    }
    start[xx] = xmin;
    count[xx] = n;
  }
  return { ksize, start, count, weights };
}

const clip8 = (acc: number): number => {
  const v = Math.floor(acc / ONE);
  return v < 0 ? 0 : v > 255 ? 255 : v;
};

/** An 8-bit image, `channels` interleaved values a pixel, row-major. */
export interface Image8 {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

/** One separable pass along x (axis 0) or y (axis 1) over rows [rowFirst, rowFirst + rows). */
function pass(src: Image8, outSize: number, axis: 0 | 1, c: Coefficients, rowFirst = 0, rows = src.height): Image8 {
  const ch = src.channels;
  if (axis === 0) {
    const out = new Uint8Array(outSize * rows * ch);
    for (let y = 0; y < rows; y++) {
      const rowIn = (y + rowFirst) * src.width * ch;
      const rowOut = y * outSize * ch;
      for (let xx = 0; xx < outSize; xx++) {
        const k0 = xx * c.ksize;
        const x0 = c.start[xx];
        const n = c.count[xx];
        for (let k = 0; k < ch; k++) {
          let acc = HALF;
          for (let x = 0; x < n; x++) acc += src.data[rowIn + (x0 + x) * ch + k] * c.weights[k0 + x];
          out[rowOut + xx * ch + k] = clip8(acc);
        }
      }
    }
    return { data: out, width: outSize, height: rows, channels: ch };
  }
  const rowLen = src.width * ch;
  const out = new Uint8Array(outSize * rowLen);
  const acc = new Float64Array(rowLen);
  for (let yy = 0; yy < outSize; yy++) {
    acc.fill(HALF);
    const k0 = yy * c.ksize;
    const y0 = c.start[yy] - rowFirst;
    for (let y = 0; y < c.count[yy]; y++) {
      const w = c.weights[k0 + y];
      const row = (y0 + y) * rowLen;
      for (let i = 0; i < rowLen; i++) acc[i] += src.data[row + i] * w;
    }
    for (let i = 0; i < rowLen; i++) out[yy * rowLen + i] = clip8(acc[i]);
  }
  return { data: out, width: src.width, height: outSize, channels: ch };
}

/** Resizes to exactly width x height (aspect not kept), as Pillow's `Image.resize(size, filter)`. */
export function resizeImage(img: Image8, width: number, height: number, filter: ResampleFilter): Image8 {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`resize target must be positive integers, got ${width}x${height}`);
  }
  const f = FILTERS[filter];
  const needH = width !== img.width;
  const needV = height !== img.height;
  if (!needH && !needV) return { ...img, data: img.data.slice() };
  const vert = coefficients(img.height, height, f);
  let cur = img;
  let rowFirst = 0;
  if (needH) {
    // Only the rows the vertical pass will read go through the horizontal pass.
    const first = vert.start[0];
    const last = vert.start[height - 1] + vert.count[height - 1];
    cur = pass(img, width, 0, coefficients(img.width, width, f), needV ? first : 0, needV ? last - first : img.height);
    rowFirst = needV ? first : 0;
  }
  if (needV) cur = pass(cur, height, 1, vert, rowFirst);
  return cur;
}
