// The one printable-text rule (isPrintableText) and the one way a refusal quotes the text it
// received (quoteReceived): a refused name must not reach a terminal or a log with the very
// control or format characters it was refused for.
import { describe, expect, it } from 'vitest';

import {
  isFiniteVector,
  isPositiveNumber,
  isPrintableLine,
  isPrintableText,
  quoteReceived,
  requireDay,
  requireFolderDate,
  requireLimit,
  requirePrintableText,
  requireText,
} from '../../storage/checks.js';
import { StoreInputError } from '../../storage/errors.js';

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
    for (const c of [
      '\u202e',
      '\u202a',
      '\u202b',
      '\u202c',
      '\u202d',
      '\u2066',
      '\u2067',
      '\u2068',
      '\u2069',
      '\u2028',
      '\u2029',
      '\u200b',
      '\ufeff',
    ]) {
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
    for (const value of [
      'a\u009b31mb',
      'Del\u007f',
      'Rev\u202eesrever',
      'Line\u2028sep',
      '\ufeffBom',
      'x'.repeat(201) + '\u009b',
    ]) {
      const message = refusal(() => requirePrintableText('name', value, false));
      expect(message).toMatch(/^Expected name/);
      expect(message, JSON.stringify(message)).not.toMatch(UNPRINTABLE);
    }
    const message = refusal(() => requireText('name', 'half \ud800 \u009b', false));
    expect(message).toContain('\\u009b');
    expect(message).toContain('\\ud800');
  });
});

// The rules that were written twice or more (issue 14, item 3): one place each now, and each
// still says what it expected.
describe('the shared rules', () => {
  it('takes a day only when it exists: no 2024-02-30, no 2023-02-29, no month 13', () => {
    expect(requireDay('day', '2024-02-29')).toBe('2024-02-29');
    for (const day of ['2024-02-30', '2023-02-29', '2024-13-01', '2024-04-31', '2024-3-1', 20240301]) {
      expect(() => requireDay('day', day), String(day)).toThrow(StoreInputError);
    }
    expect(refusal(() => requireDay('cutoffDay', '2024-02-30'))).toBe(
      'Expected cutoffDay to be a date YYYY-MM-DD but received "2024-02-30"',
    );
  });

  it('takes a page size of 1..1000 rows, 100 when none is given', () => {
    expect(requireLimit(undefined)).toBe(100);
    expect(requireLimit(1)).toBe(1);
    expect(requireLimit(1000)).toBe(1000);
    for (const limit of [0, 1001, 2.5, Number.NaN])
      expect(() => requireLimit(limit), String(limit)).toThrow(StoreInputError);
    expect(refusal(() => requireLimit(1001))).toBe('Expected limit to be an integer in 1..1000 but received 1001');
  });

  it('calls a vector finite only when it is a non-empty Float32Array without NaN or Infinity', () => {
    expect(isFiniteVector(new Float32Array([0, -1, 0.5]))).toBe(true);
    for (const v of [
      new Float32Array(0),
      new Float32Array([1, Number.NaN]),
      new Float32Array([Infinity]),
      [1, 2],
      new Float64Array([1]),
      null,
    ]) {
      expect(isFiniteVector(v)).toBe(false);
    }
  });

  it('calls a number positive when it is finite, above 0 and at most the maximum', () => {
    expect(isPositiveNumber(0.001)).toBe(true);
    expect(isPositiveNumber(30, 30)).toBe(true);
    for (const value of [0, -1, 31, Infinity, Number.NaN, '5', undefined])
      expect(isPositiveNumber(value, 30), String(value)).toBe(false);
  });

  it('calls a line printable when it is a string, not blank, within its length as given, without control characters', () => {
    expect(isPrintableLine('  api:alice ', 200)).toBe(true);
    expect(isPrintableLine('x'.repeat(200), 200)).toBe(true);
    for (const value of ['', '   ', 'x'.repeat(201), ` ${'x'.repeat(199)} `, 'Eve\u202e', 'a\u001bb', 42, undefined]) {
      expect(isPrintableLine(value, 200), JSON.stringify(value)).toBe(false);
    }
  });

  it("takes an image store's date in the years 0000-9999, which a YYYY-MM-DD folder can hold", () => {
    const d = new Date(Date.UTC(1900, 0, 1));
    expect(requireFolderDate('createdAt', d)).toBe(d);
    expect(refusal(() => requireFolderDate('createdAt', new Date(Number.NaN)))).toBe(
      'Expected createdAt to be a valid Date in years 0000-9999 but received an invalid Date',
    );
    expect(() => requireFolderDate('createdAt', new Date(Date.UTC(10_000, 0, 1)))).toThrow(StoreInputError);
  });
});
