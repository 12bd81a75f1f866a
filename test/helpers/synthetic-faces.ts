// Synthetic face embeddings for calibration tests, where a site of 100+ people is needed and the
// shared photos hold 10: each person a random centre, each face of them the centre plus noise, all
// sharing one common direction (as a face model's embeddings do: every face is somewhat like every
// other). With the weights below, at 128 dimensions, different people score about 0.25 on average
// and up to ~0.54 over 60,000 per-person scores, and one person's faces 0.69-0.85: shaped like the
// real model's scores on ../shared/faces (impostors up to 0.37-0.52, genuine from ~0.5), seeded so
// every run sees the same numbers.
import { seededRandom } from '../../src/seeded-random.js';

export const SYNTHETIC_DIM = 128;
const COMMON = 0.45;
const PERSON = 0.7;
const NOISE = 0.5;

export interface SyntheticFaces {
  /** A new person's centre. */
  person(): Float32Array;
  /** One face of a person: unit length, like the embedder's output. */
  face(centre: Float32Array): Float32Array;
}

export function syntheticFaces(seed: number): SyntheticFaces {
  const random = seededRandom(seed);
  const gauss = () => {
    let u = 0;
    while (u === 0) u = random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  };
  const unit = (v: Float32Array) => {
    const n = Math.hypot(...v);
    return v.map((x) => x / n);
  };
  const randomUnit = () => unit(Float32Array.from({ length: SYNTHETIC_DIM }, gauss));
  const common = randomUnit();
  return {
    person: randomUnit,
    face(centre) {
      const noise = randomUnit();
      return unit(common.map((c, i) => COMMON * c + PERSON * (centre[i] as number) + NOISE * (noise[i] as number)));
    },
  };
}
