// A NaN weight gave a black video and exit status 0; now the generation fails with E_NONFINITE,
// naming the stage, before the VAE decode.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { readSafetensorsF32 } from '../../lib/model/safetensors.js';
import { writeSafetensors } from '../../lib/model/safetensors-writer.js';
import { WanPipeline } from '../../lib/pipeline/wan-pipeline.js';
import { haveFixtures } from '../helpers/paths.js';
import { makeTinyPipeline } from '../helpers/tiny-pipeline.js';

/** Rewrite one tensor of a weights file with a NaN in its first element. */
async function poison(file: string, tensor: string): Promise<void> {
  const all = await readSafetensorsF32(file);
  const out: Record<string, { dtype: string; shape: number[]; data: Float32Array }> = {};
  for (const [name, t] of all) out[name] = { dtype: 'F32', shape: t.shape, data: t.data };
  out[tensor].data[0] = NaN;
  await writeSafetensors(file, out);
}

describe.runIf(haveFixtures)('non-finite values in a generation', () => {
  const request = { prompt: 'a red fox', width: 32, height: 32, numFrames: 5, steps: 3, guidanceScale: 5, seed: 42 };

  it('a NaN transformer weight: E_NONFINITE from the denoising loop, naming the step when previews were kept', async () => {
    const dir = await makeTinyPipeline();
    await poison(join(dir, 'transformer', 'diffusion_pytorch_model.safetensors'), 'proj_out.bias');
    const pipe = await WanPipeline.load(dir, { device: 'cpu' });
    try {
      await expect(pipe.generate(request).result).rejects.toMatchObject({
        code: 'E_NONFINITE', message: expect.stringMatching(/^the denoising loop \(3 step\(s\)\), produced \d+ NaN or infinite value\(s\).*VAE decode was skipped/),
      });
      // the message names the transformer it came from
      await expect(pipe.generate(request).result).rejects.toMatchObject({ message: expect.stringContaining(`(${join(dir, 'transformer')}`) });
      await expect(pipe.generate(request, { previewSteps: [0, 1, 2] }).result).rejects.toMatchObject({
        code: 'E_NONFINITE', message: expect.stringContaining('by step 0 of 3'),
      });
    } finally {
      await pipe.dispose();
    }
  });

  it('a NaN text encoder weight: E_NONFINITE from the text encoder', async () => {
    const dir = await makeTinyPipeline();
    await poison(join(dir, 'text_encoder', 'model.safetensors'), 'encoder.final_layer_norm.weight');
    const pipe = await WanPipeline.load(dir, { device: 'cpu' });
    try {
      await expect(pipe.generate(request).result).rejects.toMatchObject({ code: 'E_NONFINITE', message: expect.stringMatching(/^the text encoder produced/) });
      await expect(pipe.generate(request).result).rejects.toMatchObject({ message: expect.stringContaining(`(${join(dir, 'text_encoder')}`) });
    } finally {
      await pipe.dispose();
    }
  });
});
