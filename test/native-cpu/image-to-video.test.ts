// Wan2.1 I2V end to end on a tiny diffusers folder with a CLIP image encoder: the image in each form
// a request may give (file, data URI, base64, URL from a loopback server the pipeline was told to
// allow) gives the same video; the CLIP features reach the transformer; bad images are refused by field.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { readSafetensorsF32 } from '../../lib/model/safetensors.js';
import { writeSafetensors } from '../../lib/model/safetensors-writer.js';
import { WanPipeline } from '../../lib/pipeline/wan-pipeline.js';
import { encodeImage, testPixels } from '../helpers/images.js';
import { fixturesRoot, haveFixtures } from '../helpers/paths.js';
import { makeTinyPipeline } from '../helpers/tiny-pipeline.js';

describe.runIf(haveFixtures)('Wan2.1 I2V with its CLIP image encoder', () => {
  let dir: string;
  let pipe: WanPipeline;
  let server: Server;
  let base: string;
  let png: Buffer;
  const tmp = mkdtempSync(join(tmpdir(), 'wan-i2v-images-'));
  const request = { prompt: 'a red fox turns its head', width: 32, height: 32, numFrames: 5, steps: 2, guidanceScale: 5, seed: 7 };

  beforeAll(async () => {
    dir = await makeTinyPipeline({ wan21I2V: true });
    pipe = await WanPipeline.load(dir, { device: 'cpu', images: { allowPrivateNetwork: true } });
    png = await encodeImage(testPixels(48, 40), 48, 40, 'png');
    writeFileSync(join(tmp, 'first.png'), png);
    server = createServer((req, res) => {
      if (req.url === '/first.png') {
        res.writeHead(200, { 'content-type': 'image/png' });
        res.end(png);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await pipe?.dispose();
    await new Promise((r) => server?.close(r));
  });

  it('generates from an image given as a file, a data URI, base64 and a URL, the same video each time', async () => {
    const fromFile = await pipe.generate({ ...request, image: join(tmp, 'first.png') }).result;
    expect(fromFile.frames).toHaveLength(5);
    // The memory plan counts the CLIP image encoder, which stays loaded beside the transformer.
    expect(fromFile.memory.weights.imageEncoder).toBeGreaterThan(0);
    expect(fromFile.memory.weights.total).toBe(fromFile.memory.weights.transformer[0] + fromFile.memory.weights.textEncoder + fromFile.memory.weights.imageEncoder + fromFile.memory.weights.vae);
    expect([fromFile.width, fromFile.height]).toEqual([32, 32]);
    const b64 = png.toString('base64');
    for (const image of [`data:image/png;base64,${b64}`, b64, `${base}/first.png`]) {
      const r = await pipe.generate({ ...request, image }).result;
      expect(Buffer.concat(r.frames).equals(Buffer.concat(fromFile.frames)), image.slice(0, 30)).toBe(true);
    }
    // The same pixels as raw RGB give the same video too.
    const raw = await pipe.generate({ ...request, image: { data: testPixels(48, 40), width: 48, height: 40 } }).result;
    expect(Buffer.concat(raw.frames).equals(Buffer.concat(fromFile.frames))).toBe(true);
    const other = await pipe.generate({ ...request, image: { data: testPixels(48, 40, 3), width: 48, height: 40 } }).result;
    expect(Buffer.concat(other.frames).equals(Buffer.concat(fromFile.frames))).toBe(false);
  });

  it('passes the CLIP features to the transformer: another image encoder gives another video', async () => {
    const clipDir = join(tmp, 'clip-other');
    const tensors = await readSafetensorsF32(join(fixturesRoot, 'models', 'clip-vision-tiny', 'model.safetensors'));
    const out: Record<string, { dtype: string; shape: number[]; data: Float32Array }> = {};
    for (const [name, t] of tensors) out[name] = { dtype: 'F32', shape: t.shape, data: name.endsWith('layers.0.mlp.fc1.weight') ? t.data.map((v) => -v) : t.data };
    const { mkdirSync, copyFileSync } = await import('node:fs');
    mkdirSync(clipDir);
    copyFileSync(join(fixturesRoot, 'models', 'clip-vision-tiny', 'config.json'), join(clipDir, 'config.json'));
    await writeSafetensors(join(clipDir, 'model.safetensors'), out);
    const other = await WanPipeline.load(dir, { device: 'cpu', imageEncoder: clipDir });
    try {
      const image = { data: testPixels(48, 40), width: 48, height: 40 };
      const a = await pipe.generate({ ...request, image }).result;
      const b = await other.generate({ ...request, image }).result;
      expect(Buffer.concat(a.frames).equals(Buffer.concat(b.frames))).toBe(false);
    } finally {
      await other.dispose();
    }
  });

  it('refuses a broken image, a missing file, a last frame and no image, naming the field', async () => {
    const broken = 'iVBORw0KGgo' + Buffer.from('not really a png at all').toString('base64');
    await expect(pipe.generate({ ...request, image: broken }).result).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT', message: expect.stringMatching(/^image: /) });
    await expect(pipe.generate({ ...request, image: join(tmp, 'absent.png') }).result).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT', message: expect.stringMatching(/^image: no such file/) });
    await expect(pipe.generate({ ...request, image: `${base}/absent.png` }).result).rejects.toMatchObject({ message: expect.stringMatching(/^image: .*HTTP 404/) });
    await expect(pipe.generate({ prompt: 'p', image_url: join(tmp, 'absent.png'), num_frames: 17, interpolator_model: 'none' }).result).rejects.toMatchObject({ message: expect.stringMatching(/^image_url: no such file/) });
    await expect(pipe.generate({ ...request, image: join(tmp, 'first.png'), lastImage: join(tmp, 'first.png') }).result).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT', message: expect.stringMatching(/^lastImage: Wan2.1 I2V conditions on a first frame only/),
    });
    await expect(pipe.generate(request).result).rejects.toMatchObject({ message: expect.stringMatching(/^image: .*needs an image/) });
  });

  it('refuses an image URL on a loopback address unless the pipeline allows it', async () => {
    const strict = await WanPipeline.load(dir, { device: 'cpu' });
    try {
      await expect(strict.generate({ ...request, image: `${base}/first.png` }).result).rejects.toMatchObject({
        code: 'E_INVALID_ARGUMENT', message: expect.stringMatching(/^image: .*127\.0\.0\.1, a loopback, private, link-local or reserved address/),
      });
    } finally {
      await strict.dispose();
    }
  });

  it('Wan2.1 FLF2V: the CLIP features of the first and the last frame, paired by the transformer', async () => {
    const flf = await WanPipeline.load(await makeTinyPipeline({ wan21I2V: true, flf2v: true }), { device: 'cpu' });
    try {
      const first = { data: testPixels(48, 40), width: 48, height: 40 };
      const last = { data: testPixels(48, 40, 5), width: 48, height: 40 };
      const a = await flf.generate({ ...request, image: first, lastImage: last }).result;
      expect(a.frames).toHaveLength(5);
      const b = await flf.generate({ ...request, image: first, lastImage: first }).result;
      expect(Buffer.concat(a.frames).equals(Buffer.concat(b.frames))).toBe(false);
      await expect(flf.generate({ ...request, image: first }).result).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT', message: expect.stringMatching(/^lastImage: the Wan2.1 FLF2V transformer needs a last frame/) });
    } finally {
      await flf.dispose();
    }
  });

  it('refuses a folder whose transformer needs an image encoder it does not have', async () => {
    const { rmSync } = await import('node:fs');
    const bare = await makeTinyPipeline({ wan21I2V: true });
    rmSync(join(bare, 'image_encoder'), { recursive: true });
    const index = JSON.parse((await import('node:fs')).readFileSync(join(bare, 'model_index.json'), 'utf8'));
    delete index.image_encoder;
    writeFileSync(join(bare, 'model_index.json'), JSON.stringify(index));
    await expect(WanPipeline.load(bare, { device: 'cpu' })).rejects.toMatchObject({ code: 'E_MODEL_FORMAT', message: expect.stringMatching(/image_encoder: missing; .*needs its CLIP image encoder/) });
  });
});
