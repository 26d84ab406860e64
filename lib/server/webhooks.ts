// Webhooks: POSTed as JSON when a job ends, retried with exponential backoff (backoffMs, 2x, 4x, ...)
// until a 2xx answer or `retries` more tries, under the same fetch limits as every outgoing request.
import { type FetchPolicy, guardedFetch } from './fetch-guard.js';

export async function postWebhook(
  url: string,
  body: unknown,
  opts: { policy: FetchPolicy; retries: number; backoffMs: number; field: string; log?: (line: string) => void },
): Promise<boolean> {
  const payload = JSON.stringify(body);
  for (let attempt = 0; attempt <= opts.retries; attempt++) {
    try {
      const res = await guardedFetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: payload, field: opts.field, policy: opts.policy });
      if (res.status >= 200 && res.status < 300) return true;
      opts.log?.(`webhook ${opts.field}: HTTP ${res.status} (try ${attempt + 1} of ${opts.retries + 1})`);
    } catch (err) {
      opts.log?.(`webhook ${opts.field}: ${(err as Error).message} (try ${attempt + 1} of ${opts.retries + 1})`);
      if ((err as Error).message.includes('address')) return false; // a refused target does not become allowed
    }
    if (attempt < opts.retries) await new Promise((r) => setTimeout(r, opts.backoffMs * 2 ** attempt));
  }
  return false;
}
