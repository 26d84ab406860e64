// Prompt cleaning, as diffusers' Wan pipelines do it before tokenizing (`prompt_clean`):
//
//   basic_clean:      ftfy.fix_text(text); html.unescape(html.unescape(text)); strip()
//   whitespace_clean: re.sub(r"\s+", " ", text).strip()
//
// The two unescapes run after ftfy and nothing fixes their output again: "&#8220;" in a text that
// ftfy leaves escaped (because it contains '<') comes out as a curly quote, as in the reference.
import { ftfyFixText } from './ftfy.js';
import { pyHtmlUnescape } from './html-unescape.js';

export { ftfyFixText } from './ftfy.js';
export { ftfyUnescapeHtml, pyHtmlUnescape } from './html-unescape.js';

// Python's \s in a str pattern (and str.strip()): the characters str.isspace() accepts. Unlike JS's
// \s this includes the information separators U+001C..U+001F and NEXT LINE U+0085, and excludes the
// BOM U+FEFF.
const PY_WHITESPACE_RUN = /[\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/g;

/** diffusers' Wan `prompt_clean`: ftfy fixes, HTML unescaped twice, whitespace collapsed and stripped. */
export function cleanPrompt(text: string): string {
  const unescaped = pyHtmlUnescape(pyHtmlUnescape(ftfyFixText(text)));
  // Collapsing every run to one space leaves at most one space at either end for strip() to remove.
  const collapsed = unescaped.replace(PY_WHITESPACE_RUN, ' ');
  return collapsed.slice(collapsed.startsWith(' ') ? 1 : 0, collapsed.endsWith(' ') ? -1 : undefined);
}
