// diffusers scheduler configs (scheduler/scheduler_config.json of a model folder, or a conformance
// case's params.config) mapped to the native scheduler configuration: every field that changes the
// numbers is honoured or, when this runtime does not implement its value, refused by name.
import type { NativeSchedulerConfig } from '../bindings/native-pipeline.js';
import { type Limit, SCHEDULER_LIMITS as L, describeLimit, withinLimit } from '../model/config-limits.js';

type Check = (value: unknown, config: Record<string, unknown>) => string | null;

const isFalsy = (v: unknown) => v === null || v === false || v === 0 || v === undefined;

/** A field that must hold one value (the only one implemented). */
const mustBe =
  (expected: unknown): Check =>
  (v) =>
    JSON.stringify(v) === JSON.stringify(expected) ? null : `${JSON.stringify(v)} is not implemented (only ${JSON.stringify(expected)})`;

const mustBeFalsy: Check = (v) => (isFalsy(v) ? null : `${JSON.stringify(v)} is not implemented (only null)`);

/** A number inside its SCHEDULER_LIMITS range. */
const inLimit =
  (l: Limit): Check =>
  (v) =>
    typeof v === 'number' && withinLimit(v, l) ? null : `must be ${describeLimit(l)}, got ${JSON.stringify(v)}`;
const order: Check = (v) => (v === 1 || v === 2 || v === 3 ? null : `${JSON.stringify(v)} is not implemented (1, 2 or 3)`);
const bool: Check = (v) => (typeof v === 'boolean' ? null : `must be a boolean, got ${JSON.stringify(v)}`);
const stepList: Check = (v) =>
  Array.isArray(v) && v.length <= L.disable_corrector_length.max && v.every((x) => typeof x === 'number' && withinLimit(x, L.disable_corrector_step))
    ? null
    : `must be a list of at most ${L.disable_corrector_length.max} step indices, each ${describeLimit(L.disable_corrector_step)}, got ${JSON.stringify(v).slice(0, 200)}`;
/** Fields that cannot change the numbers in the implemented configuration (the reason says why). */
const ignored =
  (_why: string): Check =>
  () =>
    null;

// Fields of the VP (DDPM) noise schedule: flow sigmas replace it entirely.
const VP_FIELDS = ['beta_start', 'beta_end', 'beta_schedule', 'trained_betas', 'rescale_betas_zero_snr'];
const withIgnored = (fields: string[], why: string): Record<string, Check> =>
  Object.fromEntries(fields.map((f) => [f, ignored(why)]));

const UNIPC_FIELDS: Record<string, Check> = {
  num_train_timesteps: inLimit(L.num_train_timesteps),
  solver_order: order,
  prediction_type: mustBe('flow_prediction'),
  thresholding: mustBe(false),
  predict_x0: mustBe(true),
  // diffusers maps midpoint, heun and logrho to bh2.
  solver_type: (v) => (['bh2', 'midpoint', 'heun', 'logrho'].includes(v as string) ? null : `${JSON.stringify(v)} is not implemented (only bh2)`),
  lower_order_final: (v, c) =>
    typeof v !== 'boolean'
      ? `must be a boolean, got ${JSON.stringify(v)}`
      : !v && c.solver_order !== 1
        ? 'false is not implemented with solver_order > 1 (the last step onto sigma 0 divides by zero in the reference)'
        : null,
  disable_corrector: stepList,
  solver_p: mustBe(null),
  use_karras_sigmas: mustBe(false),
  use_exponential_sigmas: mustBe(false),
  use_beta_sigmas: mustBe(false),
  use_flow_sigmas: mustBe(true),
  flow_shift: inLimit(L.flow_shift),
  final_sigmas_type: mustBe('zero'),
  use_dynamic_shifting: mustBe(false),
  shift_terminal: mustBeFalsy,
  ...withIgnored(VP_FIELDS, 'flow sigmas replace the VP schedule'),
  ...withIgnored(['dynamic_thresholding_ratio', 'sample_max_value'], 'used by thresholding only'),
  ...withIgnored(['timestep_spacing', 'steps_offset'], 'the flow grid replaces the spaced timesteps'),
  ...withIgnored(['time_shift_type'], 'used by dynamic shifting only'),
  ...withIgnored(['sigma_min', 'sigma_max'], 'used by the karras/exponential/beta grids only'),
};

const DPM_FIELDS: Record<string, Check> = {
  num_train_timesteps: inLimit(L.num_train_timesteps),
  solver_order: order,
  prediction_type: mustBe('flow_prediction'),
  thresholding: mustBe(false),
  // diffusers maps deis to dpmsolver++; the SDE variants draw noise, dpmsolver needs epsilon.
  algorithm_type: (v) => (v === 'dpmsolver++' || v === 'deis' ? null : `${JSON.stringify(v)} is not implemented (only dpmsolver++)`),
  // diffusers maps logrho, bh1 and bh2 to midpoint.
  solver_type: (v) =>
    ['midpoint', 'heun', 'logrho', 'bh1', 'bh2'].includes(v as string) ? null : `${JSON.stringify(v)} is not implemented (midpoint, heun)`,
  lower_order_final: bool,
  euler_at_final: bool,
  use_karras_sigmas: mustBe(false),
  use_exponential_sigmas: mustBe(false),
  use_beta_sigmas: mustBe(false),
  use_lu_lambdas: mustBe(false),
  use_flow_sigmas: mustBe(true),
  flow_shift: inLimit(L.flow_shift),
  final_sigmas_type: mustBe('zero'),
  use_dynamic_shifting: mustBe(false),
  ...withIgnored(VP_FIELDS, 'flow sigmas replace the VP schedule'),
  ...withIgnored(['dynamic_thresholding_ratio', 'sample_max_value'], 'used by thresholding only'),
  ...withIgnored(['lambda_min_clipped', 'timestep_spacing', 'steps_offset'], 'the flow grid replaces the spaced timesteps'),
  ...withIgnored(['variance_type'], 'used with epsilon prediction only'),
  ...withIgnored(['time_shift_type'], 'used by dynamic shifting only'),
};

const EULER_FIELDS: Record<string, Check> = {
  num_train_timesteps: inLimit(L.num_train_timesteps),
  shift: inLimit(L.shift),
  use_dynamic_shifting: mustBe(false),
  invert_sigmas: mustBe(false),
  shift_terminal: mustBeFalsy,
  use_karras_sigmas: mustBe(false),
  use_exponential_sigmas: mustBe(false),
  use_beta_sigmas: mustBe(false),
  stochastic_sampling: mustBe(false),
  ...withIgnored(['base_shift', 'max_shift', 'base_image_seq_len', 'max_image_seq_len', 'time_shift_type'], 'used by dynamic shifting only'),
};

const CLASSES: Record<string, { kind: NativeSchedulerConfig['kind']; fields: Record<string, Check>; shiftField: string }> = {
  UniPCMultistepScheduler: { kind: 'unipc', fields: UNIPC_FIELDS, shiftField: 'flow_shift' },
  DPMSolverMultistepScheduler: { kind: 'dpmsolver', fields: DPM_FIELDS, shiftField: 'flow_shift' },
  FlowMatchEulerDiscreteScheduler: { kind: 'euler', fields: EULER_FIELDS, shiftField: 'shift' },
};

export type SchedulerMapping = { config: NativeSchedulerConfig; shift: number } | { reason: string };

/**
 * Maps a diffusers scheduler config (scheduler_config.json, or a case's params.config) to the native
 * configuration and the shift its set_timesteps uses. Fields are honoured or refused by name;
 * diffusers' own metadata (`_class_name`, `_use_default_values`, ...) is skipped.
 */
export function schedulerFromDiffusersConfig(
  className: string,
  config: Record<string, unknown>,
  opts: { unknownFields?: 'refuse' | 'ignore'; ignored?: string[] } = {},
): SchedulerMapping {
  const cls = CLASSES[className];
  if (!cls) return { reason: `scheduler class "${className}" is not implemented (${Object.keys(CLASSES).join(', ')})` };
  for (const [key, value] of Object.entries(config)) {
    if (key.startsWith('_')) continue;
    const check = cls.fields[key];
    if (!check) {
      // A model folder saved by a newer diffusers may carry fields this runtime has not met: the
      // pipeline loads it and says so; conformance cases refuse them (the numbers could depend on them).
      if (opts.unknownFields === 'ignore') {
        opts.ignored?.push(key);
        continue;
      }
      return { reason: `${className} config field "${key}" is not known to this runtime` };
    }
    const problem = check(value, config);
    if (problem) return { reason: `${className} config.${key}: ${problem}` };
  }
  const num = (k: string, d: number) => (typeof config[k] === 'number' ? (config[k] as number) : d);
  const shift = num(cls.shiftField, 1);
  const native: NativeSchedulerConfig = { kind: cls.kind, numTrainTimesteps: num('num_train_timesteps', 1000) };
  if (cls.kind === 'unipc') {
    native.solverOrder = num('solver_order', 2);
    native.lowerOrderFinal = config.lower_order_final !== false;
    native.solverType = 'bh2';
    native.disableCorrector = Array.isArray(config.disable_corrector) ? (config.disable_corrector as number[]) : [];
  } else if (cls.kind === 'dpmsolver') {
    native.solverOrder = num('solver_order', 2);
    native.lowerOrderFinal = config.lower_order_final !== false;
    native.eulerAtFinal = config.euler_at_final === true;
    native.solverType = config.solver_type === 'heun' ? 'heun' : 'midpoint';
  }
  return { config: native, shift };
}
