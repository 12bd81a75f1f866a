// Synthetic face embeddings for calibration tests, where a site of 100+ people is needed and the
// shared photos hold 10: each person a random centre, each face of them the centre plus noise, all
// sharing one common direction (as a face model's embeddings do: every face is somewhat like every
// other). With the weights below, at 128 dimensions, different people score about 0.25 on average
// and up to ~0.54 over 60,000 per-person scores, and one person's faces 0.69-0.85: shaped like the
// real model's scores on ../shared/faces (impostors up to 0.37-0.52, genuine from ~0.5), seeded so
// every run sees the same numbers.
import { seededRandom } from '../../src/seeded-random.js';
import type { Storage } from '../../storage/index.js';

export const SYNTHETIC_DIM = 128;
const COMMON = 0.45;
const PERSON = 0.7;
const NOISE = 0.5;

export interface SyntheticFaces {
  /** A new person's centre. */
  person: () => Float32Array;
  /** One face of a person: unit length, like the embedder's output. */
  face: (centre: Float32Array) => Float32Array;
}

export function syntheticFaces(seed: number, dim = SYNTHETIC_DIM): SyntheticFaces {
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
  const randomUnit = () => unit(Float32Array.from({ length: dim }, gauss));
  const common = randomUnit();
  return {
    person: randomUnit,
    face: (centre) => {
      const noise = randomUnit();
      return unit(common.map((c, i) => COMMON * c + PERSON * (centre[i] as number) + NOISE * (noise[i] as number)));
    },
  };
}

export interface SyntheticSite {
  faces: SyntheticFaces;
  /** Each enrolled person's centre, by user id (S000, S001, ...). */
  people: Map<string, Float32Array>;
}

/**
 * A site through the real storage layer: `people` users with `facesPerPerson` embeddings each, and
 * `strangers` unknown faces the cameras kept (each with its recognition event, each in a group of
 * its own), as the live pipeline leaves them.
 */
export async function seedSyntheticSite(
  storage: Storage,
  options: {
    modelId: string;
    /** The stored vectors' dimension (the model's); with activeDim, the vectors are made in activeDim and zero-padded (same cosines). */
    dim?: number;
    activeDim?: number;
    people: number;
    facesPerPerson: number;
    strangers: number;
    seed: number;
    firstUser?: number;
  },
): Promise<SyntheticSite> {
  const made = syntheticFaces(options.seed, options.activeDim ?? options.dim);
  const dim = options.dim ?? options.activeDim ?? SYNTHETIC_DIM;
  const pad = (v: Float32Array) => {
    const out = new Float32Array(dim);
    out.set(v);
    return out;
  };
  const faces: SyntheticFaces = { person: made.person, face: (centre) => pad(made.face(centre)) };
  const people = new Map<string, Float32Array>();
  const first = options.firstUser ?? 0;
  for (let i = first; i < first + options.people; i++) {
    const id = `S${String(i).padStart(3, '0')}`;
    const centre = faces.person();
    people.set(id, centre);
    const embeddings = Array.from({ length: options.facesPerPerson }, (_, j) => ({
      image: `face_${j + 1}.png`,
      modelId: options.modelId,
      vector: faces.face(centre),
    }));
    await storage.db.createUser({ id, name: `Synthetic ${i}` }, embeddings);
  }
  const seenAt = new Date(Date.UTC(2026, 0, 5, 12));
  for (let i = 0; i < options.strangers; i++) {
    const event = await storage.db.recordRecognition({
      timestamp: seenAt,
      cameraId: 'cam1',
      matchedUserId: null,
      confidence: 0.2,
    });
    await storage.db.unknown.addFace(
      {
        eventId: event.id,
        cameraId: 'cam1',
        seenAt,
        day: '2026-01-05',
        image: `images/unknown/2026-01-05/cam1_${first}_${i}.png`,
        quality: 0.9,
        modelId: options.modelId,
        vector: faces.face(faces.person()),
      },
      null,
    );
  }
  return { faces, people };
}
