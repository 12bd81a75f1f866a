// Shared checks for the native search tests: compare two top-k results.
import { expect } from 'vitest';

import type { SearchResult } from '../../core/native/index.js';

/** Asserts identical ids and bit-identical scores, row by row. */
export function expectIdentical(actual: SearchResult, expected: SearchResult): void {
  expect(Array.from(actual.ids)).toEqual(Array.from(expected.ids));
  expect(Array.from(actual.scores)).toEqual(Array.from(expected.scores));
}

/**
 * Asserts bit-identical scores and the same ids, where rows with exactly equal scores may come in
 * another order (FAISS's heap orders exact ties as it happens to pop them; we order them by
 * insertion), and where a group of exactly tied rows is cut by k, which of them make the cut is
 * arbitrary in FAISS (we keep the earliest): there only the scores must agree.
 */
export function expectIdenticalUpToTieOrder(actual: SearchResult, expected: SearchResult, k: number): void {
  expect(Array.from(actual.scores)).toEqual(Array.from(expected.scores));
  for (let q = 0; q < actual.ids.length / k; q++) {
    for (let i = q * k; i < q * k + k;) {
      let end = i + 1;
      while (end < q * k + k && expected.scores[end] === expected.scores[i]) end++;
      const sorted = (a: BigInt64Array) => Array.from(a.subarray(i, end)).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
      if (end < q * k + k) expect(sorted(actual.ids)).toEqual(sorted(expected.ids));
      i = end;
    }
  }
}

/**
 * Asserts the same top-k within `tolerance` on scores, where two results may only differ in the
 * order (or choice) of ids whose scores lie within `tolerance` of each other.
 */
export function expectSameWithin(actual: SearchResult, expected: SearchResult, k: number, tolerance: number): void {
  expect(actual.ids.length).toBe(expected.ids.length);
  for (let i = 0; i < actual.ids.length; i++) {
    expect(Math.abs((actual.scores[i] as number) - (expected.scores[i] as number))).toBeLessThanOrEqual(tolerance);
  }
  for (let q = 0; q < actual.ids.length / k; q++) {
    const kth = expected.scores[q * k + k - 1] as number;
    for (let i = q * k; i < q * k + k; i++) {
      // A row clearly inside the top-k must be present in both.
      if ((expected.scores[i] as number) > kth + tolerance) {
        expect(actual.ids.subarray(q * k, q * k + k)).toContain(expected.ids[i]);
      }
    }
  }
}
