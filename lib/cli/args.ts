// Command-line parsing shared by every command: `--help`/`-h` prints the command's usage, a flag
// may be spelled as the hosted APIs spell the field (`--num_frames`, `--numFrames`,
// `--negative_prompt`: case, dashes and underscores do not matter, and each command lists its
// other names), and an unknown flag is refused with the nearest known one ("did you mean").
import { parseArgs, type ParseArgsConfig } from 'node:util';

import { WanError } from '../errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

export interface CommandSpec<T extends Options = Options> {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** The full `--help` text. */
  usage: string;
  options: T;
  /** Other spellings of a flag (API field names) -> the flag. */
  aliases?: Record<string, string>;
}

/** A flag name with case, dashes and underscores taken out: `--num_frames` ~ `--numFrames` ~ `--num-frames`. */
const loose = (name: string) => name.toLowerCase().replace(/[-_]/g, '');

/** Levenshtein distance, for "did you mean". */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const keep = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = keep;
    }
  }
  return row[b.length];
}

/** The known flag nearest to `name`, when it is near enough to be a typo. */
export function suggestFlag(name: string, known: readonly string[]): string | undefined {
  let best: { flag: string; d: number } | undefined;
  for (const k of known) {
    const d = editDistance(loose(name), loose(k));
    if (!best || d < best.d) best = { flag: k, d };
  }
  return best && best.d <= Math.max(2, Math.floor(loose(name).length / 3)) ? best.flag : undefined;
}

export type Parsed<T extends Options> = { help: true } | { help: false; values: ReturnType<typeof parseArgs<{ options: T; allowPositionals: true; strict: true }>>['values']; positionals: string[] };

/** Parses a command's arguments; with --help prints its usage and returns { help: true }. */
export function parseCommand<T extends Options>(spec: CommandSpec<T>, args: string[]): Parsed<T> {
  const end = args.indexOf('--');
  const flags = end < 0 ? args : args.slice(0, end);
  if (flags.includes('--help') || flags.includes('-h')) {
    process.stdout.write(spec.usage.endsWith('\n') ? spec.usage : `${spec.usage}\n`);
    return { help: true };
  }
  const names = Object.keys(spec.options);
  const byLoose = new Map<string, string>();
  for (const n of names) byLoose.set(loose(n), n);
  for (const [alias, flag] of Object.entries(spec.aliases ?? {})) byLoose.set(loose(alias), flag);
  const normalized = args.map((a, i) => {
    if ((end >= 0 && i >= end) || !a.startsWith('--') || a === '--') return a;
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const rest = eq < 0 ? '' : a.slice(eq);
    if (names.includes(name)) return a;
    const flag = byLoose.get(loose(name));
    if (flag) return `--${flag}${rest}`;
    const guess = suggestFlag(name, [...names, ...Object.keys(spec.aliases ?? {})]);
    const target = guess ? (byLoose.get(loose(guess)) ?? guess) : undefined;
    throw new WanError(
      'E_INVALID_ARGUMENT',
      `unknown option --${name} for \`wan-video ${spec.name}\`${target ? `; did you mean --${target}?` : ''} (\`wan-video ${spec.name} --help\` lists the options)`,
    );
  });
  try {
    const { values, positionals } = parseArgs({ args: normalized, options: spec.options, allowPositionals: true, strict: true });
    return { help: false, values, positionals };
  } catch (err) {
    throw new WanError('E_INVALID_ARGUMENT', `${err instanceof Error ? err.message : String(err)} (\`wan-video ${spec.name} --help\` lists the options)`);
  }
}

export function parseDevice(v: string | undefined): 'auto' | 'cpu' | 'cuda' {
  if (v === undefined || v === 'auto' || v === 'cpu' || v === 'cuda') return v ?? 'auto';
  throw new WanError('E_INVALID_ARGUMENT', `--device must be auto, cpu or cuda, got "${v}"`);
}

/** The one value of a flag that may be given several times (the last wins). */
export function last<T>(v: T | T[] | undefined): T | undefined {
  return Array.isArray(v) ? v.at(-1) : v;
}
