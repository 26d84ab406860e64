#!/usr/bin/env node
// wan-video: the command line. Subcommands live in their own files with their own --help; this
// only dispatches.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { packageRoot } from '../bindings/loader.js';
import { suggestFlag } from './args.js';
import { BUILD, runBuild } from './build.js';
import { CONFORMANCE, runConformanceCommand } from './conformance.js';
import { DEMO, runDemo } from './demo.js';
import { GENERATE, runGenerate } from './generate.js';
import { INFO, runInfo } from './info.js';
import { SERVE, WORKER, runServe, runWorker } from './serve.js';

const commands = [
  { spec: DEMO, run: runDemo },
  { spec: GENERATE, run: runGenerate },
  { spec: INFO, run: runInfo },
  { spec: CONFORMANCE, run: runConformanceCommand },
  { spec: SERVE, run: runServe },
  { spec: WORKER, run: runWorker },
  { spec: BUILD, run: runBuild },
];

function version(): string {
  return (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
}

const USAGE = `usage: wan-video <command> [options]        (wan-video <command> --help for its options)

commands:
${commands.map((c) => `  ${c.spec.name.padEnd(12)} ${c.spec.summary}`).join('\n')}

  wan-video --version   the package version
  first time? run \`npx wan-video demo\`: it needs no download and shows every stage working
`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === '--version' || cmd === '-v' || cmd === 'version') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    if (cmd === 'help' && rest[0]) return main([rest[0], '--help']);
    process.stdout.write(USAGE);
    return cmd ? 0 : 2;
  }
  const command = commands.find((c) => c.spec.name === cmd);
  if (!command) {
    const guess = suggestFlag(cmd, commands.map((c) => c.spec.name));
    process.stderr.write(`wan-video: unknown command "${cmd}"${guess ? `; did you mean "${guess}"?` : ''}\n\n${USAGE}`);
    return 2;
  }
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const code = (err as { code?: string }).code;
    process.stderr.write(`wan-video: ${code ? `${code}: ` : ''}${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
