// scheduler: a flow-matching scheduler driven over the case's model outputs. params.class names the
// diffusers class and params.config is the scheduler config the reference used: every field that
// changes the numbers is honoured or, when this runtime does not implement its value, the case is
// skipped naming it. out.timesteps, out.sigmas and out.samples (the sample after each step) are
// compared.
import { type SchedulerMapping, schedulerFromDiffusersConfig } from '../../pipeline/scheduler-config.js';
import type { CaseManifest } from '../manifest.js';
import type { CaseContext, KindOutputs } from '../types.js';

const KNOWN_PARAMS = ['class', 'config', 'steps', 'shift', 'sigma_grid'];

function caseMapping(m: CaseManifest): SchedulerMapping {
  const extra = Object.keys(m.params).filter((k) => !KNOWN_PARAMS.includes(k));
  if (extra.length) return { reason: `case params not supported yet: ${extra.join(', ')}` };
  const { class: className, config, steps, shift, sigma_grid: grid } = m.params;
  if (typeof className !== 'string') return { reason: 'params.class must name the scheduler class' };
  if (typeof config !== 'object' || config === null || Array.isArray(config)) return { reason: 'params.config must be an object' };
  if (!Number.isInteger(steps)) return { reason: 'params.steps must be an integer' };
  const mapped = schedulerFromDiffusersConfig(className, config as Record<string, unknown>);
  if ('reason' in mapped) return mapped;
  if (shift !== undefined && shift !== mapped.shift) {
    return { reason: `params.shift ${String(shift)} differs from the config's shift ${mapped.shift}` };
  }
  if (grid !== undefined && grid !== 'diffusers') {
    if (grid !== 'wan' || mapped.config.kind !== 'unipc') return { reason: `params.sigma_grid ${JSON.stringify(grid)} is not implemented for ${className}` };
    mapped.config.sigmaGrid = 'wan';
  }
  return mapped;
}

export function schedulerUnsupported(m: CaseManifest): string | null {
  if (m.kind !== 'scheduler') return `kind "${m.kind}" is not a scheduler case`;
  const mapped = caseMapping(m);
  return 'reason' in mapped ? mapped.reason : null;
}

export async function runScheduler(ctx: CaseContext): Promise<KindOutputs> {
  const mapped = caseMapping(ctx.manifest);
  if ('reason' in mapped) throw new Error(mapped.reason);
  const sample = ctx.inputs.get('in.sample');
  const modelOutputs = ctx.inputs.get('in.model_outputs');
  if (!sample || !modelOutputs) throw new Error('case inputs in.sample and in.model_outputs are required');
  const steps = ctx.manifest.params.steps as number;
  const run = await ctx.addon.runScheduler({ ...mapped.config, steps, shift: mapped.shift, sample, modelOutputs });
  return new Map([
    ['out.timesteps', { data: run.timesteps, shape: [run.timesteps.length] }],
    ['out.sigmas', { data: run.sigmas, shape: [run.sigmas.length] }],
    ['out.samples', run.samples],
  ]);
}
