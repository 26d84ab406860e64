// Outgoing HTTP for what requests name (image URLs, webhooks, upload endpoints): size and time
// limits, and no loopback, private or link-local targets unless the configuration allows them.
// The address is checked where the connection is made (the socket's own DNS lookup), so a name
// that resolves to a public address when checked and a private one when used cannot get through.
import { lookup as dnsLookup } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';

import { WanError } from '../errors.js';

export interface FetchPolicy {
  maxBytes: number;
  timeoutMs: number;
  allowLoopback: boolean;
  allowPrivate: boolean;
}

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');
const internal = new BlockList();
for (const [net, bits] of [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['169.254.0.0', 16], ['100.64.0.0', 10], ['0.0.0.0', 8]] as const) {
  internal.addSubnet(net, bits, 'ipv4');
}
for (const [net, bits] of [['fc00::', 7], ['fe80::', 10], ['::', 128]] as const) internal.addSubnet(net, bits, 'ipv6');
const always = new BlockList();
always.addSubnet('224.0.0.0', 4, 'ipv4'); // multicast
always.addSubnet('240.0.0.0', 4, 'ipv4'); // reserved, broadcast
always.addSubnet('ff00::', 8, 'ipv6');

/** Why an address may not be reached, or null. */
export function refusedAddress(address: string, policy: Pick<FetchPolicy, 'allowLoopback' | 'allowPrivate'>): string | null {
  let a = address;
  let family: 'ipv4' | 'ipv6' = isIP(a) === 6 ? 'ipv6' : 'ipv4';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  if (mapped) [a, family] = [mapped[1], 'ipv4'];
  if (always.check(a, family)) return `${address} is a multicast or reserved address`;
  if (loopback.check(a, family)) return policy.allowLoopback ? null : `${address} is a loopback address (allowed only with fetch.allowLoopback)`;
  if (internal.check(a, family)) return policy.allowPrivate ? null : `${address} is a private or link-local address (allowed only with fetch.allowPrivate)`;
  return null;
}

function guardedLookup(policy: FetchPolicy, field: string): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const list = addresses as unknown as Array<{ address: string; family: number }>;
      for (const a of list) {
        const why = refusedAddress(a.address, policy);
        if (why) return callback(new WanError('E_INVALID_ARGUMENT', `${field}: ${hostname} resolves to ${why}`) as NodeJS.ErrnoException, '', 0);
      }
      if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: typeof list) => void)(null, list);
      callback(null, list[0].address, list[0].family);
    });
  };
}

export interface GuardedResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** Checks a URL before anything is sent: scheme, and a literal address's range. */
export function checkUrl(raw: string, field: string, policy: FetchPolicy): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new WanError('E_INVALID_ARGUMENT', `${field}: "${raw.slice(0, 100)}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new WanError('E_INVALID_ARGUMENT', `${field}: only http and https URLs are fetched (got ${url.protocol})`);
  if (url.username || url.password) throw new WanError('E_INVALID_ARGUMENT', `${field}: URLs with credentials are not fetched`);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) {
    const why = refusedAddress(host, policy);
    if (why) throw new WanError('E_INVALID_ARGUMENT', `${field}: ${why}`);
  } else if (host === 'localhost' || host.endsWith('.localhost')) {
    if (!policy.allowLoopback) throw new WanError('E_INVALID_ARGUMENT', `${field}: ${host} is a loopback name (allowed only with fetch.allowLoopback)`);
  }
  return url;
}

/**
 * One HTTP exchange under the policy. `field` names the request field the URL came from, for
 * errors. GET follows up to 3 redirects, each checked again.
 */
export async function guardedFetch(
  raw: string,
  opts: { method?: string; headers?: Record<string, string>; body?: Buffer | string; field: string; policy: FetchPolicy; signal?: AbortSignal },
  redirects = 3,
): Promise<GuardedResponse> {
  const { policy, field } = opts;
  const url = checkUrl(raw, field, policy);
  const method = opts.method ?? 'GET';
  const mod = url.protocol === 'https:' ? https : http;
  const res = await new Promise<GuardedResponse>((resolve, reject) => {
    const req = mod.request(
      url,
      { method, headers: { 'user-agent': 'wan-video', ...opts.headers }, lookup: guardedLookup(policy, field), signal: opts.signal, timeout: policy.timeoutMs },
      (r) => {
        const chunks: Buffer[] = [];
        let size = 0;
        r.on('data', (c: Buffer) => {
          size += c.length;
          if (size > policy.maxBytes) {
            // Settled here: once the response has begun, destroying the request emits no 'error' on it.
            reject(new WanError('E_INVALID_ARGUMENT', `${field}: the response is larger than ${policy.maxBytes} bytes (fetch.maxBytes)`));
            req.destroy();
            return;
          }
          chunks.push(c);
        });
        r.on('end', () => resolve({ status: r.statusCode ?? 0, headers: r.headers, body: Buffer.concat(chunks) }));
        r.on('error', reject);
      },
    );
    const timer = setTimeout(() => req.destroy(new WanError('E_INVALID_ARGUMENT', `${field}: no complete answer from ${url.host} within ${policy.timeoutMs} ms (fetch.timeoutMs)`)), policy.timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('timeout', () => req.destroy(new WanError('E_INVALID_ARGUMENT', `${field}: ${url.host} stopped answering (fetch.timeoutMs ${policy.timeoutMs})`)));
    req.on('error', (err) => reject(err instanceof WanError ? err : new WanError('E_INVALID_ARGUMENT', `${field}: ${url.host}: ${(err as Error).message}`)));
    req.end(opts.body);
  });
  if (method === 'GET' && res.status >= 300 && res.status < 400 && res.headers.location) {
    if (redirects <= 0) throw new WanError('E_INVALID_ARGUMENT', `${field}: too many redirects`);
    return guardedFetch(new URL(res.headers.location, url).toString(), opts, redirects - 1);
  }
  return res;
}

/** An image URL fetched into a data URL (what the request schemas accept). */
export async function fetchImageAsDataUrl(raw: string, field: string, policy: FetchPolicy): Promise<string> {
  const res = await guardedFetch(raw, { field, policy });
  if (res.status !== 200) throw new WanError('E_INVALID_ARGUMENT', `${field}: ${new URL(raw).host} answered HTTP ${res.status}`);
  const b = res.body;
  const mime =
    b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) ? 'image/png'
      : b[0] === 0xff && b[1] === 0xd8 ? 'image/jpeg'
        : b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP' ? 'image/webp'
          : null;
  if (!mime) throw new WanError('E_INVALID_ARGUMENT', `${field}: the URL did not return a PNG, JPEG or WEBP image`);
  return `data:${mime};base64,${b.toString('base64')}`;
}
