// Shared assertions of the request-layer tests.
import { expect } from 'vitest';

import { WanError } from '../../lib/errors.js';
import { RequestError, type RequestIssue } from '../../lib/schemas/issues.js';

/** Runs fn and returns the RequestError it throws (fails the test if it does not). */
export function refused(fn: () => unknown): RequestError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(RequestError);
    expect(e).toBeInstanceOf(WanError);
    return e as RequestError;
  }
  throw new Error('expected the request to be refused');
}

/** The single issue of a refusal, which must be about `field`. */
export function onlyIssue(e: RequestError, field: string): RequestIssue {
  expect(e.issues.map((i) => i.field)).toEqual([field]);
  return e.issues[0];
}
