// The addon's pipeline functions: schedulers, noise, the denoising loop (filled in by that work).
export interface NativePipelineApi {}
