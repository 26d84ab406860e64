// What a request's `interpolate` means for a pipeline: how many frames go between each pair and at
// what fps the video plays, or why it cannot run.
import { WanError } from '../errors.js';
import { type InterpolateSpec, interpolatedFps } from '../schemas/interpolate.js';

export interface InterpolationPlan {
  /** Frames inserted between each pair of generated frames. */
  frames: number;
  /** The fps of the interpolated video. */
  fps: number;
}

/**
 * null when nothing is to be interpolated. An explicit ask without an interpolator is refused
 * (naming the user's field); an API's default ask (`ifAvailable`) is skipped with a warning.
 */
export function planInterpolation(
  spec: InterpolateSpec | undefined,
  haveInterpolator: boolean,
  fps: number,
  warn: (message: string) => void,
  field = 'interpolate',
): InterpolationPlan | null {
  if (!spec || spec.frames === 0) return null;
  if (!haveInterpolator) {
    const how = 'load the pipeline with RIFE weights (WanPipeline.load(dir, { interpolator: "flownet.safetensors" }), CLI --rife PATH; scripts/convert-rife.py converts the release\'s flownet.pkl)';
    if (spec.ifAvailable) {
      warn(`interpolation skipped: the API's default asks for ${spec.frames} interpolated frame(s) between each pair, but no interpolator is loaded; to interpolate, ${how}`);
      return null;
    }
    throw new WanError('E_INVALID_ARGUMENT', `${field}: frame interpolation needs an interpolator: ${how}`);
  }
  return { frames: spec.frames, fps: interpolatedFps(fps, spec) };
}
