// The native flow-matching schedulers: every public scheduler case through the conformance runner,
// the official Wan UniPC grid of the teacache cases, argument checks that name the parameter, and
// a few results derived by hand from the update formulas.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

import { loadAddon } from '../../lib/bindings/loader.js';
import type { NativeAddon, NativeTensor } from '../../lib/bindings/native.js';
import type { NativeSchedulerConfig } from '../../lib/bindings/native-pipeline.js';
import { schedulerUnsupported } from '../../lib/conformance/kinds/scheduler.js';
import { schedulerFromDiffusersConfig } from '../../lib/pipeline/scheduler-config.js';
import { readManifest, type CaseManifest } from '../../lib/conformance/manifest.js';
import { listCases, runCase } from '../../lib/conformance/runner.js';
import type { ModelCache } from '../../lib/conformance/types.js';
import { readSafetensorsF32 } from '../../lib/model/safetensors.js';
import { fixturesRoot, haveFixtures } from '../helpers/paths.js';

const noCache: ModelCache = { get: async (_k, load) => (await load()).value };

const tensor = (values: number[], shape = [values.length]): NativeTensor => ({ data: Float32Array.from(values), shape });
const none = (shape: number[]): NativeTensor => ({ data: new Float32Array(0), shape: [0, ...shape] });
const f32 = Math.fround;

describe('native schedulers', () => {
  let addon: NativeAddon;
  beforeAll(() => {
    addon = loadAddon('cpu').addon;
  });

  describe.runIf(haveFixtures)('reference cases', () => {
    it('passes every public scheduler case', async () => {
      const names = await listCases(fixturesRoot, ['scheduler']);
      expect(names.length).toBeGreaterThanOrEqual(12);
      for (const kind of ['unipc', 'dpmpp2m', 'euler']) expect(names.some((n) => n.includes(kind))).toBe(true);
      for (const name of names) {
        const r = await runCase(fixturesRoot, name, addon, noCache);
        expect(r.status, `${name}: ${r.reason ?? ''}`).toBe('pass');
        expect(Object.keys(r.tensors ?? {}).sort()).toEqual(['out.samples', 'out.sigmas', 'out.timesteps']);
        // Timesteps and sigmas come out of the same float64 grid as the reference's: exactly.
        expect(r.tensors?.['out.timesteps'], name).toBe(0);
        expect(r.tensors?.['out.sigmas'], name).toBe(0);
      }
    });

    it('reproduces both UniPC grids of the teacache cases (official Wan and diffusers)', async () => {
      for (const [name, grid] of [
        ['t2v-1.3b', 'wan'],
        ['t2v-1.3b-diffusers-unipc', 'diffusers'],
      ] as const) {
        const dir = join(fixturesRoot, 'cases', 'teacache', name);
        const m = await readManifest(join(dir, 'manifest.json'));
        expect(m.params.sigma_grid).toBe(grid);
        const t = await readSafetensorsF32(join(dir, 'tensors.safetensors'));
        const run = await addon.runScheduler({
          kind: 'unipc',
          sigmaGrid: grid,
          steps: m.params.steps as number,
          shift: m.params.shift as number,
          sample: tensor([0]),
          modelOutputs: none([1]),
        });
        expect(Array.from(run.timesteps), name).toEqual(Array.from(t.get('out.timesteps')!.data));
        expect(Array.from(run.sigmas), name).toEqual(Array.from(t.get('out.sigmas')!.data));
      }
    });

    it('skips a case whose config asks for what is not implemented, naming the field', async () => {
      const dir = join(fixturesRoot, 'cases', 'scheduler', 'unipc-10steps-shift3');
      const base = await readManifest(join(dir, 'manifest.json'));
      expect(schedulerUnsupported(base)).toBeNull();
      const withConfig = (patch: Record<string, unknown>): CaseManifest => ({
        ...base,
        params: { ...base.params, config: { ...(base.params.config as object), ...patch } },
      });
      expect(schedulerUnsupported(withConfig({ solver_type: 'bh1' }))).toMatch(/config\.solver_type.*"bh1"/);
      expect(schedulerUnsupported(withConfig({ prediction_type: 'epsilon' }))).toMatch(/config\.prediction_type/);
      expect(schedulerUnsupported(withConfig({ use_karras_sigmas: true }))).toMatch(/config\.use_karras_sigmas/);
      expect(schedulerUnsupported(withConfig({ final_sigmas_type: 'sigma_min' }))).toMatch(/config\.final_sigmas_type/);
      expect(schedulerUnsupported(withConfig({ brand_new_option: 1 }))).toMatch(/"brand_new_option"/);
      expect(schedulerUnsupported({ ...base, params: { ...base.params, shift: 5 } })).toMatch(/params\.shift/);
      expect(schedulerUnsupported({ ...base, params: { ...base.params, class: 'DDIMScheduler' } })).toMatch(/DDIMScheduler/);
    });
  });

  describe('diffusers configs', () => {
    it('maps the Wan pipelines\' defaults', () => {
      const unipc = schedulerFromDiffusersConfig('UniPCMultistepScheduler', {
        _class_name: 'UniPCMultistepScheduler',
        prediction_type: 'flow_prediction',
        use_flow_sigmas: true,
        flow_shift: 5.0,
        num_train_timesteps: 1000,
        solver_order: 2,
      });
      expect(unipc).toEqual({
        shift: 5,
        config: { kind: 'unipc', numTrainTimesteps: 1000, solverOrder: 2, lowerOrderFinal: true, solverType: 'bh2', disableCorrector: [] },
      });
      const euler = schedulerFromDiffusersConfig('FlowMatchEulerDiscreteScheduler', { shift: 3, stochastic_sampling: true });
      expect(euler).toEqual({ reason: expect.stringMatching(/config\.stochastic_sampling/) });
      const dpm = schedulerFromDiffusersConfig('DPMSolverMultistepScheduler', { algorithm_type: 'sde-dpmsolver++', use_flow_sigmas: true });
      expect(dpm).toEqual({ reason: expect.stringMatching(/config\.algorithm_type/) });
    });
  });

  describe('arguments', () => {
    const base = { kind: 'unipc' as const, sample: tensor([1, 2]), modelOutputs: none([2]) };

    it('refuses step counts that cannot run, naming steps (the request limit is MAX_STEPS, checked in TypeScript)', async () => {
      for (const steps of [0, -3, 2.5]) {
        await expect(addon.runScheduler({ ...base, steps, shift: 3 })).rejects.toMatchObject({
          code: 'E_INVALID_ARGUMENT',
          message: expect.stringMatching(/steps must be an integer >= 1/),
        });
      }
      await expect(addon.runScheduler({ ...base, shift: 3 })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT', message: /"steps"/ });
    });

    it('refuses bad shifts, naming shift', async () => {
      for (const kind of ['unipc', 'dpmsolver', 'euler'] as const) {
        for (const shift of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
          await expect(addon.runScheduler({ ...base, kind, steps: 10, shift })).rejects.toMatchObject({
            code: 'E_INVALID_ARGUMENT',
            message: expect.stringMatching(/shift must be a finite number > 0/),
          });
        }
      }
    });

    it('refuses configurations it does not implement, naming the field', async () => {
      const cases: Array<[Partial<NativeSchedulerConfig>, RegExp]> = [
        [{ solverOrder: 4 }, /solver_order must be 1, 2 or 3/],
        [{ solverType: 'bh1' }, /solverType "bh1"/],
        [{ lowerOrderFinal: false }, /lower_order_final/],
        [{ kind: 'euler', sigmaGrid: 'wan' }, /sigmaGrid "wan"/],
        [{ kind: 'dpmsolver', solverType: 'logrho' }, /solverType "logrho"/],
        [{ numTrainTimesteps: 0 }, /num_train_timesteps/],
      ];
      for (const [patch, message] of cases) {
        await expect(addon.runScheduler({ ...base, steps: 4, shift: 1, ...patch })).rejects.toMatchObject({
          code: 'E_INVALID_ARGUMENT',
          message: expect.stringMatching(message),
        });
      }
    });

    it('refuses model outputs that do not fit the sample or the schedule', async () => {
      await expect(
        addon.runScheduler({ ...base, steps: 2, shift: 1, modelOutputs: tensor([1, 2, 3], [1, 3]) }),
      ).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT', message: /modelOutputs must have shape/ });
      await expect(
        addon.runScheduler({ ...base, steps: 2, shift: 1, modelOutputs: tensor([1, 2, 3, 4, 5, 6], [3, 2]) }),
      ).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT', message: /holds 3 steps but the schedule has 2/ });
      await expect(addon.runScheduler({ ...base, sigmas: [0.5, 0.7] })).rejects.toMatchObject({
        code: 'E_INVALID_ARGUMENT',
        message: /strictly decreasing/,
      });
    });
  });

  describe('hand-derived results', () => {
    const x0 = [1, -2, 0.5];
    const v0 = [0.25, 1, -3];
    const v1 = [-1, 0.5, 2];

    it('UniPC: the grid and a two-step run from the formulas', async () => {
      // steps 2, shift 1: linspace(1, 1/1000, 3)[:-1] = [1, 0.5005]; the first sigma is pulled to
      // 1 - 1e-6; timesteps truncate sigma * 1000.
      const run = await addon.runScheduler({
        kind: 'unipc',
        steps: 2,
        shift: 1,
        sample: tensor(x0),
        modelOutputs: tensor([...v0, ...v1], [2, 3]),
      });
      expect(Array.from(run.sigmas)).toEqual([f32(0.999999), f32(0.5005), 0]);
      expect(Array.from(run.timesteps)).toEqual([999, 500]);
      const [s0, s1] = [run.sigmas[0], run.sigmas[1]];
      // A first-order step in data-prediction form on flow sigmas is an Euler step:
      // s1/s0 x + (a1 - a0 s1/s0)(x - s0 v) = x + (s1 - s0) v.
      const x1 = x0.map((x, i) => x + (s1 - s0) * v0[i]);
      // The last step lands on sigma 0 at order 1: the data prediction of the (uncorrected) sample.
      const x2 = x1.map((x, i) => x - s1 * v1[i]);
      const out = Array.from(run.samples.data);
      expect(run.samples.shape).toEqual([2, 3]);
      x1.forEach((x, i) => expect(out[i]).toBeCloseTo(x, 5));
      x2.forEach((x, i) => expect(out[3 + i]).toBeCloseTo(x, 5));
    });

    it('UniPC: the corrector of a three-step run', async () => {
      // Step 1's corrector (order 1, rho = 1/2) refines x1 with the new data prediction:
      // x1c = x1 - a1 (e^{-h} - 1) / 2 (m1 - m0), e^{-h} = a0 s1 / (s0 a1); the predictor then
      // takes x1c to sigma 2 at order 2 with rho 1/2 and r1 = (lambda0 - lambda1) / h.
      const v2 = [0.1, 0.2, 0.3];
      const run = await addon.runScheduler({
        kind: 'unipc',
        steps: 3,
        shift: 2,
        sample: tensor(x0),
        modelOutputs: tensor([...v0, ...v1, ...v2], [3, 3]),
      });
      const [s0, s1, s2] = Array.from(run.sigmas);
      const [a0, a1, a2] = [1 - s0, 1 - s1, 1 - s2];
      const lambda = (s: number) => Math.log(1 - s) - Math.log(s);
      const x1 = x0.map((x, i) => x + (s1 - s0) * v0[i]);
      const m0 = x0.map((x, i) => x - s0 * v0[i]);
      const m1 = x1.map((x, i) => x - s1 * v1[i]);
      const em1 = (a0 * s1) / (s0 * a1) - 1;
      const x1c = x1.map((x, i) => x - a1 * em1 * 0.5 * (m1[i] - m0[i]));
      const h = lambda(s2) - lambda(s1);
      const r1 = (lambda(s0) - lambda(s1)) / h;
      const phi = Math.expm1(-h);
      const x2 = x1c.map((x, i) => (s2 / s1) * x - a2 * phi * m1[i] - a2 * phi * 0.5 * ((m0[i] - m1[i]) / r1));
      const out = Array.from(run.samples.data);
      x2.forEach((x, i) => expect(out[3 + i]).toBeCloseTo(x, 5));
    });

    it('DPM-Solver++: the grid and the midpoint step', async () => {
      // alphas = linspace(1, 1/1000, 4) = [1, 0.667, 0.334, 0.001]; sigmas = flip(1 - alphas)[:-1].
      const run = await addon.runScheduler({
        kind: 'dpmsolver',
        steps: 3,
        shift: 1,
        sample: tensor(x0),
        modelOutputs: tensor([...v0, ...v1, ...v0], [3, 3]),
      });
      expect(Array.from(run.sigmas)).toEqual([f32(0.999), f32(1 - 0.334), f32(1 - 0.667), 0]);
      // 1 - 0.667 is 0.33299999999999996 in float64, so the truncated timestep is 332 (numpy agrees).
      expect(Array.from(run.timesteps)).toEqual([999, 666, 332]);
      const [s0, s1, s2] = Array.from(run.sigmas);
      const lambda = (s: number) => Math.log(1 - s) - Math.log(s);
      const x1 = x0.map((x, i) => x + (s1 - s0) * v0[i]);
      const m0 = x0.map((x, i) => x - s0 * v0[i]);
      const m1 = x1.map((x, i) => x - s1 * v1[i]);
      const h = lambda(s2) - lambda(s1);
      const r0 = (lambda(s1) - lambda(s0)) / h;
      const em1 = Math.exp(-h) - 1;
      const x2 = x1.map((x, i) => (s2 / s1) * x - (1 - s2) * em1 * m1[i] - 0.5 * (1 - s2) * em1 * ((m1[i] - m0[i]) / r0));
      const out = Array.from(run.samples.data);
      x1.forEach((x, i) => expect(out[i]).toBeCloseTo(x, 5));
      x2.forEach((x, i) => expect(out[3 + i]).toBeCloseTo(x, 5));
      // The last step onto sigma 0 is first order: the data prediction.
      x2.forEach((x, i) => expect(out[6 + i]).toBeCloseTo(x - s2 * v0[i], 5));
    });

    it('Euler: the doubly shifted grid and x + dt v', async () => {
      // sigma_min = shift(1/1000) in float32; linspace(1000, 1000 sigma_min, 2) / 1000, shifted again.
      const shift = 3;
      const sMin = f32(f32(shift * f32(0.001)) / f32(1 + f32(2 * f32(0.001))));
      const last = (shift * sMin) / (1 + (shift - 1) * sMin);
      const run = await addon.runScheduler({
        kind: 'euler',
        steps: 2,
        shift,
        sample: tensor(x0),
        modelOutputs: tensor([...v0, ...v1], [2, 3]),
      });
      expect(run.sigmas[0]).toBe(1);
      expect(run.sigmas[1]).toBe(f32(last));
      expect(Array.from(run.timesteps)).toEqual([1000, f32(f32(last) * 1000)]);
      const out = Array.from(run.samples.data);
      const x1 = x0.map((x, i) => x + f32(run.sigmas[1] - 1) * v0[i]);
      x1.forEach((x, i) => expect(out[i]).toBeCloseTo(x, 5));
      x1.forEach((x, i) => expect(out[3 + i]).toBeCloseTo(x - run.sigmas[1] * v1[i], 5));
    });

    it('converges on a Gaussian whose exact flow is known, faster with higher orders', async () => {
      // Data N(0, c^2): the ideal velocity is v = (x - x0_hat) / sigma with
      // x0_hat = (1 - sigma) c^2 / V x, V = (1 - sigma)^2 c^2 + sigma^2, and the ODE scales a sample by
      // sqrt(V(sigma) / V(sigma_0)). The model outputs are computed from the scheduler's own samples
      // (one run per step); the error is read mid-way, away from the order ramps at both ends.
      const c2 = 0.25;
      const V = (s: number) => (1 - s) ** 2 * c2 + s * s;
      const velocity = (x: number[], s: number) => x.map((xi) => (xi - (((1 - s) * c2) / V(s)) * xi) / s);
      const start = [1, -0.5, 2];
      const midError = async (kind: 'unipc' | 'dpmsolver', solverOrder: number, steps: number) => {
        const sigmas = Array.from({ length: steps }, (_, i) => 0.9 - (0.8 * i) / (steps - 1));
        const outputs: number[] = [];
        let x = start;
        for (let k = 0; k < steps / 2; k++) {
          outputs.push(...velocity(x, sigmas[k]));
          const run = await addon.runScheduler({
            kind,
            solverOrder,
            sigmas,
            sample: tensor(start),
            modelOutputs: tensor(outputs, [k + 1, 3]),
          });
          x = Array.from(run.samples.data.subarray(3 * k, 3 * k + 3));
        }
        const scale = Math.sqrt(V(sigmas[steps / 2]) / V(sigmas[0]));
        return Math.max(...x.map((xi, i) => Math.abs(xi - start[i] * scale)));
      };
      for (const kind of ['unipc', 'dpmsolver'] as const) {
        const [e1, e2, e3] = [await midError(kind, 1, 40), await midError(kind, 2, 40), await midError(kind, 3, 40)];
        expect(e1, kind).toBeLessThan(kind === 'unipc' ? 2e-3 : 1e-2);
        expect(e2, kind).toBeLessThan(e1 / 5);
        expect(e3, kind).toBeLessThan(e2 / 2);
        // Doubling the steps: at least second-order convergence for the multistep orders.
        expect(await midError(kind, 2, 80), kind).toBeLessThan(e2 / 3.5);
      }
    });

    it('an explicit sigma schedule runs the same steps as the grid it equals', async () => {
      const opts = { kind: 'unipc' as const, sample: tensor(x0), modelOutputs: tensor([...v0, ...v1, ...v0, ...v1], [4, 3]) };
      const grid = await addon.runScheduler({ ...opts, steps: 4, shift: 5 });
      const explicit = await addon.runScheduler({ ...opts, sigmas: Float64Array.from(grid.sigmas.subarray(0, 4)) });
      expect(Array.from(explicit.sigmas)).toEqual(Array.from(grid.sigmas));
      expect(Array.from(explicit.timesteps)).toEqual(Array.from(grid.timesteps));
      const a = Array.from(grid.samples.data);
      Array.from(explicit.samples.data).forEach((x, i) => expect(x).toBeCloseTo(a[i], 5));
    });
  });
});
