import { resolve } from 'node:path';

import { loadAddon } from '../bindings/loader.js';
import { formatResult, formatSummary, runConformance } from '../conformance/runner.js';
import { WanError } from '../errors.js';
import { parseCommandArgs, parseDevice } from './args.js';

export async function runConformanceCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {
    family: { type: 'string', multiple: true },
    case: { type: 'string' },
    json: { type: 'boolean', default: false },
    device: { type: 'string' },
  });
  if (positionals.length !== 1) throw new WanError('E_INVALID_ARGUMENT', 'conformance needs one <root> folder (e.g. ../shared/fixtures)');
  const root = resolve(positionals[0]);
  const { addon } = loadAddon(parseDevice(values.device));
  const report = await runConformance(root, addon, {
    families: values.family,
    filter: values.case ? new RegExp(values.case) : undefined,
    onResult: values.json ? undefined : (r) => process.stdout.write(`${formatResult(r)}\n`),
  });
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
