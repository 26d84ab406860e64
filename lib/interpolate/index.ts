export { RifeInterpolator, rifeTimesteps, type RifeLoadOptions } from './rife.js';
export { decodedFrameChunks, interpolateFrameChunks, type FrameChunk, type FrameInterpolator, type InterpolateChunksOptions } from './stream.js';
