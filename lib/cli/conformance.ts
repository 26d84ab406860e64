import { resolve } from 'node:path';

import { loadAddon } from '../bindings/loader.js';
import { formatResult, formatSummary, runConformance } from '../conformance/runner.js';
import type { ConformanceReport } from '../conformance/types.js';
import { WanError } from '../errors.js';
import { type CommandSpec, parseCommand, parseDevice } from './args.js';

export const CONFORMANCE = {
  name: 'conformance',
  summary: 'run the reference cases (e.g. ../shared/fixtures) and compare',
  usage: `usage: wan-video conformance <root>... [--family NAME]... [--case REGEX] [--json] [--device auto|cpu|cuda]

Runs every case under each <root>/cases (the layout of shared/fixtures: <family>/<case>/manifest.json
and tensors.safetensors; model paths resolve against their <root>; e.g. ../shared/fixtures and this
repository's test/fixtures, one report for all) and compares each output tensor by relative
L2 error against the case's tolerance. One line per case, PASS|FAIL|SKIP <family>/<case> <worst> <tensor>,
then "N passed, M failed, K skipped". Exit status 1 if anything failed.

  --family NAME   only this family (repeatable)
  --case REGEX    only cases whose <family>/<case> matches
  --json          one JSON document instead of lines
  --device        auto|cpu|cuda (default auto)
`,
  options: {
    family: { type: 'string', multiple: true },
    case: { type: 'string' },
    json: { type: 'boolean', default: false },
    device: { type: 'string' },
  },
} satisfies CommandSpec;

export async function runConformanceCommand(args: string[]): Promise<number> {
  const parsed = parseCommand(CONFORMANCE, args);
  if (parsed.help) return 0;
  const { values, positionals } = parsed;
  if (positionals.length < 1) {
    throw new WanError('E_INVALID_ARGUMENT', 'conformance needs one or more <root> folders (e.g. ../shared/fixtures test/fixtures)');
  }
  const { addon } = loadAddon(parseDevice(values.device));
  const report: ConformanceReport = { cases: [], passed: 0, failed: 0, skipped: 0 };
  for (const root of positionals.map((p) => resolve(p))) {
    const part = await runConformance(root, addon, {
      families: values.family,
      filter: values.case ? new RegExp(values.case) : undefined,
      onResult: values.json ? undefined : (r) => process.stdout.write(`${formatResult(r)}\n`),
    });
    report.cases.push(...part.cases);
    report.passed += part.passed;
    report.failed += part.failed;
    report.skipped += part.skipped;
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
