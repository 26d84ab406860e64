// Errors carry a stable code so callers can branch without parsing messages.

export type WanErrorCode =
  | 'E_MODEL_FORMAT' // a model folder or file that is incomplete, corrupt or not a Wan model
  | 'E_INVALID_ARGUMENT' // a bad request field or API argument
  | 'E_NATIVE' // the native addon could not be loaded or failed unexpectedly
  | 'E_OOM' // an allocation failed
  | 'E_CANCELLED' // the job was cancelled
  | 'E_DEVICE' // the accelerator failed or is absent
  | 'E_NONFINITE' // a stage produced NaN or infinite values (it says which)
  | 'E_UNSUPPORTED'; // valid input that this version does not implement yet

export class WanError extends Error {
  readonly code: WanErrorCode;
  constructor(code: WanErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WanError';
    this.code = code;
  }
}

export class ModelFormatError extends WanError {
  /** File the problem is in, when there is one. */
  readonly file?: string;
  /** Tensor the problem is about, when there is one. */
  readonly tensor?: string;
  constructor(message: string, where: { file?: string; tensor?: string } = {}) {
    super('E_MODEL_FORMAT', message);
    this.name = 'ModelFormatError';
    this.file = where.file;
    this.tensor = where.tensor;
  }
}

/** Native errors arrive as `CODE: message`; lift the code onto a WanError. */
export function fromNativeError(err: unknown): WanError {
  if (err instanceof WanError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const m = /^(E_[A-Z_]+): ([\s\S]*)$/.exec(message);
  if (m) return new WanError(m[1] as WanErrorCode, m[2], { cause: err });
  return new WanError('E_NATIVE', message, { cause: err });
}
