// API keys: required unless turned off explicitly. Each API sends its key its own way (fal:
// `Authorization: Key <k>`; Runware and Oxen: `Authorization: Bearer <k>`, Runware also in an
// `authentication` task); every scheme is accepted on every route.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { WanError } from '../errors.js';
import type { ServerConfig } from './config.js';

export interface KeyRing {
  readonly disabled: boolean;
  /** The key's name, or null when the key is unknown. */
  check(key: string | undefined): string | null;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export function loadKeys(config: ServerConfig): KeyRing {
  const entries: Array<{ name: string; hash: Buffer }> = config.auth.keys.map((k) => ({ name: k.name, hash: digest(k.key) }));
  if (config.auth.keysFile) {
    let text: string;
    try {
      text = readFileSync(config.auth.keysFile, 'utf8');
    } catch (err) {
      throw new WanError('E_INVALID_ARGUMENT', `auth.keysFile ${config.auth.keysFile}: ${(err as Error).message}`);
    }
    text.split(/\r?\n/).forEach((raw, i) => {
      const line = raw.replace(/#.*/, '').trim();
      if (!line) return;
      const colon = line.indexOf(':');
      const [name, key] = colon > 0 ? [line.slice(0, colon).trim(), line.slice(colon + 1).trim()] : [`key${i + 1}`, line];
      if (key.length < 8) throw new WanError('E_INVALID_ARGUMENT', `auth.keysFile ${config.auth.keysFile}:${i + 1}: a key must have at least 8 characters`);
      entries.push({ name, hash: digest(key) });
    });
  }
  if (!config.auth.disabled && entries.length === 0) {
    throw new WanError('E_INVALID_ARGUMENT', 'no API key: pass --api-key KEY or --keys-file FILE (or --no-auth to serve without keys, e.g. on a private network)');
  }
  return {
    disabled: config.auth.disabled,
    check(key) {
      if (config.auth.disabled) return 'anonymous';
      if (!key) return null;
      const h = digest(key);
      // Compare against every entry (constant work per key).
      let found: string | null = null;
      for (const e of entries) if (timingSafeEqual(e.hash, h) && found === null) found = e.name;
      return found;
    },
  };
}

/** The key in an Authorization header (`Key k`, `Bearer k`, or the bare key) or x-api-key. */
export function keyFromHeaders(headers: Record<string, string | string[] | undefined>): string | undefined {
  const auth = headers.authorization;
  const value = Array.isArray(auth) ? auth[0] : auth;
  if (value) {
    const m = /^(?:key|bearer)\s+(.+)$/i.exec(value.trim());
    return (m ? m[1] : value).trim();
  }
  const x = headers['x-api-key'];
  return Array.isArray(x) ? x[0] : x;
}
