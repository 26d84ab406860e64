// RifeInterpolator: RIFE weights loaded once, frames in between consecutive frames out.
//   const rife = await RifeInterpolator.load('flownet.safetensors');
//   const mids = await rife.between([a, b, c], width, height, 1);   // [a|b, b|c]
//   rife.dispose();
import { type DevicePreference, loadAddon } from '../bindings/loader.js';
import type { NativeRife } from '../bindings/native-rife.js';
import type { NativeAddon } from '../bindings/native.js';
import { WanError, fromNativeError } from '../errors.js';
import { type RifePlan, planRife } from '../model/rife-plan.js';
import { MAX_INTERPOLATED_FRAMES } from '../schemas/interpolate.js';

/** Where the n in-between frames of a pair sit: i/(n+1), as Practical-RIFE's make_inference (v4+). */
export const rifeTimesteps = (n: number): number[] => Array.from({ length: n }, (_, i) => (i + 1) / (n + 1));

export interface RifeLoadOptions {
  /** The addon to load into (a pipeline passes its own); else one is loaded for `device`. */
  addon?: NativeAddon;
  device?: DevicePreference;
}

export class RifeInterpolator {
  private disposed = false;

  private constructor(
    readonly plan: RifePlan,
    private readonly native: NativeRife,
  ) {}

  /** A RIFE 4.21-4.26 checkpoint converted to .safetensors (scripts/convert-rife.py). */
  static async load(path: string, opts: RifeLoadOptions = {}): Promise<RifeInterpolator> {
    return RifeInterpolator.fromPlan(await planRife(path), opts);
  }

  /** From a plan made beforehand (a pipeline checks the file before it loads anything heavy). */
  static async fromPlan(plan: RifePlan, opts: RifeLoadOptions = {}): Promise<RifeInterpolator> {
    const addon = opts.addon ?? loadAddon(opts.device).addon;
    try {
      return new RifeInterpolator(plan, await addon.loadRife({ config: plan.config, tensors: plan.tensors }));
    } catch (err) {
      throw fromNativeError(err);
    }
  }

  /** Which release the weights' widths match ("4.25 / 4.26", "4.25.lite", ...). */
  get variant(): string {
    return this.plan.variant;
  }

  get weightBytes(): number {
    return this.native.weightBytes;
  }

  /**
   * For each consecutive pair of `frames` (RGB bytes, width x height x 3 each), `count` frames
   * between them, pair by pair: [(frames.length - 1) * count] RGB frames.
   */
  async between(frames: readonly Uint8Array[], width: number, height: number, count: number): Promise<Buffer[]> {
    if (this.disposed) throw new WanError('E_INVALID_ARGUMENT', 'the interpolator was disposed');
    if (!Number.isInteger(count) || count < 1 || count > MAX_INTERPOLATED_FRAMES) {
      throw new WanError('E_INVALID_ARGUMENT', `count ${count}: expected an integer from 1 to ${MAX_INTERPOLATED_FRAMES}`);
    }
    const size = width * height * 3;
    if (frames.length < 2) return [];
    const data = new Uint8Array(frames.length * size);
    frames.forEach((f, i) => {
      if (f.length !== size) throw new WanError('E_INVALID_ARGUMENT', `frame ${i} has ${f.length} bytes, expected ${width}x${height}x3 = ${size}`);
      data.set(f, i * size);
    });
    let r;
    try {
      r = await this.native.interpolate({ data, shape: [frames.length, height, width, 3] }, { timesteps: rifeTimesteps(count), format: 'rgb8' });
    } catch (err) {
      throw fromNativeError(err);
    }
    const out = r.frames as Buffer;
    return Array.from({ length: (frames.length - 1) * count }, (_, i) => out.subarray(i * size, (i + 1) * size));
  }

  dispose(): void {
    this.disposed = true;
    this.native.dispose();
  }
}
