// The webhook body of an ended job, in its API's shape (fal: {request_id, status, payload};
// Runware: {data: [...]} or {errors: [...]}). Oxen has no webhooks (it announces on /api/events).
import type { ServerConfig } from '../server/config.js';
import type { JobView } from '../server/types.js';
import { falWebhook } from './fal.js';
import { runwareWebhook } from './runware.js';

export async function webhookBody(v: JobView, ctx: { publicUrl: string; config: ServerConfig }): Promise<unknown> {
  if (v.api === 'fal') return falWebhook(v, ctx.publicUrl);
  if (v.api === 'runware') return runwareWebhook(ctx, v);
  return null;
}
