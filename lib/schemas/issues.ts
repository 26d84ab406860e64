// Turning zod's issues into the one error users see.
//
// The design asks that every refused request names the field as the user wrote it
// (`acceleratorOptions.cacheMaxConsecutiveSteps`, `lora[1].weight`), the value they sent and what is
// allowed. The field builders in fields.ts put "what is allowed" into each issue's message, so this
// module only has to find the path, read the value back out of the input and phrase one line.

import type { z } from 'zod';
import { WanError } from '../errors.js';
import { UNSUPPORTED } from './fields.js';

/** The request shapes wan-video accepts: its own, and those of three hosted Wan APIs. */
export type RequestApi = 'canonical' | 'oxen' | 'fal' | 'runware';

export interface RequestIssue {
  /** The field path as the user wrote it, e.g. `acceleratorOptions.cacheMaxConsecutiveSteps`. */
  field: string;
  /** The value found at that path (undefined when missing). */
  value: unknown;
  kind: 'invalid' | 'missing' | 'unknown-field' | 'unsupported';
  /** What is allowed (invalid, missing) or why it is refused (unknown-field, unsupported). */
  expected: string;
  /** One line that says all of it. */
  message: string;
}

const LABEL: Record<RequestApi, string> = {
  canonical: 'wan-video request',
  oxen: 'Oxen request',
  fal: 'fal request',
  runware: 'Runware videoInference request',
};

export function apiLabel(api: RequestApi): string {
  return LABEL[api];
}

/**
 * A refused request. `code` is E_INVALID_ARGUMENT when any field is wrong, E_UNSUPPORTED when the
 * request is valid but asks for something wan-video does not implement yet.
 */
export class RequestError extends WanError {
  readonly api: RequestApi;
  readonly issues: readonly RequestIssue[];
  constructor(api: RequestApi, issues: readonly RequestIssue[]) {
    const invalid = issues.filter((i) => i.kind !== 'unsupported');
    const code = invalid.length > 0 ? 'E_INVALID_ARGUMENT' : 'E_UNSUPPORTED';
    // Wrong fields first: fixing them is what the user must do before anything else matters.
    const ordered = [...invalid, ...issues.filter((i) => i.kind === 'unsupported')];
    const shown = ordered.slice(0, 5).map((i) => i.message);
    if (ordered.length > 5) shown.push(`and ${ordered.length - 5} more`);
    const head = code === 'E_INVALID_ARGUMENT' ? `Invalid ${LABEL[api]}` : `Unsupported ${LABEL[api]}`;
    super(code, `${head}: ${shown.join('; ')}`);
    this.name = 'RequestError';
    this.api = api;
    this.issues = ordered;
  }
  /** The first field named, for callers that want just one. */
  get field(): string {
    return this.issues[0]?.field ?? '';
  }
}

/** `a.b[0].c` from a zod path. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = input;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

/** A short, unambiguous rendering of a value for a message. */
export function describeValue(v: unknown): string {
  if (typeof v === 'bigint') return `${v}`;
  if (typeof v === 'number') return String(v);
  if (v instanceof Uint8Array) return `${v.constructor.name}(${v.length})`;
  if (typeof v === 'function') return 'a function';
  let s: string;
  try {
    s = JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}` : x instanceof Uint8Array ? `Uint8Array(${x.length})` : x)) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

export interface IssueContext {
  api: RequestApi;
  /** The input as the user wrote it, to read the offending values back. */
  input: unknown;
  /**
   * Maps canonical field paths (`image`, `cache.endStep`) to the names the user wrote (`image_url`,
   * `acceleratorOptions.cacheEndStep`): an adapter validates its mapped canonical request too, and
   * must report the user's names.
   */
  fields?: Readonly<Record<string, string>>;
}

function renamed(path: readonly PropertyKey[], fields: IssueContext['fields']): string {
  // The longest mapped prefix wins: `cache.endStep` -> `acceleratorOptions.cacheEndStep` before
  // `cache` -> `acceleratorOptions`.
  if (fields) {
    for (let n = path.length; n > 0; n--) {
      const key = formatPath(path.slice(0, n));
      if (Object.hasOwn(fields, key)) return fields[key] + path.slice(n).map((seg) => (typeof seg === 'number' ? `[${seg}]` : `.${String(seg)}`)).join('');
    }
  }
  return formatPath(path);
}

/** One RequestIssue per field named by a zod issue (an unrecognized_keys issue names several). */
export function toRequestIssues(error: z.ZodError, ctx: IssueContext): RequestIssue[] {
  const out: RequestIssue[] = [];
  const label = LABEL[ctx.api];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const path = [...issue.path, key];
        const field = renamed(path, ctx.fields);
        out.push({
          field,
          value: valueAt(ctx.input, path),
          kind: 'unknown-field',
          expected: `not a field of the ${label}`,
          message: `unknown field "${field}" (not a field of the ${label})`,
        });
      }
      continue;
    }
    const field = renamed(issue.path, ctx.fields) || '(request)';
    const value = valueAt(ctx.input, issue.path);
    const params = (issue as { params?: Record<string, unknown> }).params;
    if (issue.code === 'custom' && params?.[UNSUPPORTED]) {
      out.push({
        field,
        value,
        kind: 'unsupported',
        expected: issue.message,
        message: `${field} = ${describeValue(value)} is not supported: ${issue.message}`,
      });
    } else if (value === undefined && issue.code === 'invalid_type') {
      out.push({ field, value, kind: 'missing', expected: issue.message, message: `${field} is missing: expected ${issue.message}` });
    } else {
      out.push({
        field,
        value,
        kind: 'invalid',
        expected: issue.message,
        message: `${field} = ${describeValue(value)} is not allowed: expected ${issue.message}`,
      });
    }
  }
  // zod can report one field twice (a safe-integer check and a range check); say it once.
  const seen = new Set<string>();
  return out.filter((i) => {
    const k = `${i.kind}\u0000${i.field}\u0000${i.expected}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** The error for a failed parse. */
export function zodToRequestError(error: z.ZodError, ctx: IssueContext): RequestError {
  return new RequestError(ctx.api, toRequestIssues(error, ctx));
}

/** Parse or throw a RequestError that names the user's fields. */
export function parseRequest<S extends z.ZodType>(schema: S, input: unknown, ctx: Omit<IssueContext, 'input'>): z.output<S> {
  const r = schema.safeParse(input);
  if (!r.success) throw zodToRequestError(r.error, { ...ctx, input });
  return r.data;
}

/** An invalid-field issue built by hand (checks that need more than one field). */
export function invalidIssue(field: string, value: unknown, expected: string): RequestIssue {
  return { field, value, kind: 'invalid', expected, message: `${field} = ${describeValue(value)} is not allowed: expected ${expected}` };
}

/** A not-supported issue built by hand. */
export function unsupportedIssue(field: string, value: unknown, why: string): RequestIssue {
  return { field, value, kind: 'unsupported', expected: why, message: `${field} = ${describeValue(value)} is not supported: ${why}` };
}
