import { afterAll, describe, expect, it } from 'vitest';

import { seededRandom } from '../../src/seeded-random.js';
import { normalize, type SimdLevel, setSimdLevel, simdInfo } from '../../core/native/index.js';

const detected = simdInfo().detected;
const levels = (['scalar', 'sse2', 'avx2', 'avx512', 'neon'] as const).filter((l) => {
  const ok = setSimdLevel(l);
  setSimdLevel(detected);
  return ok;
});
afterAll(() => setSimdLevel(detected));

function scalarReference(x: Float32Array, dim: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i += dim) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += (x[i + j] as number) ** 2;
    const inv = 1 / Math.sqrt(s);
    for (let j = 0; j < dim; j++) out[i + j] = (x[i + j] as number) * inv;
  }
  return out;
}

function randomVectors(n: number, dim: number, seed: number, scale: number): Float32Array {
  const random = seededRandom(seed);
  const x = new Float32Array(n * dim);
  for (let i = 0; i < x.length; i++) x[i] = (random() - 0.5) * scale;
  return x;
}

describe('normalize', () => {
  it('uses the widest SIMD level the CPU has', () => {
    expect(simdInfo().active).toBe(detected);
    if (process.arch === 'x64') expect(['sse2', 'avx2', 'avx512']).toContain(detected);
    if (process.arch === 'arm64') expect(detected).toBe('neon');
  });

  describe.each(levels as SimdLevel[])('at SIMD level %s', (level) => {
    it.each([1, 3, 7, 16, 17, 100, 128, 512, 513])('matches the scalar reference within 1e-6 at dim %i', (dim) => {
      expect(setSimdLevel(level)).toBe(true);
      for (const scale of [1e-3, 1, 1e4]) {
        const x = randomVectors(50, dim, dim * 31 + scale, scale);
        const want = scalarReference(x, dim);
        normalize(x, dim);
        for (let i = 0; i < x.length; i++)
          expect(Math.abs((x[i] as number) - (want[i] as number))).toBeLessThanOrEqual(1e-6);
      }
      setSimdLevel(detected);
    });
  });

  it('refuses a zero vector, names it, and changes nothing', () => {
    const x = randomVectors(4, 8, 1, 1);
    x.fill(0, 16, 24);
    const before = x.slice();
    expect(() => normalize(x, 8)).toThrow(/vector 2 is all zeros/);
    expect(x).toEqual(before);
  });

  it.each([
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
  ])('refuses a vector holding %s instead of producing NaN', (_name, bad) => {
    const x = randomVectors(3, 8, 2, 1);
    x[13] = bad;
    const before = x.slice();
    expect(() => normalize(x, 8)).toThrow(/vector 1 has a non-finite component/);
    expect(Array.from(x)).toEqual(Array.from(before));
  });

  it('refuses a length that is not a multiple of dim, saying what it received', () => {
    expect(() => normalize(new Float32Array(10), 4)).toThrow(
      /whole vectors of dim 4 .* but received a Float32Array of length 10/,
    );
  });

  it('refuses a non-integer or out-of-range dim', () => {
    expect(() => normalize(new Float32Array(4), 0)).toThrow(
      /integer in 1\.\.65536 for dim but received 0 of type number/,
    );
    expect(() => normalize(new Float32Array(4), 1.5)).toThrow(/received 1\.5 of type number/);
  });

  it('refuses a Float64Array', () => {
    expect(() => normalize(new Float64Array(4) as unknown as Float32Array, 4)).toThrow(
      /Expected a Float32Array for vectors but received a Float64Array of length 4/,
    );
  });
});
