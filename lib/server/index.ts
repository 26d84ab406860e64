// The server as a library: `import { createServer } from 'wan-video/server'` (a subpath, so the
// main entry does not load Fastify, SQLite or BullMQ).
export { createServer, type WanServer } from './server.js';
export { ServerConfigSchema, parseServerConfig, type ServerConfig, type ServerConfigInput } from './config.js';
export { openQueue, type JobQueue, type QueueOptions } from './queue/types.js';
export { PipelinePool } from './pool.js';
export { startWorking } from './worker.js';
export { KNOWN_MODEL_IDS, resolveModelId } from './model-ids.js';
export { openApiDocument } from './openapi.js';
export type { ApiName, JobSpec, JobView, JobStatus, JobResult, JobError, JobProgress } from './types.js';
