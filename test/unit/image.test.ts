// Conditioning images without a model: the forms a string may take, decoding with sharp (JPEG, PNG,
// WebP; alpha, greyscale), the byte and pixel limits, the bounded download and its address policy,
// the resampler's invariants, the size taken from an image, the CLIP processor config.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { decodeImage } from '../../lib/image/decode.js';
import { fetchImageBytes, isNonPublicAddress } from '../../lib/image/fetch.js';
import { IMAGE_LIMITS } from '../../lib/image/limits.js';
import { loadImage } from '../../lib/image/load.js';
import { clipPixelValues, clipResizeSize, OPENAI_CLIP_PROCESSOR } from '../../lib/image/preprocess.js';
import { parseClipProcessorConfig } from '../../lib/image/processor-config.js';
import { resizeImage } from '../../lib/image/resample.js';
import { classifyImageString } from '../../lib/image/source.js';
import { inferImageEncoderConfig } from '../../lib/model/image-encoder-config.js';
import { sizeFromImage } from '../../lib/pipeline/image-inputs.js';
import { encodeImage, testPixels } from '../helpers/images.js';

describe('image strings', () => {
  it('tells URLs, data URIs, base64, file URLs and paths apart', () => {
    expect(classifyImageString('https://example.com/a.png').kind).toBe('url');
    expect(classifyImageString('HTTP://example.com/a').kind).toBe('url');
    expect(classifyImageString('data:image/jpeg;base64,/9j/4AAQ')).toMatchObject({ kind: 'data-uri', mime: 'image/jpeg' });
    expect(classifyImageString('iVBORw0KGgoAAAANSUhEUgAA')).toMatchObject({ kind: 'base64', mime: 'image/png' });
    expect(classifyImageString('UklGRiQAAABXRUJQVlA4IBgA')).toMatchObject({ kind: 'base64', mime: 'image/webp' });
    // A path that starts like base64 but is not base64 stays a path.
    expect(classifyImageString('/9j/frames/a.png')).toMatchObject({ kind: 'path', path: '/9j/frames/a.png' });
    expect(classifyImageString('file:///tmp/a%20b.png')).toMatchObject({ kind: 'path', path: '/tmp/a b.png' });
    expect(classifyImageString('frames/first.png')).toMatchObject({ kind: 'path' });
    expect(classifyImageString('data:image/gif;base64,R0lG').kind).toBe('invalid');
    expect(classifyImageString('s3://bucket/a.png').kind).toBe('invalid');
    expect(classifyImageString('').kind).toBe('invalid');
  });
});

describe('decoding', () => {
  const w = 20;
  const h = 12;
  const px = testPixels(w, h);

  it('decodes PNG and lossless WebP to the exact pixels, JPEG close to them', async () => {
    for (const format of ['png', 'webp'] as const) {
      const img = await decodeImage(await encodeImage(px, w, h, format), 'image');
      expect([img.width, img.height, img.format]).toEqual([w, h, format]);
      expect(Buffer.from(img.data).equals(Buffer.from(px)), format).toBe(true);
    }
    const jpeg = await decodeImage(await encodeImage(px, w, h, 'jpeg'), 'image');
    expect(jpeg.format).toBe('jpeg');
    const meanAbs = jpeg.data.reduce((s, v, i) => s + Math.abs(v - px[i]), 0) / px.length;
    expect(meanAbs).toBeLessThan(12);
  });

  it('drops an alpha channel (not composited) and expands greyscale to RGB, as Pillow\'s convert("RGB")', async () => {
    const rgba = new Uint8Array(w * h * 4);
    for (let i = 0; i < w * h; i++) {
      rgba.set(px.subarray(i * 3, i * 3 + 3), i * 4);
      rgba[i * 4 + 3] = i % 2 ? 0 : 255;
    }
    const png = await sharp(rgba, { raw: { width: w, height: h, channels: 4 } }).png().toBuffer();
    expect(Buffer.from((await decodeImage(png, 'image')).data).equals(Buffer.from(px))).toBe(true);
    const grey = Uint8Array.from({ length: w * h }, (_, i) => (i * 9) % 256);
    const g = await decodeImage(await sharp(grey, { raw: { width: w, height: h, channels: 1 } }).png().toBuffer(), 'image');
    expect(g.data.length).toBe(w * h * 3);
    expect([g.data[30], g.data[31], g.data[32]]).toEqual([grey[10], grey[10], grey[10]]);
  });

  it('refuses what is not an image, a truncated file, and images over the byte and pixel limits, naming the field', async () => {
    await expect(decodeImage(new TextEncoder().encode('hello world'), 'image_url')).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT', message: 'image_url: not a JPEG, PNG or WebP image (the data starts with 68 65 6c 6c 6f 20 77 6f)',
    });
    const png = await encodeImage(px, w, h, 'png');
    await expect(decodeImage(png.subarray(0, 40), 'lastImage')).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT', message: expect.stringMatching(/^lastImage: the PNG image cannot be/) });
    await expect(decodeImage(png, 'image', { ...IMAGE_LIMITS, maxBytes: 10 })).rejects.toMatchObject({ message: expect.stringMatching(/^image: the image is \d+ bytes, more than the limit of 10 bytes/) });
    await expect(decodeImage(png, 'image', { ...IMAGE_LIMITS, maxPixels: 100 })).rejects.toMatchObject({ message: 'image: the image is 20x12 = 240 pixels, more than the limit of 100 (10^2)' });
  });

  it('loads raw pixels within the pixel limit and base64 within the byte limit', async () => {
    const limits = { ...IMAGE_LIMITS, maxPixels: 100, maxBytes: 50 };
    await expect(loadImage({ data: px, width: w, height: h }, 'image', { limits })).rejects.toMatchObject({ message: expect.stringMatching(/^image: the image is 20x12/) });
    const b64 = (await encodeImage(px, w, h, 'png')).toString('base64');
    await expect(loadImage(b64, 'image', { limits })).rejects.toMatchObject({ message: expect.stringMatching(/^image: the base64 image holds \d+ bytes, more than the image limit of 50 bytes/) });
    const ok = await loadImage(`data:image/png;base64,${b64}`, 'image');
    expect([ok.width, ok.height, ok.from]).toEqual([w, h, 'data-uri']);
  });

  it('reads a file unless told not to (allowFiles: false, as a server\'s pipelines are), then refuses paths and file: URLs by field', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'wan-img-')), 'a.png');
    writeFileSync(file, await encodeImage(px, w, h, 'png'));
    expect((await loadImage(file, 'image')).from).toBe('file');
    for (const ref of [file, `file://${file}`]) {
      await expect(loadImage(ref, 'image_url', { allowFiles: false })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT', message: expect.stringMatching(/^image_url: a file on the server cannot be named/) });
    }
    expect((await loadImage(`data:image/png;base64,${(await encodeImage(px, w, h, 'png')).toString('base64')}`, 'image', { allowFiles: false })).from).toBe('data-uri');
  });
});

describe('downloads', () => {
  let server: Server;
  let base: string;
  let png: Buffer;

  beforeAll(async () => {
    png = await encodeImage(testPixels(8, 8), 8, 8, 'png');
    server = createServer((req, res) => {
      const url = req.url ?? '';
      if (url === '/a.png') res.end(png);
      else if (url === '/redirect') res.writeHead(302, { location: '/a.png' }).end();
      else if (url === '/loop') res.writeHead(302, { location: '/loop' }).end();
      else if (url === '/ftp') res.writeHead(302, { location: 'ftp://example.com/a.png' }).end();
      else if (url === '/big') res.writeHead(200, { 'content-length': String(10_000) }).end(Buffer.alloc(10_000));
      else if (url === '/stream') {
        res.writeHead(200);
        for (let i = 0; i < 10; i++) res.write(Buffer.alloc(1000));
        res.end();
      } else if (url === '/slow') setTimeout(() => res.end(png), 2000);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const allow = { allowPrivateNetwork: true };

  it('refuses loopback, private, link-local and reserved addresses unless allowed', async () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '172.20.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '::1', '::', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '64:ff9b::a00:1']) {
      expect(isNonPublicAddress(a), a).toBe(true);
    }
    for (const a of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) expect(isNonPublicAddress(a), a).toBe(false);
    await expect(fetchImageBytes(`${base}/a.png`, 'image_url')).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT', message: expect.stringMatching(/^image_url: http:\/\/127\.0\.0\.1:\d+\/a\.png resolves to 127\.0\.0\.1, a loopback/),
    });
    await expect(fetchImageBytes('http://localhost:1/a.png', 'image')).rejects.toMatchObject({ message: expect.stringMatching(/^image: .*a loopback, private/) });
    expect(Buffer.from(await fetchImageBytes(`${base}/a.png`, 'image', allow)).equals(png)).toBe(true);
  });

  it('follows a few redirects, and bounds bytes and time', async () => {
    expect(Buffer.from(await fetchImageBytes(`${base}/redirect`, 'image', allow)).equals(png)).toBe(true);
    await expect(fetchImageBytes(`${base}/loop`, 'image', allow)).rejects.toMatchObject({ message: expect.stringMatching(/redirected more than 3 times/) });
    await expect(fetchImageBytes(`${base}/ftp`, 'image', allow)).rejects.toMatchObject({ message: 'image: only http and https URLs are downloaded (got ftp:)' });
    const limits = { ...IMAGE_LIMITS, maxBytes: 5000, fetchTimeoutMs: 300 };
    await expect(fetchImageBytes(`${base}/big`, 'image', { ...allow, limits })).rejects.toMatchObject({ message: expect.stringMatching(/is 10000 bytes, more than the image limit of 5000 bytes/) });
    await expect(fetchImageBytes(`${base}/stream`, 'image', { ...allow, limits })).rejects.toMatchObject({ message: expect.stringMatching(/sent more than the image limit of 5000 bytes/) });
    await expect(fetchImageBytes(`${base}/slow`, 'image', { ...allow, limits })).rejects.toMatchObject({ message: expect.stringMatching(/did not arrive within 0.3 s/) });
    await expect(fetchImageBytes(`${base}/nothing`, 'image', allow)).rejects.toMatchObject({ message: expect.stringMatching(/answered HTTP 404$/) });
  });
});

describe('resizing and sizes', () => {
  it('keeps a constant image constant and an unchanged size identical, in both filters', () => {
    const flat = { data: new Uint8Array(30 * 20 * 3).fill(77), width: 30, height: 20, channels: 3 };
    for (const f of ['lanczos', 'bicubic'] as const) {
      for (const [w, h] of [[64, 48], [7, 5], [30, 9]]) {
        const r = resizeImage(flat, w, h, f);
        expect([r.width, r.height, r.data.length]).toEqual([w, h, w * h * 3]);
        expect(new Set(r.data)).toEqual(new Set([77]));
      }
      const px = testPixels(30, 20);
      expect(Buffer.from(resizeImage({ data: px, width: 30, height: 20, channels: 3 }, 30, 20, f).data).equals(Buffer.from(px))).toBe(true);
    }
  });

  it('CLIP: shorter side to 224, the longer truncated, then a 224 center crop', () => {
    expect(clipResizeSize(160, 120, 224)).toEqual({ width: 298, height: 224 });
    expect(clipResizeSize(90, 256, 224)).toEqual({ width: 224, height: 637 });
    const px = clipPixelValues({ data: testPixels(160, 120), width: 160, height: 120 }, OPENAI_CLIP_PROCESSOR);
    expect([px.width, px.height, px.data.length]).toEqual([224, 224, 3 * 224 * 224]);
  });

  it('CLIP: a crop larger than the resized image reads zero pixels around it, as transformers pads', () => {
    // 30x18 -> shortest edge 20 -> 33x20; a 24x24 crop: rows 2..21 are the image (top = (20 - 24) // 2 = -2),
    // rows 0, 1, 22, 23 the padding; columns from (33 - 24) // 2 = 4.
    const white = { data: new Uint8Array(30 * 18 * 3).fill(255), width: 30, height: 18 };
    const cfg = { ...OPENAI_CLIP_PROCESSOR, shortestEdge: 20, cropHeight: 24, cropWidth: 24 };
    const px = clipPixelValues(white, cfg);
    expect([px.width, px.height]).toEqual([24, 24]);
    const n = 24 * 24;
    const at = (c: number, y: number, x: number) => px.data[c * n + y * 24 + x];
    for (let c = 0; c < 3; c++) {
      const zero = (0 - cfg.mean[c]) / cfg.std[c];
      const one = (Math.fround(255 * cfg.rescaleFactor) - cfg.mean[c]) / cfg.std[c];
      for (const y of [0, 1, 22, 23]) expect(at(c, y, 5)).toBeCloseTo(zero, 6);
      for (const y of [2, 12, 21]) expect(at(c, y, 5)).toBeCloseTo(one, 6);
    }
  });

  it('takes the video size from the image at the model\'s area, as diffusers\' I2V examples do', () => {
    expect(sizeFromImage({ width: 1024, height: 768 }, 832 * 480, 16)).toEqual({ width: 720, height: 544 });
    expect(sizeFromImage({ width: 1280, height: 720 }, 1280 * 720, 16)).toEqual({ width: 1280, height: 720 });
    expect(sizeFromImage({ width: 480, height: 832 }, 832 * 480, 16)).toEqual({ width: 480, height: 832 });
  });

  it('reads a preprocessor_config.json and refuses a resample filter it does not implement', () => {
    const c = parseClipProcessorConfig({ size: { shortest_edge: 336 }, crop_size: 336, resample: 1 }, 'pp.json');
    expect([c.shortestEdge, c.cropHeight, c.cropWidth, c.resample]).toEqual([336, 336, 336, 'lanczos']);
    expect(() => parseClipProcessorConfig({ resample: 2 }, 'pp.json')).toThrow('pp.json: field "resample" 2 (BILINEAR) is not implemented; supported are 3 (BICUBIC, CLIP\'s) and 1 (LANCZOS)');
  });

  it('reads ViT-H/14 off the weights of a single file with no config', () => {
    const shapes = new Map<string, number[]>([
      ['embeddings.class_embedding', [1280]],
      ['embeddings.patch_embedding.weight', [1280, 3, 14, 14]],
      ['embeddings.position_embedding.weight', [257, 1280]],
      ...Array.from({ length: 32 }, (_, i) => [`encoder.layers.${i}.mlp.fc1.weight`, [5120, 1280]] as [string, number[]]),
    ]);
    expect(inferImageEncoderConfig(shapes)).toEqual({ hiddenSize: 1280, intermediateSize: 5120, numHeads: 16, numLayers: 32, patchSize: 14, imageSize: 224, numChannels: 3, eps: 1e-5 });
  });
});
