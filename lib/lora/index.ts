export { parseLoraKey, dotModuleName, type LoraKeyStyle, type LoraPart, type ParsedLoraKey } from './keys.js';
export { planLora, combineLoraPlans, type LoraPlan, type LoraReport, type LoraMergeSet, type UnmatchedKey } from './plan.js';
export {
  applyLoras, unmatchedWarnings, type LoraRequest, type LoraLoadReport, type ExpertLoraReport, type LoraMergeCost, type LoraTransformer,
} from './apply.js';
export { LIGHTX2V_4STEP, fastSampling, type FastLoraPair, type FastSampling } from './fast.js';
