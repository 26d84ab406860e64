// Image-to-video through the three APIs on a Wan2.1 I2V model served with RIFE weights: fal through
// @fal-ai/client (the image as a data URI, fal's default interpolation: interpolator_model "film",
// one frame between each pair, fps doubled, served by RIFE with a warning), Runware's
// inputs.frameImages through @runware/sdk-js, Oxen's image by fetch. The interpolator file is checked
// when the server starts, not at the first job.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

import { createFalClient } from '@fal-ai/client';
import { RunwareServer } from '@runware/sdk-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createServer } from '../../lib/server/server.js';
import { findFfmpeg } from '../../lib/video/ffmpeg.js';
import { encodeImage, testPixels } from '../helpers/images.js';
import { haveFixtures, repoRoot } from '../helpers/paths.js';
import { makeTinyPipeline } from '../helpers/tiny-pipeline.js';
import { CLI, KEY, type TestServer, decodedFrames, download, startServer, tempDir } from './helpers.js';

const RIFE = join(repoRoot, 'test', 'fixtures', 'models', 'rife-4.25-tiny', 'flownet.safetensors');
const ENDPOINT = 'fal-ai/wan/v2.2-a14b/image-to-video';

describe.runIf(haveFixtures)('image-to-video through the three APIs on a Wan2.1 I2V model served with RIFE weights', () => {
  let t: TestServer;
  let model: string;

  beforeAll(async () => {
    model = await makeTinyPipeline({ wan21I2V: true });
    t = await startServer({ models: { i2v: { path: model, interpolator: RIFE } } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('a data-URI image and fal\'s default interpolator give (n - 1) * 2 + 1 frames at twice the fps, the substitution logged', async () => {
    const png = await encodeImage(testPixels(96, 64), 96, 64, 'png');
    const fal = createFalClient({
      credentials: KEY,
      requestMiddleware: async (req) => ({ ...req, url: req.url.replace(/^https:\/\/queue\.fal\.run/, t.url).replace(/^https:\/\/fal\.run/, `${t.url}/_fal/run`) }),
    });
    const logs: string[] = [];
    const result = await fal.subscribe(ENDPOINT, {
      input: { prompt: 'a red fox turns its head', image_url: `data:image/png;base64,${png.toString('base64')}`, resolution: '480p', num_frames: 17, frames_per_second: 16, num_inference_steps: 2, seed: 5 },
      logs: true,
      pollInterval: 300,
      onQueueUpdate: (u: { logs?: Array<{ message: string }> }) => logs.push(...(u.logs ?? []).map((l) => l.message)),
    } as never);
    const data = result.data as { video: { url: string; file_size: number }; seed: number };
    expect(data.seed).toBe(5);
    const file = join(t.dir, 'i2v.mp4');
    expect(await download(data.video.url, file)).toBe(data.video.file_size);
    expect(decodedFrames(file)).toBe(33);
    expect(spawnSync(findFfmpeg().path, ['-hide_banner', '-i', file]).stderr.toString()).toMatch(/\b32 fps/);
    expect(logs.some((m) => /interpolator_model "film" \(fal's default\): FILM is not implemented by wan-video; RIFE/.test(m))).toBe(true);
  }, 300_000); // fal's smallest video is 832x480 x 17 frames, 16 RIFE pairs: ~30 s alone on 2 cores, more beside other test files

  it('Runware (@runware/sdk-js) inputs.frameImages and Oxen image, both as data URIs: videos from the first frame', async () => {
    const png = await encodeImage(testPixels(64, 64, 3), 64, 64, 'png');
    const uri = `data:image/png;base64,${png.toString('base64')}`;
    const rw = new RunwareServer({ apiKey: KEY, url: `${t.url.replace(/^http/, 'ws')}/v1`, shouldReconnect: false } as never);
    const videos = (await rw.videoInference({ positivePrompt: 'a red fox', model: 'runware:200@6', width: 256, height: 256, duration: 1, fps: 16, steps: 4, seed: 9, inputs: { frameImages: [{ image: uri, frame: 'first' }] } } as never)) as unknown as Array<{ videoURL: string; seed: number }>;
    expect(videos.map((v) => v.seed)).toEqual([9]);
    const rwFile = join(t.dir, 'rw-i2v.mp4');
    await download(videos[0].videoURL, rwFile);
    expect(decodedFrames(rwFile)).toBe(17);
    await (rw as unknown as { disconnect?: () => Promise<void> }).disconnect?.();

    const res = await fetch(`${t.url}/api/ai/videos/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      body: JSON.stringify({ model: 'i2v', prompt: 'a red fox', image: uri, width: 64, height: 64, num_frames: 5, num_inference_steps: 2, seed: 2 }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { videos: Array<{ url: string }> };
    const oxFile = join(t.dir, 'oxen-i2v.mp4');
    await download(body.videos[0].url, oxFile);
    expect(decodedFrames(oxFile)).toBe(5); // Oxen asks for no interpolation (fal's default is fal's alone)
  });

  it('refuses an interpolator file that is not RIFE weights at start, naming the model\'s field', async () => {
    const dir = tempDir();
    const err = await createServer({
      port: 0,
      models: { i2v: { path: model, interpolator: join(model, 'transformer', 'diffusion_pytorch_model.safetensors') } },
      auth: { disabled: true },
      queue: join(dir, 'q.sqlite'),
      storage: { dir: join(dir, 'out') },
      device: 'cpu',
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(String((err as Error)?.message)).toMatch(/^models\.i2v\.interpolator: /);
  });

  it('serve --rife names every model\'s interpolator; a missing file is refused before listening', () => {
    const r = spawnSync(process.execPath, [CLI, 'serve', '--model', `i2v=${model}`, '--rife', join(t.dir, 'absent.safetensors'), '--no-auth', '--port', '0', '--queue', join(t.dir, 'q2.sqlite')], {
      env: { ...process.env, WAN_VIDEO_DEVICE: 'cpu' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/models\.i2v\.interpolator: .*absent\.safetensors/);
  });
});
