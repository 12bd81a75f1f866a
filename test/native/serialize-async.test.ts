// FlatIndex.serializeAsync: the same bytes as serialize(), made on libuv's thread pool so that the
// event loop and searches keep going while a large index is saved; and the byte format unchanged
// by the faster serialisation (one copy, slicing-by-8 CRC-32), checked against a file written by
// the addon before it and against zlib's own CRC-32.
import { pbkdf2 } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';

import { beforeAll, describe, expect, it } from 'vitest';

import { randomUnitVectors, sequentialIds } from '../../src/bench/random-vectors.js';
import { FlatIndex } from '../../core/native/index.js';
import { expectIdentical } from './reference.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const HEADER = 40;

/** The header's CRC-32 field and zlib's CRC-32 of the payload. */
function crcs(bytes: Buffer): { stored: number; zlib: number } {
  return { stored: bytes.readUInt32LE(32), zlib: crc32(bytes.subarray(HEADER)) };
}

describe('the serialized format is unchanged', () => {
  // Written by the addon before serializeAsync (and its single-copy writer and CRC) existed:
  // 37 vectors of dim 24 with ids 1000, 1007, ... and 3 removed (a 3,626-byte payload, not a
  // multiple of 8, so the CRC's byte-wise tail runs too).
  const fixture = readFileSync(path.join(here, 'fixtures', 'flat-index-v1.bin'));

  it('loads a snapshot written before the change and writes it back byte for byte', async () => {
    const index = FlatIndex.deserialize(fixture, 24);
    const ids = Array.from({ length: 37 }, (_, i) => BigInt(1000 + i * 7));
    expect(Array.from(index.ids())).toEqual(ids.filter((id) => ![1007n, 1070n, 1252n].includes(id)));
    expect(index.serialize().equals(fixture)).toBe(true);
    expect((await index.serializeAsync()).equals(fixture)).toBe(true);
  });

  it('stores the CRC-32 zlib computes, empty index included', async () => {
    expect(crcs(fixture).stored).toBe(crcs(fixture).zlib);
    const index = FlatIndex.create(3);
    for (let n = 0; n < 12; n++) {
      // Each vector adds 20 bytes (12 + an 8-byte id): payloads 2 and 6 mod 8, so the CRC's
      // eight-byte steps end with a tail of either length (FAISS's output grows by 4s).
      if (n > 0) index.add(randomUnitVectors(1, 3, n), sequentialIds(1, n));
      const sync = index.serialize();
      const { stored, zlib } = crcs(sync);
      expect(stored).toBe(zlib);
      expect((await index.serializeAsync()).equals(sync)).toBe(true);
      expect(FlatIndex.deserialize(sync).size).toBe(n);
    }
  });

  it('still refuses a payload whose checksum does not match', () => {
    const corrupted = Buffer.from(fixture);
    corrupted[HEADER + 1000] = (corrupted[HEADER + 1000] as number) ^ 0x10;
    expect(() => FlatIndex.deserialize(corrupted)).toThrow(/payload checksum mismatch/);
  });
});

describe('FlatIndex.serializeAsync at 100,000 x 512', () => {
  const dim = 512;
  const n = 100_000;
  let index: FlatIndex;
  let queries: Float32Array;
  let expected: Buffer;

  beforeAll(() => {
    index = FlatIndex.create(dim);
    for (let first = 0; first < n; first += 25_000) {
      index.add(randomUnitVectors(25_000, dim, first + 1), sequentialIds(25_000, first));
    }
    queries = randomUnitVectors(4, dim, 99);
    expected = index.serialize();
  });

  it('returns the same bytes as serialize(), which load back', async () => {
    const bytes = await index.serializeAsync();
    expect(bytes.length).toBe(expected.length);
    expect(bytes.equals(expected)).toBe(true);
    const { stored, zlib } = crcs(bytes);
    expect(stored).toBe(zlib);
    const back = FlatIndex.deserialize(bytes, dim);
    expect(back.size).toBe(n);
    expectIdentical(back.searchSync(queries, 5), index.searchSync(queries, 5));
  });

  it('keeps the event loop turning: a 10 ms interval fires while it runs (and not during serialize())', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    try {
      await index.serializeAsync();
      const during = ticks;
      // Hundreds of milliseconds of copying and checksumming on two cores, none on this thread.
      expect(during).toBeGreaterThanOrEqual(3);
      ticks = 0;
      index.serialize();
      await Promise.resolve();
      expect(ticks).toBe(0);
    } finally {
      clearInterval(timer);
    }
  });

  it('lets searches answer, correctly, while it runs', async () => {
    const reference = index.searchSync(queries, 5);
    let settled = false;
    const saving = index.serializeAsync().finally(() => {
      settled = true;
    });
    let answeredDuring = 0;
    while (!settled) {
      const result = await index.search(queries, 5);
      expectIdentical(result, reference);
      if (!settled) answeredDuring++;
    }
    expect((await saving).equals(expected)).toBe(true);
    expect(answeredDuring).toBeGreaterThanOrEqual(1);
  });

  it('rejects, naming the method, when the index changes before its copy begins', async () => {
    // Every thread of libuv's pool busy with a slow key derivation, so the serialisation queued
    // behind them cannot start before the add below.
    const poolSize = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
    const busy = Array.from(
      { length: poolSize + 2 },
      () => new Promise((resolve) => pbkdf2('x', 'y', 200_000, 32, 'sha256', resolve)),
    );
    const saving = index.serializeAsync();
    index.add(randomUnitVectors(1, dim, 5), sequentialIds(1, 10_000_000));
    await expect(saving).rejects.toThrow(
      /^FlatIndex\.serializeAsync: the index changed \(an add or remove\) after serializeAsync\(\) was called/,
    );
    await Promise.all(busy);
    // Called again, it has the added vector; removed, the index is byte for byte what it was.
    expect(FlatIndex.deserialize(await index.serializeAsync()).size).toBe(n + 1);
    expect(index.remove(sequentialIds(1, 10_000_000))).toBe(1);
    expect((await index.serializeAsync()).equals(expected)).toBe(true);
  });
});
