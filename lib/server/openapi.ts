// The OpenAPI document of the server, generated from the same zod schemas that validate the
// requests (z.toJSONSchema), so the document cannot drift from what is enforced.
import { z } from 'zod';

import { FalImageToVideoSchema, FalTextToVideoSchema } from '../schemas/adapters/fal.js';
import { OxenRequestSchema } from '../schemas/adapters/oxen.js';
import { RunwareRequestSchema } from '../schemas/adapters/runware.js';

const json = (s: z.ZodType) => z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' });

const FalSubmitted = z.object({ request_id: z.string(), response_url: z.string(), status_url: z.string(), cancel_url: z.string(), queue_position: z.int() });
const FalLog = z.object({ message: z.string(), level: z.string(), source: z.literal('USER'), timestamp: z.string() });
const FalStatus = z.object({
  status: z.enum(['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED']),
  request_id: z.string(),
  response_url: z.string(),
  status_url: z.string(),
  cancel_url: z.string(),
  queue_position: z.int().optional(),
  logs: z.array(FalLog).nullable().optional(),
  metrics: z.object({ inference_time: z.number().nullable() }).optional(),
  error: z.string().optional(),
  error_type: z.string().optional(),
});
const FalFile = z.object({ url: z.string(), content_type: z.string(), file_name: z.string(), file_size: z.int() });
const FalResult = z.object({ video: FalFile, seed: z.union([z.int(), z.string()]), prompt: z.string().optional() });
const FalValidation = z.object({ detail: z.union([z.string(), z.array(z.object({ loc: z.array(z.union([z.string(), z.int()])), msg: z.string(), type: z.string() }))]) });

const RunwareTransport = z.object({
  taskType: z.literal('videoInference'),
  taskUUID: z.uuid(),
  deliveryMethod: z.enum(['sync', 'async']).optional(),
  outputType: z.enum(['URL', 'base64Data', 'dataURI']).optional(),
  webhookURL: z.string().optional(),
  uploadEndpoint: z.string().optional(),
  includeCost: z.boolean().optional(),
});
const RunwareOther = z.union([
  z.object({ taskType: z.literal('authentication'), apiKey: z.string(), connectionSessionUUID: z.string().optional() }),
  z.object({ taskType: z.literal('getResponse'), taskUUID: z.string() }),
  z.object({ taskType: z.literal('cancelTask'), taskUUID: z.string() }),
  z.object({ taskType: z.literal('ping'), ping: z.boolean().optional() }),
]);
const RunwareItem = z.object({
  taskType: z.string(),
  taskUUID: z.string(),
  status: z.enum(['processing', 'success']).optional(),
  videoUUID: z.string().optional(),
  videoURL: z.string().optional(),
  videoBase64Data: z.string().optional(),
  videoDataURI: z.string().optional(),
  seed: z.union([z.int(), z.string()]).optional(),
  cost: z.number().optional(),
});
const RunwareError = z.object({ code: z.string(), message: z.string(), parameter: z.string().optional(), taskType: z.string().optional(), taskUUID: z.string().optional() });
const RunwareResponse = z.object({ data: z.array(RunwareItem).optional(), errors: z.array(RunwareError).optional() });

const OxenTransport = z.object({ num_generations: z.int().min(1).max(4).optional(), response_format: z.enum(['url', 'b64_json']).optional(), target_namespace: z.string().optional() });
const OxenGeneration = z.object({
  generation_id: z.string(),
  model_name: z.string(),
  prompt: z.string(),
  media_type: z.literal('video'),
  status: z.enum(['queued', 'processing', 'succeeded', 'failed', 'cancelled']),
  result_url: z.string().nullable(),
  error_message: z.string().nullable(),
  enqueued_at: z.int(),
  started_at: z.int().nullable(),
  completed_at: z.int().nullable(),
});
const OxenError = z.object({ status: z.literal('error'), status_message: z.string(), error: z.object({ type: z.string(), title: z.string(), detail: z.string().optional(), field: z.string().optional() }) });

const body = (schema: unknown) => ({ required: true, content: { 'application/json': { schema } } });
const ok = (schema: unknown, description = 'OK') => ({ description, content: { 'application/json': { schema } } });

export function openApiDocument(publicUrl: string): Record<string, unknown> {
  const falIn = { oneOf: [json(FalTextToVideoSchema), json(FalImageToVideoSchema)] };
  const runwareTask = { oneOf: [{ allOf: [json(RunwareRequestSchema), json(RunwareTransport)] }, json(RunwareOther)] };
  const auth = [{ bearer: [] }, { falKey: [] }];
  const idParam = [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }];
  const appParams = [
    { name: 'owner', in: 'path', required: true, schema: { type: 'string' }, example: 'fal-ai' },
    { name: 'app', in: 'path', required: true, schema: { type: 'string' }, example: 'wan' },
  ];
  return {
    openapi: '3.1.0',
    info: { title: 'wan-video server', version: '0.1.0', description: 'The fal, Runware and Oxen video APIs, served by wan-video on local Wan models.' },
    servers: [{ url: publicUrl }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'Runware, Oxen: Authorization: Bearer <key>' },
        falKey: { type: 'apiKey', in: 'header', name: 'Authorization', description: 'fal: Authorization: Key <key>' },
      },
    },
    security: auth,
    paths: {
      '/{owner}/{app}/{path}': {
        post: {
          summary: 'fal: submit to the queue (path: e.g. v2.2-a14b/text-to-video); ?fal_webhook=URL',
          parameters: [...appParams, { name: 'path', in: 'path', required: true, schema: { type: 'string' } }, { name: 'fal_webhook', in: 'query', schema: { type: 'string' } }],
          requestBody: body(falIn),
          responses: { 200: ok(json(FalSubmitted)), 422: ok(json(FalValidation), 'a field is invalid') },
        },
      },
      '/{owner}/{app}/requests/{id}/status': {
        get: { summary: 'fal: request status (?logs=1 for the step log)', parameters: [...appParams, ...idParam, { name: 'logs', in: 'query', schema: { type: 'string' } }], responses: { 200: ok(json(FalStatus)) } },
      },
      '/{owner}/{app}/requests/{id}/status/stream': {
        get: { summary: 'fal: status as Server-Sent Events until COMPLETED', parameters: [...appParams, ...idParam], responses: { 200: { description: 'text/event-stream of status objects' } } },
      },
      '/{owner}/{app}/requests/{id}': { get: { summary: 'fal: the result', parameters: [...appParams, ...idParam], responses: { 200: ok(json(FalResult)), 422: ok(json(FalValidation)) } } },
      '/{owner}/{app}/requests/{id}/cancel': { put: { summary: 'fal: cancel', parameters: [...appParams, ...idParam], responses: { 202: { description: 'CANCELLATION_REQUESTED' }, 400: { description: 'ALREADY_COMPLETED' } } } },
      '/_fal/run/{owner}/{app}/{path}': { post: { summary: 'fal: synchronous run (what fal.run serves)', parameters: [...appParams, { name: 'path', in: 'path', required: true, schema: { type: 'string' } }], requestBody: body(falIn), responses: { 200: ok(json(FalResult)) } } },
      '/v1': {
        post: { summary: 'Runware: an array of tasks (REST); GET /v1 upgrades to the WebSocket the SDK uses', requestBody: body({ type: 'array', items: runwareTask }), responses: { 200: ok(json(RunwareResponse)) } },
      },
      '/api/ai/videos/generate': { post: { summary: 'Oxen: synchronous video generation', requestBody: body({ allOf: [json(OxenRequestSchema), json(OxenTransport)] }), responses: { 200: ok({ type: 'object', properties: { model: { type: 'string' }, created: { type: 'integer' }, videos: { type: 'array' } } }), 400: ok(json(OxenError)) } } },
      '/api/ai/queue': {
        post: { summary: 'Oxen: enqueue (num_generations 1-4)', requestBody: body({ allOf: [json(OxenRequestSchema), json(OxenTransport)] }), responses: { 200: ok({ type: 'object', properties: { generations: { type: 'array' } } }) } },
        get: { summary: 'Oxen: list generations (active unless ?status=)', responses: { 200: ok({ type: 'object', properties: { count: { type: 'integer' }, generations: { type: 'array', items: json(OxenGeneration) } } }) } },
      },
      '/api/ai/queue/{id}': { get: { summary: 'Oxen: one generation', parameters: idParam, responses: { 200: ok(json(OxenGeneration)), 404: ok(json(OxenError)) } }, delete: { summary: 'Oxen: cancel', parameters: idParam, responses: { 200: { description: '{status: "success", generation_id}' } } } },
      '/api/events': { get: { summary: 'Oxen: Server-Sent Events (media_generation_completed, media_generation_progress); ?previews=1', responses: { 200: { description: 'text/event-stream' } } } },
      '/api/ai/models/{id}': { get: { summary: 'Oxen: the model object with request_schema / json_request_schema', parameters: idParam, responses: { 200: { description: 'model object' } } } },
      '/jobs/{id}/events': { get: { summary: 'Any API: Server-Sent Events of a job (status, progress, preview)', parameters: idParam, responses: { 200: { description: 'text/event-stream' } } } },
      '/files/{name}': { get: { summary: 'A stored result, until its TTL passes', security: [], parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }], responses: { 200: { description: 'the video' }, 404: { description: 'unknown or expired' } } } },
    },
  };
}
