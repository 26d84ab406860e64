// HTML entity decoding as the reference does it: Python's `html.unescape` (used twice by diffusers'
// prompt cleaning) and ftfy's stricter `unescape_html` (part of ftfy.fix_text). Both are written
// from their documented behaviour; the entity table is Python's (html-entities.ts).
import { html5Entities } from './html-entities.js';

// Python: numeric references with an optional ';', or up to 32 characters of a name that are not
// tab, newline, form feed, space, '<', '&', '#' or ';', then an optional ';'. The `u` flag makes
// {1,32} count code points as Python does.
const CHARREF = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

// HTML5's replacements for numeric references to C0/C1 code points: 0 and CR are special, and
// 0x80..0x9F are read as Windows-1252 (the five bytes that code page leaves undefined stay as is).
const INVALID_CHARREFS = new Map<number, string>([
  [0x00, '\ufffd'], [0x0d, '\r'],
  ...[
    0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d, 0x17d, 0x8f,
    0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
  ].map((cp, i): [number, string] => [0x80 + i, String.fromCodePoint(cp)]),
]);

/** Code points that a numeric reference may not produce: Python drops them (returns ''). */
function isInvalidCodepoint(n: number): boolean {
  return (
    (n >= 0x1 && n <= 0x8) || n === 0xb || (n >= 0xe && n <= 0x1f) || (n >= 0x7f && n <= 0x9f) ||
    (n >= 0xfdd0 && n <= 0xfdef) || (n & 0xfffe) === 0xfffe // U+xFFFE and U+xFFFF of every plane
  );
}

function numericRef(ref: string): string {
  const hex = ref[1] === 'x' || ref[1] === 'X';
  // Leading zeros are allowed and do not count; anything longer than 0x10FFFF's digits is too big
  // (Python parses it as a big integer, then maps it to U+FFFD).
  const digits = ref.slice(hex ? 2 : 1).replace(/;$/, '').replace(/^0+(?=.)/, '');
  const num = digits.length > (hex ? 6 : 7) ? Infinity : parseInt(digits, hex ? 16 : 10);
  const special = INVALID_CHARREFS.get(num);
  if (special !== undefined) return special;
  if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) return '\ufffd';
  if (isInvalidCodepoint(num)) return '';
  return String.fromCodePoint(num);
}

function namedRef(ref: string, entities: ReadonlyMap<string, string>): string {
  const whole = entities.get(ref);
  if (whole !== undefined) return whole;
  // The longest prefix that is an entity of its own (in practice one of the legacy names without
  // ';', like "&notit;" -> "¬it;"), down to two characters, as the HTML5 spec and Python do.
  const cps = Array.from(ref);
  for (let x = cps.length - 1; x > 1; x--) {
    const hit = entities.get(cps.slice(0, x).join(''));
    if (hit !== undefined) return hit + cps.slice(x).join('');
  }
  return '&' + ref;
}

/** Python's `html.unescape`: every named and numeric character reference, with HTML5's rules. */
export function pyHtmlUnescape(s: string): string {
  if (!s.includes('&')) return s;
  const entities = html5Entities();
  return s.replace(CHARREF, (_m, ref: string) => (ref[0] === '#' ? numericRef(ref) : namedRef(ref, entities)));
}

// ftfy only touches `&name;` / `&#num;` forms: '&', optional '#', 1..24 ASCII letters or digits, ';'.
const FTFY_ENTITY = /&#?[0-9A-Za-z]{1,24};/g;

let ftfyTable: Map<string, string> | undefined;

/**
 * ftfy's entity table: every HTML5 name that ends in ';', plus an all-caps spelling of each
 * lower-case name whose all-caps form means nothing to html.unescape ("&EACUTE;" -> "É"), mapped to
 * the upper-cased character(s). Keys include the '&'.
 */
function ftfyEntities(): Map<string, string> {
  if (!ftfyTable) {
    const table = new Map<string, string>();
    for (const [name, chars] of html5Entities()) {
      if (!name.endsWith(';')) continue;
      table.set('&' + name, chars);
      if (name === name.toLowerCase()) {
        const upper = '&' + name.toUpperCase();
        if (pyHtmlUnescape(upper) === upper) table.set(upper, chars.toUpperCase());
      }
    }
    ftfyTable = table;
  }
  return ftfyTable;
}

/**
 * ftfy's `unescape_html`: decodes only references that end in ';' (so "this&not that" is left
 * alone); a numeric one is decoded only when Python decodes the whole of it.
 */
export function ftfyUnescapeHtml(text: string): string {
  if (!text.includes('&')) return text;
  const table = ftfyEntities();
  return text.replace(FTFY_ENTITY, (ref) => {
    const known = table.get(ref);
    if (known !== undefined) return known;
    if (ref.startsWith('&#')) {
      const decoded = pyHtmlUnescape(ref);
      return decoded.includes(';') ? ref : decoded;
    }
    return ref;
  });
}
