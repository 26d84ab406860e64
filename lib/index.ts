// The one public surface of wan-video.
export { WanError, ModelFormatError, type WanErrorCode } from './errors.js';
export { loadAddon, type LoadedAddon, type DevicePreference } from './bindings/loader.js';
export type { NativeInfo, NativeTransformer, NativeTensor } from './bindings/native.js';
export { planTransformer, inspectModelFolder, readSafetensorsHeader, readSafetensorsF32 } from './model/index.js';
export type { TransformerPlan, TransformerConfig, ModelVariant, VariantInfo, TensorRef } from './model/types.js';
export { runConformance, formatResult, formatSummary } from './conformance/runner.js';
export type { ConformanceReport, CaseResult } from './conformance/types.js';
export { cleanPrompt } from './text/clean.js';
export { UmT5Tokenizer, tokenizePrompt } from './text/tokenizer.js';
