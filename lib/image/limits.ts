// The limits on a conditioning image, declared once: every path (file, URL, data URI, base64, raw
// pixels) is held to them before anything is decoded or resized.

export interface ImageLimits {
  /** Largest encoded image (file, download, decoded base64), bytes. */
  maxBytes: number;
  /** Largest decoded image, width x height. */
  maxPixels: number;
  /** A download that has not finished after this long is abandoned. */
  fetchTimeoutMs: number;
  /** Redirects followed for an http(s) image (each target is checked again). */
  maxRedirects: number;
}

export const IMAGE_LIMITS: Readonly<ImageLimits> = Object.freeze({
  // A 4K photo as a high-quality JPEG is 3-8 MB, as a PNG up to ~25 MB.
  maxBytes: 32 * 1024 * 1024,
  // 8192 x 8192: twice the area of 8K UHD; the output is at most 4096 on a side.
  maxPixels: 8192 * 8192,
  fetchTimeoutMs: 30_000,
  maxRedirects: 3,
});

export const fmtBytes = (n: number): string => (n >= 1024 * 1024 ? `${(n / (1024 * 1024)).toFixed(n % (1024 * 1024) ? 1 : 0)} MiB` : `${n} bytes`);
