import { resolve } from 'node:path';

import { loadAddon } from '../bindings/loader.js';
import { formatResult, formatSummary, runConformance } from '../conformance/runner.js';
import type { ConformanceReport } from '../conformance/types.js';
import { WanError } from '../errors.js';
import { parseCommandArgs, parseDevice } from './args.js';

export async function runConformanceCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {
    family: { type: 'string', multiple: true },
    case: { type: 'string' },
    json: { type: 'boolean', default: false },
    device: { type: 'string' },
  });
  if (positionals.length === 0) throw new WanError('E_INVALID_ARGUMENT', 'conformance needs at least one <root> folder (e.g. ../shared/fixtures test/fixtures)');
  const { addon } = loadAddon(parseDevice(values.device));
  // Several roots (the shared fixtures and this repository's own) run one after the other into one report.
  const report: ConformanceReport = { cases: [], passed: 0, failed: 0, skipped: 0 };
  for (const root of positionals.map((p) => resolve(p))) {
    const r = await runConformance(root, addon, {
      families: values.family,
      filter: values.case ? new RegExp(values.case) : undefined,
      onResult: values.json ? undefined : (c) => process.stdout.write(`${formatResult(c)}\n`),
    });
    report.cases.push(...r.cases);
    report.passed += r.passed;
    report.failed += r.failed;
    report.skipped += r.skipped;
  }
  if (values.json) {
    const json = {
      ...report,
      cases: report.cases.map(({ worstTensor: _w, worst, ...rest }) => ({
        ...rest,
        ...(worst === undefined ? {} : { worst: Number.isFinite(worst) ? worst : null }),
      })),
    };
    process.stdout.write(`${JSON.stringify(json)}\n`);
  } else {
    process.stdout.write(`${formatSummary(report)}\n`);
  }
  return report.failed > 0 ? 1 : 0;
}
