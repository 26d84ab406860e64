// Checkpoint loading: safetensors headers, configs, key layouts, and the plan the native loader reads.

export * from './types.js';
export {
  readSafetensorsHeader, readSafetensorsF32, decodeToF32, SAFETENSORS_DTYPE_BYTES,
  type SafetensorsHeader, type SafetensorsEntry, type ReadHeaderOptions,
} from './safetensors.js';
export { writeSafetensors, encodeSafetensors, encodeFromF32, type TensorToWrite } from './safetensors-writer.js';
export {
  parseTransformerConfig, loadTransformerConfig, inferTransformerConfig, WAN_HEAD_DIM,
  type LoadedTransformerConfig, type ConfigStyle,
} from './config.js';
export {
  compileKeyTable, mapKeys, detectKeyLayout, stripPrefix, WAN_TRANSFORMER_KEYS, WAN_TRANSFORMER_KEYMAP,
  WAN_UMT5_KEYS, WAN_UMT5_KEYMAP, WAN_VAE_DEFAULT_STRUCTURE, wanVaeKeys, detectWanVaeKeyStructure,
  type KeyTable, type CompiledKeyTable, type KeyMapping, type WanVaeKeyStructure,
} from './keymap.js';
export { expectedTransformerTensors, expectedTransformerTensorSpecs, type TensorSpec, type ConfigField } from './transformer-tensors.js';
export {
  detectVariant, expertFromName, transformerLayoutKind, type Expert, type VariantHints, type TransformerLayoutKind,
} from './variant.js';
export { planTransformer, type PlanOptions } from './transformer-plan.js';
export {
  parseTextEncoderConfig, loadTextEncoderConfig, inferTextEncoderConfig, describeTextEncoderField, UMT5_DEFAULTS, T5_ENCODER_CLASS,
  type LoadedTextEncoderConfig, type TextEncoderConfigField,
} from './text-encoder-config.js';
export { expectedTextEncoderTensors, expectedTextEncoderTensorSpecs, type TextEncoderTensorSpec } from './text-encoder-tensors.js';
export { planTextEncoder, type TextEncoderPlanOptions } from './text-encoder-plan.js';
export {
  parseVaeConfig, loadVaeConfig, inferVaeConfig, describeVaeField, vaeVersion, vaeScaleFactors, VAE_CLASS,
  WAN21_LATENTS_MEAN, WAN21_LATENTS_STD, WAN22_LATENTS_MEAN, WAN22_LATENTS_STD, type VaeConfigField,
} from './vae-config.js';
export { expectedVaeTensors, expectedVaeTensorSpecs, type VaeTensorSpec } from './vae-tensors.js';
export { planVae, type VaePlanOptions } from './vae-plan.js';
export {
  planComponent, resolveComponentSource, readComponentWeights, mapComponentKeys, checkComponentTensors,
  type ComponentKind, type ComponentSource, type ResolveComponentOptions, type PlannedComponent,
  type ResolvedComponentConfig, type ComponentTensorSpec, type FoundTensor,
} from './component-plan.js';
export { inspectModelFolder, type ModelFolderInfo, type ComponentInfo } from './folder.js';
