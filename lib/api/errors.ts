// Each API's error body, from one description of the error (status, code, message, fields). Every
// invalid request names the field in the API's own way; no stack trace ever goes out.
import { HttpError, statusOf } from './common.js';
import { errorOf } from '../server/job-errors.js';
import type { ApiName, JobError } from '../server/types.js';

export interface ErrorInfo extends JobError {
  status: number;
}

/** Anything thrown, as the status, code, message and fields a client may see. */
export function describeError(err: unknown): ErrorInfo {
  if (err instanceof HttpError) return { status: err.status, code: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) };
  const f = err as { statusCode?: number; code?: string; message?: string };
  // Fastify's own errors (body too large, invalid JSON, unsupported media type, timeouts).
  if (typeof f?.statusCode === 'number' && typeof f.code === 'string' && f.code.startsWith('FST_')) {
    return { status: f.statusCode, code: f.statusCode === 413 ? 'E_BODY_TOO_LARGE' : 'E_INVALID_ARGUMENT', message: fastifyMessage(f.code, f.message ?? '') };
  }
  // A client that went away while sending its body.
  if (err instanceof Error && (err.message === 'aborted' || (err as NodeJS.ErrnoException).code === 'ECONNRESET')) {
    return { status: 400, code: 'E_INVALID_ARGUMENT', message: 'the request body was not completed' };
  }
  // A stored JobError (code + message) is described as itself.
  const stored = err as { code?: unknown; message?: unknown } | null;
  if (stored && !(err instanceof Error) && typeof stored.code === 'string' && typeof stored.message === 'string') {
    const j = err as JobError;
    return { status: statusOf(j.code), ...j };
  }
  const e = errorOf(err);
  return { status: statusOf(e.code), ...e };
}

function fastifyMessage(code: string, message: string): string {
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return 'the request body is larger than this server takes (limits.bodyBytes)';
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return 'the body must be JSON (Content-Type: application/json)';
  if (code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return 'the JSON body is empty';
  if (/JSON/.test(message) || code === 'FST_ERR_CTP_INVALID_JSON_BODY') return `the body is not valid JSON (${message})`;
  return message;
}

/** fal: FastAPI-style `detail`, a list of {loc, msg, type} for field errors (422), a string otherwise. */
export function falError(e: ErrorInfo): { status: number; body: unknown } {
  if (e.issues?.length || (e.field && (e.code === 'E_INVALID_ARGUMENT' || e.code === 'E_UNSUPPORTED'))) {
    const issues = e.issues?.length ? e.issues : [{ field: e.field!, message: e.message, kind: 'invalid' }];
    return {
      status: 422,
      body: { detail: issues.map((i) => ({ loc: ['body', ...locOf(i.field)], msg: i.message, type: i.kind === 'unsupported' ? 'value_error.unsupported' : i.kind === 'missing' ? 'missing' : 'value_error' })) },
    };
  }
  return { status: e.status, body: { detail: e.message } };
}

/** `loras[0].path` -> ['loras', 0, 'path']. */
export function locOf(field: string): Array<string | number> {
  return field.split(/\.|\[|\]/).filter((s) => s !== '').map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

const RUNWARE_CODES: Record<string, string> = {
  E_INVALID_ARGUMENT: 'invalidParameter',
  E_UNSUPPORTED: 'unsupportedParameter',
  E_UNAUTHORIZED: 'invalidApiKey',
  E_NOT_FOUND: 'notFound',
  E_TOO_MANY_JOBS: 'tooManyRequests',
  E_CANCELLED: 'taskCancelled',
  E_BODY_TOO_LARGE: 'requestTooLarge',
  E_TIMEOUT: 'timeoutProvider',
};

/** Runware: one entry of the `errors` array. */
export function runwareError(e: ErrorInfo, task: { taskType?: string; taskUUID?: string } = {}): Record<string, unknown> {
  return {
    code: RUNWARE_CODES[e.code] ?? 'internalError',
    message: e.message,
    ...(e.field ? { parameter: e.field } : {}),
    ...(task.taskType ? { taskType: task.taskType } : {}),
    ...(task.taskUUID ? { taskUUID: task.taskUUID } : {}),
  };
}

/** Oxen: `{status: "error", status_message, error: {type, title, detail?, field?, issues?}}`. */
export function oxenError(e: ErrorInfo): { status: number; body: unknown } {
  const type = e.status === 404 ? 'resource_not_found' : e.status === 401 ? 'unauthenticated' : e.status === 429 ? 'too_many_requests' : e.status >= 500 ? 'internal_error' : 'bad_request';
  return {
    status: e.status,
    body: {
      status: 'error',
      status_message: type,
      error: {
        type,
        title: e.status === 404 ? 'The requested resource could not be found' : e.message,
        detail: e.message,
        ...(e.field ? { field: e.field } : {}),
        ...(e.issues?.length ? { issues: e.issues } : {}),
      },
    },
  };
}

export function errorBody(api: ApiName, e: ErrorInfo): { status: number; body: unknown } {
  if (api === 'fal') return falError(e);
  if (api === 'oxen') return oxenError(e);
  return { status: e.status, body: { errors: [runwareError(e)] } };
}
