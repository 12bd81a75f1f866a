// The one printable-text rule (isPrintableText) and the one way a refusal quotes the text it
// received (quoteReceived): a refused name must not reach a terminal or a log with the very
// control or format characters it was refused for.
import { describe, expect, it } from 'vitest';

import { isPrintableText, quoteReceived, requirePrintableText, requireText } from '../../storage/checks.js';

// C0, DEL, C1 (U+009B: CSI), bidi overrides/embeddings/isolates, separators, ZWSP, BOM.
// eslint-disable-next-line no-control-regex -- raw control characters are what must not appear
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u200b\u2028-\u202e\u2066-\u2069\ufeff]/;

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('Expected a refusal but the value was accepted');
}

describe('isPrintableText', () => {
  it('refuses bidi controls, line/paragraph separators, zero-width space and BOM', () => {
    for (const c of ['\u202e', '\u202a', '\u202b', '\u202c', '\u202d', '\u2066', '\u2067', '\u2068', '\u2069', '\u2028', '\u2029', '\u200b', '\ufeff']) {
      expect(isPrintableText(`Ev${c}e`), `U+${c.codePointAt(0)?.toString(16)}`).toBe(false);
    }
  });

  it('keeps ZWNJ, ZWJ, LRM and RLM, which Persian and Indic names need, and ordinary scripts', () => {
    for (const name of ['می\u200cخواهم', 'क्\u200dष', 'a\u200eb', 'a\u200fb', 'Zoë Ångström', '李小龍', 'Ōtani 🙂']) {
      expect(isPrintableText(name), name).toBe(true);
    }
  });
});

describe('quoteReceived', () => {
  it('is JSON.stringify with every unprintable character escaped as \\uXXXX', () => {
    expect(quoteReceived('a\u009bb')).toBe('"a\\u009bb"');
    expect(quoteReceived('a\u007fb\u202e')).toBe('"a\\u007fb\\u202e"');
    expect(quoteReceived('\u001b[31m')).toBe('"\\u001b[31m"');
    expect(quoteReceived('Zoë "Z" \u200c')).toBe('"Zoë \\"Z\\" \u200c"');
    expect(quoteReceived('\ud800x')).toBe('"\\ud800x"');
    expect(quoteReceived(42)).toBe('42');
    expect(quoteReceived(undefined)).toBe('undefined');
  });

  it('is what requireText and requirePrintableText quote: no raw control or format character in the message', () => {
    for (const value of ['a\u009b31mb', 'Del\u007f', 'Rev\u202eesrever', 'Line\u2028sep', '\ufeffBom', 'x'.repeat(201) + '\u009b']) {
      const message = refusal(() => requirePrintableText('name', value, false));
      expect(message).toMatch(/^Expected name/);
      expect(message, JSON.stringify(message)).not.toMatch(UNPRINTABLE);
    }
    const message = refusal(() => requireText('name', 'half \ud800 \u009b', false));
    expect(message).toContain('\\u009b');
    expect(message).toContain('\\ud800');
  });
});
