// Reproducible random unit vectors for benchmarks and tests: Gaussian components (so the
// directions are uniform on the sphere), normalised by the native kernel.
import { normalize } from '../../core/native/index.js';
import { seededRandom } from '../seeded-random.js';

/** n unit vectors of dim floats. */
export function randomUnitVectors(n: number, dim: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  const out = new Float32Array(n * dim);
  for (let i = 0; i < out.length; i += 2) {
    // Box-Muller: two independent standard normals from two uniforms.
    const u = 1 - random();
    const v = random();
    const r = Math.sqrt(-2 * Math.log(u));
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < out.length) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  if (n > 0) normalize(out, dim);
  return out;
}

/** Ids first, first + 1, ... as a BigInt64Array. */
export function sequentialIds(n: number, first = 0): BigInt64Array {
  const ids = new BigInt64Array(n);
  for (let i = 0; i < n; i++) ids[i] = BigInt(first + i);
  return ids;
}
