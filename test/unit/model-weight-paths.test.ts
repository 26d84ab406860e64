// A weights path that is a folder (a file name taken by a folder, a LoRA given as its folder) is a
// coded error naming the path and what was expected, not a bare EISDIR.
import { chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { planLora } from '../../lib/lora/plan.js';
import { planTransformer } from '../../lib/model/transformer-plan.js';
import { readWeightsHeader } from '../../lib/model/component-plan.js';
import { cleanup, copyModel, expectModelError, tmp } from './model-helpers.js';

afterAll(cleanup);
const WEIGHTS = 'diffusion_pytorch_model.safetensors';

describe('a folder where weights are expected', () => {
  it('the weights file of a component folder', async () => {
    const dir = await copyModel('dit-t2v-tiny');
    await rm(join(dir, WEIGHTS));
    await mkdir(join(dir, WEIGHTS));
    await expectModelError(planTransformer(dir), [`${WEIGHTS}: is a folder; expected a weights file (.safetensors or .gguf)`], { file: join(dir, WEIGHTS) });
  });

  it('the shard index of a sharded component', async () => {
    const dir = await copyModel('dit-t2v-tiny');
    const index = join(dir, `${WEIGHTS}.index.json`);
    await rm(join(dir, WEIGHTS));
    await mkdir(index);
    await expectModelError(planTransformer(dir), [`${WEIGHTS}.index.json: is a folder; expected a JSON file`], { file: index });
  });

  it('config.json', async () => {
    const dir = await copyModel('dit-t2v-tiny');
    await rename(join(dir, 'config.json'), join(dir, 'old.json'));
    await mkdir(join(dir, 'config.json'));
    await expectModelError(planTransformer(dir), ['config.json: is a folder; expected a JSON file'], { file: join(dir, 'config.json') });
  });

  it('a .gguf name, and a LoRA', async () => {
    const d = join(await tmp(), 'model.gguf');
    await mkdir(d);
    await expectModelError(readWeightsHeader(d), [`${d}: is a folder; expected a weights file`], { file: d });
    const lora = join(await tmp(), 'style.safetensors');
    await mkdir(lora);
    await chmod(lora, 0o755);
    await writeFile(join(lora, 'inside.txt'), 'x');
    const cfg = (await planTransformer(await copyModel('dit-t2v-tiny'))).config;
    await expectModelError(planLora(lora, cfg), ['style.safetensors: is a folder; expected a .safetensors file'], { file: lora });
  });
});
