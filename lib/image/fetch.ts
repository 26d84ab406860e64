// Downloading an image named by an http(s) URL, for requests that give one (fal's image_url).
// A server passes user input here, so by default the download refuses any address that is not a
// public unicast one (loopback, private, link-local, CGNAT, multicast, reserved; IPv4-mapped IPv6
// is judged by its IPv4): a request must not make the server read its own network. The check is
// made on the resolved address and the connection goes to exactly that address (no second DNS
// answer can slip in), and again for each redirect. Bytes and time are bounded by IMAGE_LIMITS.
import { lookup as dnsLookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import { BlockList, type LookupFunction, isIP } from 'node:net';

import { WanError } from '../errors.js';
import { IMAGE_LIMITS, type ImageLimits, fmtBytes } from './limits.js';

export interface FetchImageOptions {
  limits?: ImageLimits;
  /**
   * Let the URL reach loopback, private and link-local addresses. Off by default: turn it on only
   * where the URL comes from a trusted caller (a local script, a test's own server).
   */
  allowPrivateNetwork?: boolean;
  signal?: AbortSignal;
}

const BLOCKED = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24],
  ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) BLOCKED.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8], ['100::', 64], ['2001:db8::', 32],
] as const) BLOCKED.addSubnet(net, bits, 'ipv6');

/** The IPv4 address an IPv6 one carries (IPv4-mapped, IPv4-compatible, NAT64, 6to4), if any. */
function embeddedIpv4(addr: string): string | null {
  const lower = addr.toLowerCase();
  const dotted = /^(?:::ffff:|::|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted) return dotted[1];
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (hex) {
    const hi = parseInt(hex[1], 16);
    const lo = parseInt(hex[2], 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  const sixToFour = /^2002:([0-9a-f]{1,4}):([0-9a-f]{1,4}):/.exec(lower);
  if (sixToFour) {
    const hi = parseInt(sixToFour[1], 16);
    const lo = parseInt(sixToFour[2], 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return null;
}

/** True for addresses a default download refuses (see the top of this file). */
export function isNonPublicAddress(addr: string): boolean {
  const family = isIP(addr);
  if (family === 4) return BLOCKED.check(addr, 'ipv4');
  if (family === 6) {
    const v4 = embeddedIpv4(addr);
    if (v4 && isIP(v4) === 4 && BLOCKED.check(v4, 'ipv4')) return true;
    return BLOCKED.check(addr, 'ipv6');
  }
  return true;
}

interface Resolved {
  address: string;
  family: 4 | 6;
}

async function resolveTarget(url: URL, field: string, opts: FetchImageOptions): Promise<Resolved> {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let addrs: Resolved[];
  const literal = isIP(host);
  if (literal) addrs = [{ address: host, family: literal as 4 | 6 }];
  else {
    try {
      addrs = (await dnsLookup(host, { all: true, verbatim: true })).map((a) => ({ address: a.address, family: a.family as 4 | 6 }));
    } catch (err) {
      throw new WanError('E_INVALID_ARGUMENT', `${field}: the host "${host}" of ${redact(url)} cannot be resolved (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
    }
  }
  if (addrs.length === 0) throw new WanError('E_INVALID_ARGUMENT', `${field}: the host "${host}" has no address`);
  if (!opts.allowPrivateNetwork) {
    const blocked = addrs.find((a) => isNonPublicAddress(a.address));
    if (blocked) {
      throw new WanError(
        'E_INVALID_ARGUMENT',
        `${field}: ${redact(url)} resolves to ${blocked.address}, a loopback, private, link-local or reserved address; images are only downloaded from public addresses (a trusted caller may set allowPrivateNetwork)`,
      );
    }
  }
  return addrs[0];
}

/** The URL as shown in messages: no credentials, no query (it may carry tokens). */
function redact(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

interface Response {
  status: number;
  location?: string;
  body?: Uint8Array;
}

function requestOnce(url: URL, target: Resolved, field: string, limits: ImageLimits, signal: AbortSignal): Promise<Response> {
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise<Response>((resolvePromise, reject) => {
    const req = mod.request(
      url,
      {
        method: 'GET',
        signal,
        headers: { accept: 'image/png,image/jpeg,image/webp,*/*;q=0.5', 'user-agent': 'wan-video' },
        // Connect to the address that was checked, whatever a second DNS answer would say.
        lookup: ((_host: string, options: { all?: boolean }, cb: (...args: unknown[]) => void) => {
          if (options?.all) cb(null, [{ address: target.address, family: target.family }]);
          else cb(null, target.address, target.family);
        }) as unknown as LookupFunction,
      },
      (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 300 && status < 400 && res.headers.location) {
          res.resume();
          resolvePromise({ status, location: res.headers.location });
          return;
        }
        if (status < 200 || status >= 300) {
          res.resume();
          resolvePromise({ status });
          return;
        }
        const declared = Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > limits.maxBytes) {
          res.destroy();
          reject(new WanError('E_INVALID_ARGUMENT', `${field}: ${redact(url)} is ${fmtBytes(declared)}, more than the image limit of ${fmtBytes(limits.maxBytes)}`));
          return;
        }
        const chunks: Buffer[] = [];
        let total = 0;
        res.on('data', (chunk: Buffer) => {
          total += chunk.length;
          if (total > limits.maxBytes) {
            res.destroy();
            reject(new WanError('E_INVALID_ARGUMENT', `${field}: ${redact(url)} sent more than the image limit of ${fmtBytes(limits.maxBytes)}`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => resolvePromise({ status, body: new Uint8Array(Buffer.concat(chunks)) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** The bytes an http(s) URL serves, within the limits; every failure is an E_INVALID_ARGUMENT naming `field`. */
export async function fetchImageBytes(rawUrl: string, field: string, opts: FetchImageOptions = {}): Promise<Uint8Array> {
  const limits = opts.limits ?? IMAGE_LIMITS;
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new WanError('E_INVALID_ARGUMENT', `${field}: not a valid URL`);
  }
  const timeout = AbortSignal.timeout(limits.fetchTimeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  for (let redirects = 0; ; redirects++) {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new WanError('E_INVALID_ARGUMENT', `${field}: only http and https URLs are downloaded (got ${url.protocol})`);
    }
    const target = await resolveTarget(url, field, opts);
    let res: Response;
    try {
      res = await requestOnce(url, target, field, limits, signal);
    } catch (err) {
      if (err instanceof WanError) throw err;
      if (opts.signal?.aborted) throw new WanError('E_CANCELLED', `${field}: the download was cancelled`, { cause: err });
      if (timeout.aborted) {
        throw new WanError('E_INVALID_ARGUMENT', `${field}: ${redact(url)} did not arrive within ${limits.fetchTimeoutMs / 1000} s`, { cause: err });
      }
      throw new WanError('E_INVALID_ARGUMENT', `${field}: ${redact(url)} could not be downloaded (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
    }
    if (res.body) return res.body;
    if (res.location !== undefined) {
      if (redirects >= limits.maxRedirects) {
        throw new WanError('E_INVALID_ARGUMENT', `${field}: ${redact(url)} redirected more than ${limits.maxRedirects} times`);
      }
      url = new URL(res.location, url);
      continue;
    }
    throw new WanError('E_INVALID_ARGUMENT', `${field}: ${redact(url)} answered HTTP ${res.status}`);
  }
}
