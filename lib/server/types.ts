// What the server keeps about a job, shared by the queues (SQLite, BullMQ), the workers and the API
// modules. A job is stored as its API request (transport fields taken out), so a worker on another
// machine runs exactly what the client sent, and every API's responses are built from one record.

export type ApiName = 'fal' | 'runware' | 'oxen';
export const API_NAMES: readonly ApiName[] = ['fal', 'runware', 'oxen'];

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export const TERMINAL: ReadonlySet<JobStatus> = new Set(['succeeded', 'failed', 'cancelled']);

/** How the results leave the server (Runware's outputType/uploadEndpoint/ttl, fal's and Runware's webhooks). */
export interface JobDelivery {
  outputType: 'URL' | 'base64Data' | 'dataURI';
  /** POSTed when the job ends, in the API's own webhook shape. */
  webhookUrl?: string;
  /** Each result is PUT there once encoded. */
  uploadEndpoint?: string;
  /** How long the stored files are served (seconds). */
  ttlSeconds: number;
  includeCost: boolean;
}

/** What is queued. */
export interface JobSpec {
  /** The id the client sees: fal request_id, Runware taskUUID, Oxen generation_id. */
  id: string;
  api: ApiName;
  /** The configured pipeline that runs it. */
  model: string;
  /** The model id as the client wrote it (echoed in responses). */
  modelId: string;
  /** The API request with the transport fields taken out and URL images fetched. */
  input: Record<string, unknown>;
  delivery: JobDelivery;
  /** Which API key submitted it (its name, never the key), for the per-key limit and listings. */
  keyId: string | null;
  createdAt: number;
}

export interface JobResult {
  index: number;
  /** Decimal: seeds are 64-bit. */
  seed: string;
  /** File name under the storage folder (served at /files/<name>). */
  name: string;
  contentType: string;
  bytes: number;
  width: number;
  height: number;
  frames: number;
  fps: number;
  /** Unix ms after which the file is no longer served. */
  expiresAt: number;
  /** Set when the file was PUT to the request's uploadEndpoint. */
  uploadedTo?: string;
}

export interface JobIssue {
  field: string;
  message: string;
  kind: string;
}

export interface JobError {
  /** WanError code (E_INVALID_ARGUMENT, E_UNSUPPORTED, E_CANCELLED, ...). */
  code: string;
  message: string;
  /** The first field named, when a request field was at fault. */
  field?: string;
  issues?: JobIssue[];
}

export interface JobProgress {
  /** 1-based step just finished, of `total`. */
  step: number;
  total: number;
  expert: string;
  /** Transformer calls of this step served by the step cache, of `forwards`. */
  cached: number;
  forwards: number;
  secondsPerStep: number;
  etaSeconds: number;
  /** Which result (numberResults > 1) the step belongs to. */
  result: number;
  results: number;
}

export interface JobLog {
  message: string;
  level: 'INFO' | 'WARN' | 'ERROR';
  timestamp: string;
}

export interface JobView extends JobSpec {
  status: JobStatus;
  attempts: number;
  startedAt: number | null;
  completedAt: number | null;
  progress: JobProgress | null;
  logs: JobLog[];
  results: JobResult[];
  error: JobError | null;
  /** Jobs ahead of it while queued. */
  queuePosition: number | null;
}

/** What crosses the event bus (in-process for SQLite, Redis pub/sub for BullMQ). */
export type BusEvent =
  | { id: string; type: 'status'; status: JobStatus }
  | { id: string; type: 'progress'; progress: JobProgress; log: JobLog }
  | { id: string; type: 'log'; log: JobLog }
  | { id: string; type: 'preview'; png: string };

/** The worker side of a job: run it, say how it goes, return what it made. */
export interface JobContext {
  signal: AbortSignal;
  attempt: number;
  progress(p: JobProgress, log: JobLog): void;
  log(log: JobLog): void;
  /** A PNG (base64) of the latest decoded frame, downscaled. */
  preview(png: string): void;
}
export type JobHandler = (spec: JobSpec, ctx: JobContext) => Promise<JobResult[]>;

export function logLine(message: string, level: JobLog['level'] = 'INFO'): JobLog {
  return { message, level, timestamp: new Date().toISOString() };
}
