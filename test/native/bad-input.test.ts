import { describe, expect, it } from 'vitest';

import { randomUnitVectors, sequentialIds } from '../../src/bench/random-vectors.js';
import { FlatIndex, MAX_K } from '../../core/native/index.js';

const dim = 8;

function filledIndex(): FlatIndex {
  const index = FlatIndex.create(dim);
  index.add(randomUnitVectors(100, dim, 1), sequentialIds(100));
  return index;
}

describe('FlatIndex refuses bad input with a clear error and keeps its state', () => {
  it('refuses vectors whose length is not a multiple of dim', () => {
    const index = filledIndex();
    expect(() => index.add(new Float32Array(12), sequentialIds(1))).toThrow(
      /Expected vectors to hold whole vectors of dim 8 .* but received a Float32Array of length 12/,
    );
    expect(index.size).toBe(100);
  });

  it('refuses a number of ids that differs from the number of vectors', () => {
    const index = filledIndex();
    expect(() => index.add(randomUnitVectors(2, dim, 2), sequentialIds(3, 500))).toThrow(
      /Expected one id per vector \(2\) but received a BigInt64Array of length 3/,
    );
    expect(index.size).toBe(100);
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY])('refuses %s in added vectors and adds none of the batch', (bad) => {
    const index = filledIndex();
    const vectors = randomUnitVectors(3, dim, 3);
    vectors[2 * dim + 5] = bad;
    expect(() => index.add(vectors, sequentialIds(3, 500))).toThrow(
      /expected finite numbers in vectors but vector 2, component 5 is (NaN|infinite)/,
    );
    expect(index.size).toBe(100);
  });

  it('refuses NaN in a query', () => {
    const q = randomUnitVectors(1, dim, 4);
    q[0] = Number.NaN;
    expect(() => filledIndex().searchSync(q, 1)).toThrow(
      /expected finite numbers in queries but vector 0, component 0 is NaN/,
    );
  });

  it('rejects the promise of an async search with bad input instead of throwing', async () => {
    const q = randomUnitVectors(1, dim, 4);
    q[3] = Number.NEGATIVE_INFINITY;
    await expect(filledIndex().search(q, 1)).rejects.toThrow(/component 3 is infinite/);
    await expect(filledIndex().search(q, 0)).rejects.toThrow(/Expected an integer in 1\.\.4096 for k but received 0/);
  });

  it.each([0, -1, 1.5, MAX_K + 1, 1e12, Number.NaN])('refuses k = %s', (k) => {
    expect(() => filledIndex().searchSync(randomUnitVectors(1, dim, 5), k)).toThrow(
      new RegExp(`Expected an integer in 1\\.\\.${MAX_K} for k but received`),
    );
  });

  it('refuses an empty query and a query of the wrong dimension', () => {
    const index = filledIndex();
    expect(() => index.searchSync(new Float32Array(0), 1)).toThrow(/one or more whole vectors of dim 8/);
    expect(() => index.searchSync(new Float32Array(7), 1)).toThrow(/received a Float32Array of length 7/);
  });

  it('refuses an id already in the index, and ids repeated in one batch, adding none', () => {
    const index = filledIndex();
    expect(() => index.add(randomUnitVectors(2, dim, 6), new BigInt64Array([1000n, 42n]))).toThrow(
      /expected new ids but id 42 is already in the index/,
    );
    expect(() => index.add(randomUnitVectors(2, dim, 6), new BigInt64Array([1000n, 1000n]))).toThrow(
      /expected distinct ids but id 1000 appears twice in the batch/,
    );
    expect(index.size).toBe(100);
    expect(Array.from(index.ids())).toEqual(Array.from(sequentialIds(100)));
  });

  it('refuses negative ids (FAISS uses -1 for "no result")', () => {
    const index = filledIndex();
    expect(() => index.add(randomUnitVectors(1, dim, 7), new BigInt64Array([-1n]))).toThrow(
      /expected ids >= 0 but id -1/,
    );
    expect(index.size).toBe(100);
  });

  it('refuses the wrong array types, saying what it received', () => {
    const index = filledIndex();
    expect(() => index.add([1, 2] as unknown as Float32Array, sequentialIds(1))).toThrow(
      /Expected a Float32Array for vectors but received an Array of length 2/,
    );
    expect(() => index.add(randomUnitVectors(1, dim, 8), [1n] as unknown as BigInt64Array)).toThrow(
      /Expected a BigInt64Array for ids but received an Array of length 1/,
    );
    expect(() => index.remove(new Int32Array(1) as unknown as BigInt64Array)).toThrow(
      /Expected a BigInt64Array for ids but received a Int32Array of length 1/,
    );
  });

  it.each([0, -3, 2.5, 70_000])('refuses dim = %s when creating an index', (bad) => {
    expect(() => FlatIndex.create(bad)).toThrow(/Expected an integer in 1\.\.65536 for dim but received/);
  });
});

describe('FlatIndex.deserialize refuses bytes that are not a whole index', () => {
  const bytes = filledIndex().serialize();

  it('refuses truncated bytes at any length', () => {
    for (const length of [0, 10, 39, 40, 41, bytes.length / 2, bytes.length - 1]) {
      expect(() => FlatIndex.deserialize(bytes.subarray(0, Math.floor(length)))).toThrow(
        /not a valid serialized FlatIndex: expected/,
      );
    }
  });

  it('refuses garbage and foreign bytes', () => {
    expect(() => FlatIndex.deserialize(Buffer.from('this is not an index at all, just some text'))).toThrow(
      /expected the magic bytes FGIX/,
    );
    const random = Buffer.from(randomUnitVectors(200, 8, 9).buffer);
    expect(() => FlatIndex.deserialize(random)).toThrow(/not a valid serialized FlatIndex/);
  });

  it('refuses a payload with a flipped byte (checksum)', () => {
    const corrupted = Buffer.from(bytes);
    corrupted[corrupted.length - 100] = (corrupted[corrupted.length - 100] as number) ^ 0x40;
    expect(() => FlatIndex.deserialize(corrupted)).toThrow(/checksum mismatch/);
  });

  it('refuses an index of another dimension than expected', () => {
    expect(() => FlatIndex.deserialize(bytes, 512)).toThrow(
      /Expected a serialized index of dim 512 but received one of dim 8/,
    );
  });

  it('refuses what is not a Buffer', () => {
    expect(() => FlatIndex.deserialize('FGIX' as unknown as Buffer)).toThrow(
      /Expected a Buffer or Uint8Array to deserialize but received a string of length 4/,
    );
  });

  it('still loads the intact bytes', () => {
    expect(FlatIndex.deserialize(bytes, dim).size).toBe(100);
  });
});
