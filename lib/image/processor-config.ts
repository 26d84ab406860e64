// `image_processor/preprocessor_config.json` of a Wan2.1 I2V diffusers folder (a transformers
// CLIPImageProcessor), normalised to what lib/image/preprocess.ts runs. Fields the processor has but
// that change nothing here (do_convert_rgb: images are decoded to RGB anyway) are accepted; settings
// this runtime does not implement are refused by name.
import { z } from 'zod';

import { ModelFormatError } from '../errors.js';
import { readConfigJson, zodFailure } from '../model/config.js';
import { IMAGE_PROCESSOR_LIMITS, describeLimit, limited } from '../model/config-limits.js';
import { type ClipProcessorConfig, OPENAI_CLIP_PROCESSOR } from './preprocess.js';
import type { ResampleFilter } from './resample.js';

/** Pillow's resample codes that transformers stores in `resample`. */
const PIL_RESAMPLE: Record<number, ResampleFilter> = { 1: 'lanczos', 3: 'bicubic' };
const PIL_RESAMPLE_NAMES: Record<number, string> = { 0: 'NEAREST', 1: 'LANCZOS', 2: 'BILINEAR', 3: 'BICUBIC', 4: 'BOX', 5: 'HAMMING' };

const L = IMAGE_PROCESSOR_LIMITS;
const stat = () => z.number({ error: `must be a number from ${L.channel_stat.min} to ${L.channel_stat.max}` })
  .min(L.channel_stat.min, { error: `must be a number from ${L.channel_stat.min} to ${L.channel_stat.max}` })
  .max(L.channel_stat.max, { error: `must be a number from ${L.channel_stat.min} to ${L.channel_stat.max}` });
const triple = () => z.tuple([stat(), stat(), stat()], { error: 'must be a list of 3 numbers (R, G, B)' });
const sizeSchema = z.union([z.looseObject({ height: limited(L.pixels), width: limited(L.pixels) }), limited(L.pixels)], {
  error: `must be {height, width} or an integer, each ${describeLimit(L.pixels)}`,
});

const ProcessorSchema = z.looseObject({
  image_processor_type: z.string().optional(),
  do_resize: z.literal(true, { error: 'must be true (the CLIP path always resizes)' }).default(true),
  size: z
    .union([z.looseObject({ shortest_edge: limited(L.pixels) }), limited(L.pixels)], {
      error: `must be {"shortest_edge": N} (the only resize rule CLIPImageProcessor applies here), N ${describeLimit(L.pixels)}`,
    })
    .default({ shortest_edge: OPENAI_CLIP_PROCESSOR.shortestEdge }),
  resample: z.number({ error: 'must be a Pillow resample code' }).int().default(3),
  do_center_crop: z.boolean({ error: 'must be true or false' }).default(true),
  crop_size: sizeSchema.default({ height: OPENAI_CLIP_PROCESSOR.cropHeight, width: OPENAI_CLIP_PROCESSOR.cropWidth }),
  do_rescale: z.boolean({ error: 'must be true or false' }).default(true),
  rescale_factor: limited(L.rescale_factor).default(1 / 255),
  do_normalize: z.boolean({ error: 'must be true or false' }).default(true),
  image_mean: triple().default([...OPENAI_CLIP_PROCESSOR.mean]),
  image_std: triple().default([...OPENAI_CLIP_PROCESSOR.std]),
  do_convert_rgb: z.boolean().optional(),
});

/** Normalise a parsed preprocessor_config.json; `shown` names the file in messages. */
export function parseClipProcessorConfig(json: unknown, file: string, shown = file): ClipProcessorConfig {
  const r = ProcessorSchema.safeParse(json);
  if (!r.success) throw zodFailure(file, shown, json, r.error);
  const c = r.data;
  const resample = PIL_RESAMPLE[c.resample];
  if (!resample) {
    const name = PIL_RESAMPLE_NAMES[c.resample] ?? 'unknown';
    throw new ModelFormatError(`${shown}: field "resample" ${c.resample} (${name}) is not implemented; supported are 3 (BICUBIC, CLIP's) and 1 (LANCZOS)`, { file });
  }
  const crop = typeof c.crop_size === 'number' ? { height: c.crop_size, width: c.crop_size } : c.crop_size;
  const shortestEdge = typeof c.size === 'number' ? c.size : c.size.shortest_edge;
  if (c.image_std.some((s) => s === 0)) throw new ModelFormatError(`${shown}: field "image_std" must not hold 0`, { file });
  return {
    shortestEdge,
    cropHeight: crop.height,
    cropWidth: crop.width,
    doCenterCrop: c.do_center_crop,
    rescaleFactor: c.do_rescale ? c.rescale_factor : 1,
    mean: c.do_normalize ? c.image_mean : [0, 0, 0],
    std: c.do_normalize ? c.image_std : [1, 1, 1],
    resample,
  };
}

export async function loadClipProcessorConfig(file: string, shown = file): Promise<ClipProcessorConfig> {
  return parseClipProcessorConfig(await readConfigJson(file, shown), file, shown);
}
