// The request layer of generate(): validation and normalisation, no inference.
export {
  GenerateRequestSchema,
  ImageSourceSchema,
  LoraSchema,
  CacheSchema,
  OutputSchema,
  WAN_DEFAULT_NEGATIVE_PROMPT,
  WAN21_I2V_NEGATIVE_PROMPT,
  WAN21_FLF2V_NEGATIVE_PROMPT,
  SCHEDULERS,
  OUTPUT_FORMATS,
  WRITE_MODES,
  MODEL_VARIANTS,
  defaultsFor,
  shiftFor,
  sizeShift,
  type GenerateRequest,
  type GenerateRequestInput,
  type ImageSource,
  type LoraSpec,
  type CacheSpec,
  type SchedulerName,
  type VariantDefaults,
} from './request.js';
export {
  normalizeRequest,
  detectApi,
  roundFrames,
  roundSize,
  seedsFor,
  randomSeed,
  type NormalizeOptions,
  type NormalizeResult,
  type NormalizedRequest,
} from './normalize.js';
export { RequestError, zodToRequestError, toRequestIssues, formatPath, type RequestApi, type RequestIssue } from './issues.js';
export { UNSUPPORTED, MAX_SEED } from './fields.js';
export { MAX_STEPS } from './limits.js';
export type { AdapterResult } from './adapters/common.js';
export { OxenRequestSchema, fromOxen, OXEN_WAN_MODELS, type OxenRequest } from './adapters/oxen.js';
export {
  FalTextToVideoSchema,
  FalImageToVideoSchema,
  fromFal,
  FAL_SIZES,
  FAL_VIDEO_QUALITY,
  FAL_RESOLUTIONS,
  FAL_ASPECT_RATIOS,
  type FalRequest,
  type FalTextToVideoRequest,
  type FalImageToVideoRequest,
} from './adapters/fal.js';
export { RunwareRequestSchema, fromRunware, RUNWARE_SCHEDULERS, RUNWARE_RESOLUTIONS, type RunwareRequest } from './adapters/runware.js';
