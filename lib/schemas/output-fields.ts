// The output settings a request carries (container format, encoder quality, write mode) and the
// field each came from, so that whoever writes the file (the CLI, the server) honours them and can
// name them when they contradict the file it is asked to write. Declared once per API.
import { isPlainObject } from './fields.js';
import type { RequestApi } from './issues.js';
import type { NormalizeResult } from './normalize.js';

type OutputKey = 'format' | 'quality' | 'writeMode';

/** Where each API keeps the output settings (a dotted path into the request), where it has them. */
export const OUTPUT_FIELDS: Record<RequestApi, Partial<Record<OutputKey, string>>> = {
  canonical: { format: 'output.format', quality: 'output.quality', writeMode: 'output.writeMode' },
  runware: { format: 'outputFormat', quality: 'outputQuality' },
  // fal returns mp4 and has no format field: the file name decides the container.
  fal: { quality: 'video_quality', writeMode: 'video_write_mode' },
  oxen: {},
};

export interface RequestedSetting<T> {
  value: T;
  /** `outputQuality (runware request)`; `(default)` appended when the user left the field out and the API's default applies. */
  from: string;
  /** The user wrote the field (false: the API's documented default). */
  written: boolean;
}

export interface RequestedOutput {
  /** Only when written: a defaulted container (canonical mp4, Runware MP4) yields to the file name. */
  format?: RequestedSetting<string>;
  quality?: RequestedSetting<number>;
  writeMode?: RequestedSetting<string>;
}

function has(raw: unknown, path: string): boolean {
  let v: unknown = raw;
  for (const k of path.split('.')) {
    if (!isPlainObject(v) || !Object.hasOwn(v, k)) return false;
    v = v[k];
  }
  return v !== undefined;
}

/** The output settings of a normalised request, with the user's field names. */
export function requestedOutput(raw: unknown, normalized: Pick<NormalizeResult, 'api' | 'request'>): RequestedOutput {
  const fields = OUTPUT_FIELDS[normalized.api];
  const out = normalized.request.output;
  const result: RequestedOutput = {};
  const setting = <T>(key: OutputKey, value: T | undefined): RequestedSetting<T> | undefined => {
    const field = fields[key];
    if (!field || value === undefined) return undefined;
    const written = has(raw, field);
    return { value, from: `${field} (${normalized.api} request)${written ? '' : ' (default)'}`, written };
  };
  const format = setting('format', out.format);
  if (format?.written) result.format = format;
  const quality = setting('quality', out.quality);
  if (quality) result.quality = quality;
  const writeMode = setting('writeMode', out.writeMode);
  if (writeMode) result.writeMode = writeMode;
  return result;
}
