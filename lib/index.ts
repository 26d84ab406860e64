// The one public surface of wan-video.
export { WanError, ModelFormatError, type WanErrorCode } from './errors.js';
export { loadAddon, type LoadedAddon, type DevicePreference } from './bindings/loader.js';
export type { NativeInfo, NativeTransformer, NativeTextEncoder, NativeTensor } from './bindings/native.js';
export { planTransformer, planTextEncoder, inspectModelFolder, readSafetensorsHeader, readSafetensorsF32 } from './model/index.js';
export type { TransformerPlan, TransformerConfig, TextEncoderPlan, TextEncoderConfig, ModelVariant, VariantInfo, TensorRef } from './model/types.js';
export { runConformance, formatResult, formatSummary } from './conformance/runner.js';
export type { ConformanceReport, CaseResult } from './conformance/types.js';
export { cleanPrompt } from './text/clean.js';
export { UmT5Tokenizer, tokenizePrompt } from './text/tokenizer.js';
export { PromptEncoder, type PromptEncoderOptions, type EncodedPrompts } from './text/prompt-encoder.js';
export { toPromptEmbeds } from './text/embeddings.js';
export { planVae } from './model/index.js';
export type { VaePlan, VaeConfig } from './model/types.js';
export type { NativeVae, NativeVaeChunk } from './bindings/native-vae.js';
export type { NativeDenoiseOptions, NativeDenoiseResult } from './bindings/native-pipeline.js';
export { decodeFrames, decodeVideo, type DecodeFramesOptions } from './video/vae-decode.js';
export { frameViews, toRgb8 } from './video/frames.js';
export { normalizeRequest, GenerateRequestSchema, defaultsFor, seedsFor, MAX_STEPS, type GenerateRequest } from './schemas/index.js';
export { WanPipeline, type LoadOptions, type GenerateOptions } from './pipeline/wan-pipeline.js';
export { resolveGeneration, type GenerationPlan, type ModelFacts, type SamplingPlan, type ImagePlan, type PlanOptions } from './pipeline/plan.js';
export { estimateGeneration, type GenerationEstimate } from './pipeline/estimate.js';
export type { ModelPaths } from './pipeline/model-parts.js';
export type { TrajectoryPreview } from './pipeline/previews.js';
export { Job, type JobEvent, type GenerateResult } from './pipeline/job.js';
export {
  planLora, applyLoras, parseLoraKey, unmatchedWarnings, fastSampling, LIGHTX2V_4STEP,
  type LoraReport, type LoraLoadReport, type ExpertLoraReport, type LoraRequest, type FastLoraPair,
} from './lora/index.js';
export {
  loadImage, decodeImage, fetchImageBytes, resizeImage, vaeImagePlanes, clipPixelValues, IMAGE_LIMITS,
  type ImageInput, type LoadImageOptions, type LoadedImage, type ImageLimits, type FetchImageOptions, type RgbImage,
} from './image/index.js';
export { planImageEncoder } from './model/image-encoder-plan.js';
export type { ImageEncoderPlan, ImageEncoderConfig, ImageProcessorConfig } from './model/types.js';
export type { NativeImageEncoder } from './bindings/native.js';
export {
  RifeInterpolator, rifeTimesteps, decodedFrameChunks, interpolateFrameChunks,
  type RifeLoadOptions, type FrameChunk, type FrameInterpolator, type InterpolateChunksOptions,
} from './interpolate/index.js';
export { planRife, expectedRifeTensors, type RifePlan, type RifeConfig } from './model/rife-plan.js';
export type { NativeRife } from './bindings/native-rife.js';
