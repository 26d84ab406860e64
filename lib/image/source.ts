// The forms a conditioning image may take in a request, told apart without reading anything:
// an http(s) URL, a `data:image/...;base64,` URI, plain base64 of a PNG/JPEG/WebP file, a `file:`
// URL or a local path, or raw RGB pixels {data, width, height}. The schemas validate with this and
// lib/image/load.ts loads with it, so both agree on what a string means.

/** Base64 of the first bytes of a PNG, a JPEG and a RIFF (WebP) file, with the media type. */
export const BASE64_IMAGE_MAGIC: ReadonlyArray<readonly [string, string]> = [
  ['iVBORw0KGgo', 'image/png'],
  ['/9j/', 'image/jpeg'],
  ['UklGR', 'image/webp'],
];

export const HTTP_URL = /^https?:\/\//i;
/** `data:image/png;base64,...` (parameters such as `;charset=` allowed before `;base64`). */
export const DATA_URI = /^data:(image\/(?:png|jpeg|jpg|webp))((?:;[a-z0-9=.+-]+)*);base64,/i;
const BASE64_BODY = /^[A-Za-z0-9+/\r\n]+={0,2}\s*$/;

export type ImageStringKind =
  | { kind: 'url'; url: string }
  | { kind: 'data-uri'; mime: string; base64: string }
  | { kind: 'base64'; mime: string; base64: string }
  | { kind: 'path'; path: string }
  | { kind: 'invalid'; expected: string };

/** Why a server refuses an image string that names a file: files on the server are not the client's to read. */
export const SERVER_FILE_REFUSED = 'a file on the server cannot be named in a request: pass an http(s) URL, a data URI or base64';

export const IMAGE_STRING_EXPECTED = 'an http(s) URL, a data:image/png|jpeg|webp;base64 URI, base64 of a PNG/JPEG/WebP file, or a file path';

/** What an image string is. Plain base64 is recognised by the magic bytes of the formats decoded. */
export function classifyImageString(s: string): ImageStringKind {
  const t = s.trim();
  if (t === '') return { kind: 'invalid', expected: IMAGE_STRING_EXPECTED };
  if (HTTP_URL.test(t)) return { kind: 'url', url: t };
  if (/^data:/i.test(t)) {
    const m = DATA_URI.exec(t);
    if (!m) return { kind: 'invalid', expected: 'a data URI of the form data:image/png|jpeg|webp;base64,<data>' };
    const base64 = t.slice(m[0].length);
    if (!BASE64_BODY.test(base64)) return { kind: 'invalid', expected: 'a data URI whose body is base64' };
    return { kind: 'data-uri', mime: m[1].toLowerCase(), base64 };
  }
  const magic = BASE64_IMAGE_MAGIC.find(([prefix]) => t.startsWith(prefix));
  if (magic && t.length >= 16 && BASE64_BODY.test(t)) return { kind: 'base64', mime: magic[1], base64: t };
  if (/^file:\/\//i.test(t)) {
    try {
      return { kind: 'path', path: decodeURIComponent(new URL(t).pathname) };
    } catch {
      return { kind: 'invalid', expected: 'a valid file: URL' };
    }
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(t)) return { kind: 'invalid', expected: `${IMAGE_STRING_EXPECTED} (the scheme ${t.split(':')[0]}: is not read)` };
  return { kind: 'path', path: s };
}

/** Bytes a base64 body decodes to, without decoding it. */
export function base64DecodedLength(b64: string): number {
  const body = b64.replace(/\s+/g, '');
  const pad = body.endsWith('==') ? 2 : body.endsWith('=') ? 1 : 0;
  return Math.floor((body.length * 3) / 4) - pad;
}
