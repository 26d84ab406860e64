// The CLI on broken model folders (issue #17): each failure is a coded error on stderr with a
// nonzero exit status, promptly, and names the file; before, a config with num_layers 1e9 ran 70-95 s
// and aborted Node, a NaN weight gave a black video with exit status 0, and a folder in place of the
// weights file gave a bare EISDIR.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { readSafetensorsF32 } from '../../lib/model/safetensors.js';
import { writeSafetensors } from '../../lib/model/safetensors-writer.js';
import { haveFixtures, repoRoot } from '../helpers/paths.js';
import { makeTinyPipeline } from '../helpers/tiny-pipeline.js';

const cli = join(repoRoot, 'dist', 'cli', 'main.js');
const generate = (model: string) => {
  const t0 = performance.now();
  const r = spawnSync(
    process.execPath,
    [cli, 'generate', '--model', model, '--prompt', 'a fox', '--width', '32', '--height', '32', '--frames', '5', '--steps', '2', '--out', join(model, 'frames')],
    { encoding: 'utf8', env: { ...process.env, WAN_VIDEO_DEVICE: 'cpu' }, timeout: 120_000 },
  );
  return { ...r, ms: performance.now() - t0 };
};
const WEIGHTS = 'diffusion_pytorch_model.safetensors';

describe.runIf(haveFixtures)('wan-video generate on broken models', () => {
  it('the tiny pipeline itself generates (the cases below differ from it in one thing)', async () => {
    const dir = await makeTinyPipeline();
    const r = generate(dir);
    expect(r.status, r.stderr).toBe(0);
    expect(existsSync(join(dir, 'frames'))).toBe(true);
  });

  it('a transformer config.json with num_layers 1e9: E_MODEL_FORMAT naming the file, field and range, at once', async () => {
    const dir = await makeTinyPipeline();
    const cfg = join(dir, 'transformer', 'config.json');
    writeFileSync(cfg, JSON.stringify({ ...JSON.parse(readFileSync(cfg, 'utf8')), num_layers: 1e9 }));
    const r = generate(dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/E_MODEL_FORMAT: .*transformer\/config\.json: field "num_layers" must be an integer from 1 to 256 \(got 1000000000\)/);
    expect(r.ms).toBeLessThan(30_000);
  });

  it('a NaN transformer weight: E_NONFINITE, nonzero exit, no frames written', async () => {
    const dir = await makeTinyPipeline();
    const file = join(dir, 'transformer', WEIGHTS);
    const all = await readSafetensorsF32(file);
    const tensors = Object.fromEntries([...all].map(([n, t]) => [n, { dtype: 'F32', shape: t.shape, data: t.data }]));
    tensors['proj_out.bias'].data[0] = NaN;
    await writeSafetensors(file, tensors);
    const r = generate(dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/E_NONFINITE: the denoising loop \(2 step\(s\)\), produced/);
    expect(existsSync(join(dir, 'frames'))).toBe(false);
  });

  it('a folder where the transformer weights file should be: E_MODEL_FORMAT naming it', async () => {
    const dir = await makeTinyPipeline();
    rmSync(join(dir, 'transformer', WEIGHTS));
    mkdirSync(join(dir, 'transformer', WEIGHTS));
    const r = generate(dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`E_MODEL_FORMAT: `);
    expect(r.stderr).toContain(`transformer/${WEIGHTS}: is a folder; expected a weights file (.safetensors or .gguf)`);
    expect(r.stderr).not.toContain('EISDIR');
  });
});
