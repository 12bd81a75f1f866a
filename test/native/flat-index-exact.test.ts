import { afterAll, describe, expect, it } from 'vitest';

import { bruteForceTopK } from '../../src/bench/brute-force.js';
import { randomUnitVectors, sequentialIds } from '../../src/bench/random-vectors.js';
import { FlatIndex, type SimdLevel, setSimdLevel, simdInfo } from '../../core/native/index.js';
import { expectIdentical, expectIdenticalUpToTieOrder, expectSameWithin } from './reference.js';

const detected = simdInfo().detected;
const levels: SimdLevel[] = (['scalar', 'sse2', 'avx2', 'avx512', 'neon'] as const).filter((l) => {
  const ok = setSimdLevel(l);
  setSimdLevel(detected);
  return ok;
});
afterAll(() => setSimdLevel(detected));

// Ids that are not row numbers, so a mix-up between the two shows.
function scatteredIds(n: number, salt: number): BigInt64Array {
  const ids = new BigInt64Array(n);
  for (let i = 0; i < n; i++) ids[i] = BigInt(i) * 7919n + BigInt(salt) + 1_000_000_000_000n;
  return ids;
}

describe.each([128, 512, 100])('FlatIndex at dim %i', (dim) => {
  const n = 20_000;
  const vectors = randomUnitVectors(n, dim, dim);
  const ids = scatteredIds(n, dim);
  const queries = randomUnitVectors(8, dim, dim + 1);
  const index = FlatIndex.create(dim);
  index.add(vectors, ids);

  it.each([1, 10, 50])('returns FAISS IndexFlatIP top-%i exactly, for every SIMD level', (k) => {
    const faiss = index.faissSearchSync(queries, k);
    for (const level of levels) {
      expect(setSimdLevel(level)).toBe(true);
      expectIdentical(index.searchSync(queries, k), faiss);
    }
    setSimdLevel(detected);
  });

  it('agrees with a brute-force double-precision reference', () => {
    const k = 10;
    expectSameWithin(index.searchSync(queries, k), bruteForceTopK([vectors], ids, dim, queries, k), k, 1e-5);
  });

  it('finds each stored vector as its own best match', () => {
    const probe = vectors.slice(123 * dim, 124 * dim);
    const r = index.searchSync(probe, 1);
    expect(r.ids[0]).toBe(ids[123]);
    expect(r.scores[0]).toBeCloseTo(1, 5);
  });

  it('stays exact after removes and adds', () => {
    const copy = FlatIndex.deserialize(index.serialize());
    const removed = ids.filter((_, i) => i % 3 === 0);
    expect(copy.remove(removed)).toBe(removed.length);
    expect(copy.remove(removed)).toBe(0); // already gone: ignored, nothing else removed
    const extra = randomUnitVectors(5_000, dim, dim + 2);
    copy.add(extra, sequentialIds(5_000, 1));
    expect(copy.size).toBe(n - removed.length + 5_000);
    const k = 10;
    const r = copy.searchSync(queries, k);
    expectIdentical(r, copy.faissSearchSync(queries, k));
    const gone = new Set(removed);
    for (const id of r.ids) expect(gone.has(id)).toBe(false);
  });

  it('round-trips through serialize with the same ids and results', () => {
    const copy = FlatIndex.deserialize(index.serialize(), dim);
    expect(copy.size).toBe(n);
    expect(copy.dim).toBe(dim);
    expect(Array.from(copy.ids())).toEqual(Array.from(ids));
    expectIdentical(copy.searchSync(queries, 10), index.searchSync(queries, 10));
  });

  it('answers a batch of 32 queries like 32 single queries, and like FAISS within float rounding', () => {
    const k = 5;
    const batch = randomUnitVectors(32, dim, dim + 3);
    const together = index.searchSync(batch, k);
    for (let q = 0; q < 32; q++) {
      const one = index.searchSync(batch.subarray(q * dim, (q + 1) * dim), k);
      expect(Array.from(together.ids.subarray(q * k, q * k + k))).toEqual(Array.from(one.ids));
      expect(Array.from(together.scores.subarray(q * k, q * k + k))).toEqual(Array.from(one.scores));
    }
    // From 20 queries on FAISS 1.7.3 switches to BLAS, which rounds differently.
    expectSameWithin(together, index.faissSearchSync(batch, k), k, 1e-5);
  });
});

describe('FlatIndex near ties', () => {
  const dim = 64;

  it('returns FAISS top-k exactly for vectors that differ only in the last bits', () => {
    const base = randomUnitVectors(1, dim, 5);
    const n = 3_000;
    const vectors = new Float32Array(n * dim);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < dim; j++) {
        // Each copy nudged by a few ulps in one component: scores tie to within 1e-7.
        const v = base[j] as number;
        vectors[i * dim + j] = j === i % dim ? v * (1 + ((i % 7) - 3) * 2 ** -23) : v;
      }
    }
    const index = FlatIndex.create(dim);
    index.add(vectors, sequentialIds(n));
    for (const k of [1, 5, 50]) {
      const ours = index.searchSync(base, k);
      expectIdenticalUpToTieOrder(ours, index.faissSearchSync(base, k), k);
      expectSameWithin(ours, bruteForceTopK([vectors], sequentialIds(n), dim, base, k), k, 1e-5);
    }
  });

  it('returns FAISS top-k exactly when scores differ by less than float rounding', () => {
    // Every row is the query plus noise of about 1e-7 per component: the scores differ from each
    // other by about as much as two summation orders differ, so without the shortlist margin
    // (native/search/exact_scan.cc) our SIMD ranking and FAISS's would disagree.
    const d = 512;
    const base = randomUnitVectors(1, d, 11);
    const noise = randomUnitVectors(4_000, d, 12);
    const vectors = new Float32Array(noise.length);
    for (let i = 0; i < noise.length; i++) vectors[i] = (base[i % d] as number) + (noise[i] as number) * 2e-6;
    const index = FlatIndex.create(d);
    index.add(vectors, sequentialIds(4_000));
    for (const level of levels) {
      setSimdLevel(level);
      for (const k of [1, 5, 50])
        expectIdenticalUpToTieOrder(index.searchSync(base, k), index.faissSearchSync(base, k), k);
    }
    setSimdLevel(detected);
  });

  it('ranks exact duplicates by insertion order and returns the same set as FAISS', () => {
    const v = randomUnitVectors(1, dim, 9);
    const others = randomUnitVectors(1_000, dim, 10);
    const index = FlatIndex.create(dim);
    index.add(others, sequentialIds(1_000));
    const dupes = new Float32Array(6 * dim);
    for (let i = 0; i < 6; i++) dupes.set(v, i * dim);
    index.add(dupes, sequentialIds(6, 5_000));
    const ours = index.searchSync(v, 4);
    const faiss = index.faissSearchSync(v, 4);
    expect(Array.from(ours.ids)).toEqual([5000n, 5001n, 5002n, 5003n]);
    expect(Array.from(ours.scores)).toEqual(Array.from(faiss.scores));
    for (const id of faiss.ids) expect(id >= 5000n && id < 5006n).toBe(true);
  });
});

describe('FlatIndex with fewer vectors than k', () => {
  it('pads with id -1 and score -Infinity, like an empty FAISS heap', () => {
    const dim = 16;
    const index = FlatIndex.create(dim);
    const empty = index.searchSync(randomUnitVectors(1, dim, 1), 3);
    expect(Array.from(empty.ids)).toEqual([-1n, -1n, -1n]);
    expect(Array.from(empty.scores)).toEqual([
      Number.NEGATIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
    ]);
    index.add(randomUnitVectors(2, dim, 2), sequentialIds(2, 10));
    const r = index.searchSync(randomUnitVectors(1, dim, 3), 3);
    expect(r.ids[2]).toBe(-1n);
    expect(new Set([r.ids[0], r.ids[1]])).toEqual(new Set([10n, 11n]));
    expect(Array.from(r.ids.subarray(0, 2))).toEqual(
      Array.from(index.faissSearchSync(randomUnitVectors(1, dim, 3), 2).ids),
    );
  });
});
