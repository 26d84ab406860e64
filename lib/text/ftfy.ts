// ftfy.fix_text with its default settings (ftfy 6.x), as far as it applies to prompts: the first
// step of diffusers' Wan `prompt_clean`. Written from ftfy's documentation and character tables.
//
// Left out: `fix_encoding` (mojibake repair, with its `restore_byte_a0`, `replace_lossy_sequences` and
// `decode_inconsistent_utf8` sub-steps). ftfy only attempts it on text its "badness" heuristic (a
// large hand-tuned set of regular expressions over character classes) flags as mojibake, so it
// cannot be reproduced exactly without that heuristic; on a prompt it changes nothing unless the
// prompt holds mis-decoded UTF-8 such as "cafÃ©" (which ftfy would turn into "café" and this keeps).
// The one part of it that plain text can reach, C1 control characters read as Windows-1252, is done
// by `fix_c1_controls` below with the same result.
import { ftfyUnescapeHtml } from './html-unescape.js';

/** ftfy's `max_decode_length`: segments longer than this many code points are cut. */
const MAX_DECODE_LENGTH = 1_000_000;

// fix_c1_controls: U+0080..U+009F decoded as "sloppy" Windows-1252, where the five bytes that
// Windows-1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) decode as the same Latin-1 control.
const WINDOWS_1252_C1 = [
  0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d, 0x17d, 0x8f,
  0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
];
const fixC1Controls = (t: string): string =>
  t.replace(/[\x80-\x9f]/g, (c) => String.fromCodePoint(WINDOWS_1252_C1[c.charCodeAt(0) - 0x80]));

// fix_latin_ligatures: Latin typographic ligatures and the legacy digraph letters (ftfy's LIGATURES
// table). Ligatures of other scripts, and æ/œ, are left alone as ftfy does.
const LIGATURES: Record<string, string> = {
  '\u0132': 'IJ', '\u0133': 'ij', '\u0149': '\u02bcn',
  '\u01f1': 'DZ', '\u01f2': 'Dz', '\u01f3': 'dz',
  '\u01c4': 'D\u017d', '\u01c5': 'D\u017e', '\u01c6': 'd\u017e',
  '\u01c7': 'LJ', '\u01c8': 'Lj', '\u01c9': 'lj', '\u01ca': 'NJ', '\u01cb': 'Nj', '\u01cc': 'nj',
  '\ufb00': 'ff', '\ufb01': 'fi', '\ufb02': 'fl', '\ufb03': 'ffi', '\ufb04': 'ffl', '\ufb05': '\u017ft', '\ufb06': 'st',
};
const fixLatinLigatures = (t: string): string =>
  t.replace(/[\u0132\u0133\u0149\u01c4-\u01cc\u01f1-\u01f3\ufb00-\ufb06]/g, (c) => LIGATURES[c]);

// fix_character_width: the Halfwidth and Fullwidth Forms block (U+FF01..U+FFEF) replaced by its NFKC
// form, and the ideographic space U+3000 by a plain space. NFKC is applied to these characters only.
const fixCharacterWidth = (t: string): string =>
  t.replace(/[\u3000\uff01-\uffef]/g, (c) => (c === '\u3000' ? ' ' : c.normalize('NFKC')));

// uncurl_quotes: ftfy's two classes. Double: U+201C..U+201F (“ ” „ ‟). Single: U+02BC (ʼ) and
// U+2018..U+201B (‘ ’ ‚ ‛). Primes (′ ″) and angle quotes (« ‹) are not quotes to ftfy.
const uncurlQuotes = (t: string): string => t.replace(/[\u201c-\u201f]/g, '"').replace(/[\u02bc\u2018-\u201b]/g, "'");

// fix_line_breaks: CRLF, CR, LINE SEPARATOR, PARAGRAPH SEPARATOR and NEXT LINE become '\n'. (U+0085 has
// normally become '…' already: fix_c1_controls runs first.)
const fixLineBreaks = (t: string): string =>
  t.replace(/\r\n/g, '\n').replace(/[\r\u2028\u2029\x85]/g, '\n');

// fix_surrogates: a JS string already joins a valid surrogate pair into one character, so what
// remains for ftfy's rule is a lone surrogate, which becomes U+FFFD.
const fixSurrogates = (t: string): string =>
  t.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');

// remove_terminal_escapes: ESC '[' then digits or ';' then one ASCII letter. Python's \d in a str
// pattern is any Unicode decimal digit, hence \p{Nd}.
const removeTerminalEscapes = (t: string): string => t.replace(/\x1b\[(?:\p{Nd}|;)*[a-zA-Z]/gu, '');

// remove_control_chars: C0 controls except \t \n \f \r, DEL, the deprecated Arabic format controls
// U+206A..U+206F, the BOM U+FEFF, the interlinear annotation marks U+FFF9..U+FFFB and the object
// replacement character U+FFFC. C1 controls, joiners and bidi marks are kept.
const removeControlChars = (t: string): string =>
  t.replace(/[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/g, '');

/** One segment, fixed until nothing changes (ftfy's fix_and_explain loop, without fix_encoding). */
function fixSegment(text: string, unescapeHtml: boolean): string {
  for (;;) {
    const before = text;
    if (unescapeHtml) text = ftfyUnescapeHtml(text);
    text = fixC1Controls(text);
    text = fixLatinLigatures(text);
    text = fixCharacterWidth(text);
    text = uncurlQuotes(text);
    text = fixLineBreaks(text);
    text = fixSurrogates(text);
    text = removeTerminalEscapes(text);
    text = removeControlChars(text);
    text = text.normalize('NFC');
    if (text === before) return text;
  }
}

/** Cut `text` into ftfy's segments: lines (each keeps its '\n'), at most MAX_DECODE_LENGTH code points. */
function segments(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split(/(?<=\n)/)) {
    if (line.length <= MAX_DECODE_LENGTH) {
      out.push(line); // UTF-16 length bounds the code point count from above
      continue;
    }
    const cps = Array.from(line);
    for (let i = 0; i < cps.length; i += MAX_DECODE_LENGTH) out.push(cps.slice(i, i + MAX_DECODE_LENGTH).join(''));
  }
  return out;
}

/**
 * ftfy.fix_text(text) with the default configuration (see the file comment for what is left out).
 * HTML entities are decoded ('auto') until the first segment that contains a '<': from there on the
 * text is taken to be HTML and entities are left alone, as ftfy does.
 */
export function ftfyFixText(text: string): string {
  let unescapeHtml = true;
  let out = '';
  for (const segment of segments(text)) {
    if (segment.includes('<')) unescapeHtml = false;
    out += fixSegment(segment, unescapeHtml);
  }
  return out;
}
