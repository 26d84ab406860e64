// Field builders shared by the canonical request and the hosted-API adapters.
//
// Every builder sets its zod error message to the *allowed* values ("an integer from 17 to 161"), so
// the one formatter in issues.ts can say "field = value: expected <allowed>" whatever check failed
// (type, integer, minimum or maximum): a user who sent 200 wants the whole range, not "too big".

import { z } from 'zod';

/** Marker put on a custom zod issue that means "valid, but wan-video does not implement it yet". */
export const UNSUPPORTED = 'wan-video:unsupported' as const;

/** Largest seed torch.Generator.manual_seed takes (an unsigned 64-bit value). */
export const MAX_SEED = (1n << 64n) - 1n;

const fmt = (n: number | bigint): string => String(n);

/** An integer in [min, max]. */
export function intIn(min: number, max: number) {
  const error = `an integer from ${fmt(min)} to ${fmt(max)}`;
  return z.int({ error }).min(min, { error }).max(max, { error });
}

/** A finite number in [min, max]. */
export function numIn(min: number, max: number) {
  const error = `a number from ${fmt(min)} to ${fmt(max)}`;
  return z.number({ error }).min(min, { error }).max(max, { error });
}

/** A finite number in (min, max]: for values where the lower end means nothing (a flow shift of 0). */
export function numAbove(min: number, max: number) {
  const error = `a number greater than ${fmt(min)} and at most ${fmt(max)}`;
  return z.number({ error }).gt(min, { error }).max(max, { error });
}

/** One of a fixed set of strings; the message lists them all. */
export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  const error = `one of ${values.map((v) => JSON.stringify(v)).join(', ')}`;
  return z.enum(values, { error });
}

export function bool() {
  return z.boolean({ error: 'true or false' });
}

/**
 * A string of `min` to `max` characters. A required non-empty string (min 1) must hold more than
 * whitespace: a prompt of spaces is as empty as "" for the text encoder. Longer minimums count
 * characters as the API that documents them does (Runware's positivePrompt: 2..3000).
 */
export function text(min: number, max?: number) {
  const error =
    max === undefined
      ? min <= 0
        ? 'a string'
        : min === 1
          ? 'a non-empty string'
          : `a string of at least ${min} characters`
      : `a string of ${min} to ${max} characters`;
  let s = z.string({ error });
  if (min > 1) s = s.min(min, { error });
  if (max !== undefined) s = s.max(max, { error });
  return min === 1 ? s.refine((v) => v.trim().length > 0, { error }) : s;
}

/**
 * A seed: a non-negative safe integer, a bigint, or a string of decimal digits (JSON cannot carry a
 * 64-bit integer exactly, so a string is the only way to send a large seed through JSON). Always
 * parsed to a bigint so the pipeline sees one type.
 */
export function seedIn(min: bigint, max: bigint) {
  const error = `an integer from ${min} to ${max} (a number, a bigint, or a string of digits)`;
  return z
    .union([z.bigint({ error }), z.int({ error }), z.string({ error }).regex(/^\d{1,20}$/, { error })], { error })
    .transform((v, ctx) => {
      const b = BigInt(v);
      if (b < min || b > max) {
        ctx.addIssue({ code: 'custom', message: error });
        return z.NEVER;
      }
      return b;
    });
}

/**
 * Wrap a field schema so that any value other than the "off" ones is refused as not supported:
 * "A field we do not implement yet is refused as not supported, unless its value means off".
 * `what` names the feature for the message.
 */
export function offOnly<T extends z.ZodType>(schema: T, off: readonly unknown[], what: string) {
  const offText = off.map((v) => JSON.stringify(v)).join(' or ');
  return schema.superRefine((v, ctx) => {
    if (v !== undefined && !off.includes(v)) {
      ctx.addIssue({
        code: 'custom',
        message: `${what} is not implemented by wan-video; leave the field out or set it to ${offText}`,
        params: { [UNSUPPORTED]: true },
      });
    }
  });
}

/** A field that is refused as not supported whenever it is present (no value of it means off). */
export function neverSupported(what: string) {
  return z
    .unknown()
    .superRefine((v, ctx) => {
      if (v !== undefined) {
        ctx.addIssue({
          code: 'custom',
          message: `${what} is not implemented by wan-video; leave the field out`,
          params: { [UNSUPPORTED]: true },
        });
      }
    })
    .optional();
}

/** Add a "not supported" issue from inside a superRefine. */
export function addUnsupported(ctx: z.RefinementCtx, path: PropertyKey[], message: string): void {
  ctx.addIssue({ code: 'custom', message, path, params: { [UNSUPPORTED]: true } });
}

/** Add an "invalid" issue from inside a superRefine. */
export function addInvalid(ctx: z.RefinementCtx, path: PropertyKey[], message: string): void {
  ctx.addIssue({ code: 'custom', message, path });
}

/** Plain-object test used by auto-detection and the adapters (arrays and null are not requests). */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array);
}
