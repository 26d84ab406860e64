// Prompt cleaning: diffusers' prompt_clean (ftfy.fix_text, html.unescape twice, whitespace collapsed).
// Expected values come from the reference fixtures, ftfy's own documented examples and tests, and
// CPython's html.unescape rules.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { cleanPrompt, ftfyFixText, ftfyUnescapeHtml, pyHtmlUnescape } from '../../lib/text/clean.js';
import { readManifest } from '../../lib/conformance/manifest.js';
import { fixturesRoot } from '../helpers/paths.js';

const CASES = join(fixturesRoot, 'cases', 'tokenizer');
const caseNames = readdirSync(CASES).sort();

describe('cleanPrompt on the reference cases', () => {
  it('has the tokenizer cases', () => {
    expect(caseNames.length).toBeGreaterThanOrEqual(14);
  });

  it.each(caseNames)('%s: params.cleaned', async (name) => {
    const m = await readManifest(join(CASES, name, 'manifest.json'));
    expect(cleanPrompt(m.params.text as string)).toBe(m.params.cleaned);
  });
});

describe('ftfy fixes', () => {
  it('splits Latin ligatures and legacy digraphs, leaving æ/œ', () => {
    expect(cleanPrompt('ﬂuﬃeﬆ')).toBe('fluffiest');
    expect(cleanPrompt('ﬀ ﬁ ﬂ ﬃ ﬄ ﬅ ﬆ')).toBe('ff fi fl ffi ffl \u017ft st');
    expect(cleanPrompt('Ĳssel ĳs Ǳ ǲ ǳ Ǆ ǅ ǆ Ǉ ǈ ǉ Ǌ ǋ ǌ')).toBe('IJssel ijs DZ Dz dz DŽ Dž dž LJ Lj lj NJ Nj nj');
    expect(cleanPrompt('æ œ Æ')).toBe('æ œ Æ');
    // ŉ becomes ʼn, whose apostrophe is then straightened in the same pass.
    expect(cleanPrompt('\u0149')).toBe("'n");
  });

  it('folds full-width and half-width forms, and the ideographic space', () => {
    expect(cleanPrompt('ＬＯＵＤ　ＮＯＩＳＥＳ')).toBe('LOUD NOISES');
    // Half-width katakana and the half-width voiced mark recompose under NFC.
    expect(cleanPrompt('Ｕﾀｰﾝ')).toBe('Uターン');
    expect(cleanPrompt('ｶﾞ')).toBe('\u30ac');
    expect(cleanPrompt('￥１００，０００！')).toBe('¥100,000!');
    // Only that block: other compatibility characters (①, ², ™, …) are not NFKC-folded.
    expect(cleanPrompt('① x² ™ … ½')).toBe('① x² ™ … ½');
  });

  it("straightens ftfy's curly quotes only", () => {
    expect(cleanPrompt('\u201chere\u2019s a test\u201d')).toBe('"here\'s a test"');
    expect(cleanPrompt('\u201c\u201d\u201e\u201f')).toBe('""""');
    expect(cleanPrompt('\u2018\u2019\u201a\u201b\u02bc')).toBe("'''''");
    expect(cleanPrompt('\u2032 \u2033 « » ‹ › \u300c\u300d')).toBe('\u2032 \u2033 « » ‹ › \u300c\u300d');
  });

  it('reads C1 controls as Windows-1252 and keeps the undefined ones', () => {
    expect(cleanPrompt('\x80 5')).toBe('€ 5');
    expect(cleanPrompt('\x93quoted\x94')).toBe('"quoted"'); // “ ” then uncurled
    expect(cleanPrompt('\x97 \x99')).toBe('— ™');
    expect(cleanPrompt('broken\x81')).toBe('broken\x81');
    // NEXT LINE is a C1 control first: it becomes '…', not a line break (nor whitespace).
    expect(cleanPrompt('a\x85b')).toBe('a…b');
  });

  it("removes ftfy's control characters and keeps whitespace controls, joiners and bidi marks", () => {
    expect(cleanPrompt('a\x00b\x07c\x7fd\ufeffe\u206af\ufffcg\ufff9h')).toBe('abcdefgh');
    // \v and the information separators are removed by ftfy before \s could turn them into spaces.
    expect(cleanPrompt('a\x0bb\x1cc\x1fd')).toBe('abcd');
    expect(cleanPrompt('a\x0cb\tc')).toBe('a b c');
    expect(cleanPrompt('a\u200db\u200ec\u202ad')).toBe('a\u200db\u200ec\u202ad');
    expect(ftfyFixText('\ufeffSometimes, \ufffcbad ideas \x7f\ufffalike these characters\ufffb \u206aget standardized.\r\n'))
      .toBe('Sometimes, bad ideas like these characters get standardized.\n');
  });

  it('removes terminal escapes', () => {
    expect(cleanPrompt("\x1b[36;44mI'm blue, da ba dee\x1b[0m")).toBe("I'm blue, da ba dee");
    expect(ftfyFixText('\x01\x1b[36;44mfoo')).toBe('foo');
    // ESC '[' and a letter is a (parameterless) escape; an ESC that starts none is a control character.
    expect(cleanPrompt('a\x1b[bc')).toBe('ac');
    expect(cleanPrompt('a\x1b[1;2 b')).toBe('a[1;2 b');
  });

  it('fixes line breaks, lone surrogates and applies NFC', () => {
    expect(ftfyFixText('a\r\nb\rc\u2028d\u2029e')).toBe('a\nb\nc\nd\ne');
    expect(ftfyFixText('a\ud800b\udc00c')).toBe('a\ufffdb\ufffdc');
    expect(ftfyFixText('\ud83d\udca9')).toBe('💩');
    expect(cleanPrompt('Cafe\u0301')).toBe('Caf\u00e9');
  });

  it('leaves mojibake alone (fix_encoding is not implemented)', () => {
    expect(cleanPrompt('cafÃ©')).toBe('cafÃ©');
  });
});

describe('HTML entities', () => {
  it("ftfy's unescape_html: ';'-terminated names, all-caps aliases, numeric references", () => {
    expect(ftfyUnescapeHtml('&Jscr;ohn &HilbertSpace;ancock')).toBe('𝒥ohn ℋancock');
    expect(ftfyUnescapeHtml('P&EACUTE;REZ')).toBe('PÉREZ');
    expect(ftfyUnescapeHtml('BUNDESSTRA&SZLIG;E')).toBe('BUNDESSTRASSE');
    expect(ftfyUnescapeHtml('&ntilde; &Ntilde; &NTILDE; &nTILDE;')).toBe('ñ Ñ Ñ &nTILDE;');
    expect(ftfyUnescapeHtml('EURO &EURO; &#x80;')).toBe('EURO € €');
    expect(ftfyUnescapeHtml('not an entity &#20x6;')).toBe('not an entity &#20x6;');
    expect(ftfyUnescapeHtml('&#xffff;')).toBe('');
    expect(ftfyUnescapeHtml('&#xffffffff;')).toBe('\ufffd');
    expect(ftfyUnescapeHtml('this&not that &amp')).toBe('this&not that &amp');
  });

  it("Python's html.unescape: legacy names without ';', longest prefix, HTML5 numeric rules", () => {
    expect(pyHtmlUnescape('&amp &lt3 &notit; &notin; &ampxyz')).toBe('& <3 ¬it; ∉ &xyz');
    expect(pyHtmlUnescape('&#39;&#x27;&#X27&#65')).toBe("''" + "'A");
    expect(pyHtmlUnescape('&#128;&#x9F;&#x81;')).toBe('€Ÿ\x81');
    expect(pyHtmlUnescape('&#0;&#13;&#x110000;&#xD800;&#99999999999999999999;')).toBe('\ufffd\r\ufffd\ufffd\ufffd');
    expect(pyHtmlUnescape('a&#1;b&#x7f;c&#xFDD0;d&#x1FFFE;e')).toBe('abcde');
    expect(pyHtmlUnescape('&#0000065;&#x0000041;')).toBe('AA');
    expect(pyHtmlUnescape('&acE; &bne;')).toBe('\u223e\u0333 =\u20e5');
    expect(pyHtmlUnescape('&unknown; & &;')).toBe('&unknown; & &;');
  });

  it('ftfy unescapes to a fixed point, then Python unescapes twice more', () => {
    expect(cleanPrompt('&amp;amp;amp;amp;')).toBe('&');
    expect(cleanPrompt('it&#x2019;s')).toBe("it's");
    expect(cleanPrompt('ellipsis&#133;')).toBe('ellipsis…');
    expect(cleanPrompt('this&not that')).toBe('this¬ that'); // by html.unescape, not ftfy
    expect(cleanPrompt('&#13;x&#1;y')).toBe('xy');
  });

  it("ftfy leaves entities alone from the first line holding '<'", () => {
    // Unescaped only by html.unescape (twice), after ftfy: the curly quotes stay curly.
    expect(cleanPrompt('<p>&#8220;hi&#8221;</p>')).toBe('<p>\u201chi\u201d</p>');
    expect(cleanPrompt('< &amp;amp;amp;')).toBe('< &amp;');
    expect(cleanPrompt('&#8220;a&#8221;\n<b> &#8220;c&#8221;')).toBe('"a" <b> \u201cc\u201d');
    expect(cleanPrompt('<b>\n&#8220;c&#8221;')).toBe('<b> \u201cc\u201d');
    expect(ftfyFixText('&amp;\n<html>\n&amp;')).toBe('&\n<html>\n&amp;');
  });
});

describe('whitespace', () => {
  it("collapses Python's \\s set and strips", () => {
    expect(cleanPrompt(' \t a\u00a0\u2003b\u1680c\u202fd\u205fe\u3000f\u2028g\u2029h\r\n ')).toBe('a b c d e f g h');
    expect(cleanPrompt('\n\n')).toBe('');
    expect(cleanPrompt(' ')).toBe('');
    expect(cleanPrompt('')).toBe('');
  });

  it('keeps what Python does not call whitespace', () => {
    expect(cleanPrompt('a\u200bb\u180ec\u2060d')).toBe('a\u200bb\u180ec\u2060d');
  });
});
