import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import sharp, { type Sharp } from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';

import {
  decodeImage,
  encodePng,
  type FaceAnalysis,
  openVision,
  type RgbImage,
  type Vision,
} from '../../src/vision/index.js';
import { DEFAULT_QUALITY_THRESHOLDS } from '../../src/vision/quality.js';
import { FACES_DIR, MODELS_DIR } from '../helpers/shared-data.js';

const faces = FACES_DIR;
const models = MODELS_DIR;
const artefacts = path.join(os.tmpdir(), 'facegate-test-artefacts', 'aligned');

let vision: Vision;
const results = new Map<string, FaceAnalysis[]>();

async function analyze(file: string): Promise<FaceAnalysis[]> {
  const cached = results.get(file);
  if (cached) return cached;
  const found = await vision.analyzer.analyze(await decodeImage(path.join(faces, file)), { embedRejected: true });
  results.set(file, found);
  return found;
}

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * (b[i] as number), 0);

beforeAll(async () => {
  vision = await openVision({ modelsDir: models, provider: 'cpu' });
  await mkdir(artefacts, { recursive: true });
});

describe('face analysis on the real photos', () => {
  const singles = [
    'obama/obama.jpg',
    'obama/obama2.jpg',
    'obama/obama3.jpg',
    'obama/obama-480p.jpg',
    'obama/obama_small.jpg',
    'biden/biden.jpg',
    'biden/biden2.jpg',
  ];

  it.each(singles)('finds the one face in %s, accepts it, and embeds it (512-d, unit norm)', async (file) => {
    const [face, ...rest] = await analyze(file);
    expect(rest).toEqual([]);
    expect(face?.face.score).toBeGreaterThan(0.9);
    expect(face?.quality).toMatchObject({ accepted: true, reasons: [] });
    expect(face?.embedding?.vector).toHaveLength(512);
    expect(Math.hypot(...(face?.embedding?.vector ?? []))).toBeCloseTo(1, 5);
    expect(face?.embedding?.modelId).toBe('fr_feature@87aacdfe5751');
    await writeFile(
      path.join(artefacts, `${path.basename(file, path.extname(file))}.png`),
      await encodePng(face?.aligned as never),
    );
  });

  it('puts the eye landmarks on the eyes (hand-measured pupils in obama.jpg, within 12 px, a tenth of the eye distance)', async () => {
    const [face] = await analyze('obama/obama.jpg');
    const l = face?.face.landmarks;
    const near = (p: readonly number[] | undefined, x: number, y: number) =>
      Math.hypot((p?.[0] ?? 0) - x, (p?.[1] ?? 0) - y);
    expect(near(l?.rightEye, 444, 212)).toBeLessThan(12);
    expect(near(l?.leftEye, 549, 211)).toBeLessThan(12);
  });

  it.each(singles)(
    'orders the landmarks of %s as a face: eyes above the nose above the mouth, right eye on the image left',
    async (file) => {
      const [face] = await analyze(file);
      const { rightEye, leftEye, nose, rightMouth, leftMouth } = face?.face.landmarks ?? ({} as never);
      expect(rightEye[0]).toBeLessThan(leftEye[0]);
      expect(rightMouth[0]).toBeLessThan(leftMouth[0]);
      expect(Math.max(rightEye[1], leftEye[1])).toBeLessThan(nose[1]);
      expect(nose[1]).toBeLessThan(Math.min(rightMouth[1], leftMouth[1]));
      expect(nose[0]).toBeGreaterThan(rightEye[0]);
      expect(nose[0]).toBeLessThan(leftEye[0]);
    },
  );

  it('finds two faces in two_people.jpg and three in obama_and_biden.jpg', async () => {
    expect(await analyze('mixed/two_people.jpg')).toHaveLength(2);
    expect(await analyze('mixed/obama_and_biden.jpg')).toHaveLength(3);
  });

  it.each(['mixed/obama_partial_face.jpg', 'mixed/obama_partial_face2.jpg'])(
    'rejects the half face in %s (cut by the frame edge)',
    async (file) => {
      const found = await analyze(file);
      expect(found.length).toBeGreaterThan(0);
      for (const f of found) {
        expect(f.quality.accepted).toBe(false);
        expect(f.quality.reasons).toContain('cut-off');
      }
    },
  );

  it('decodes the 32-bit PNG with alpha and finds the same face as the JPEG it was made from', async () => {
    const [png] = await analyze('mixed/32bit.png');
    const [jpg] = await analyze('obama/obama2.jpg');
    expect(dot(png?.embedding?.vector as Float32Array, jpg?.embedding?.vector as Float32Array)).toBeGreaterThan(0.98);
  });

  it('scores two photos of the same person clearly above photos of different people', async () => {
    const people: Record<string, string[]> = {
      obama: [
        'obama/obama.jpg',
        'obama/obama2.jpg',
        'obama/obama3.jpg',
        'obama/obama-480p.jpg',
        'obama/obama_small.jpg',
      ],
      biden: ['biden/biden.jpg', 'biden/biden2.jpg'],
    };
    const vectors: { who: string; file: string; v: Float32Array }[] = [];
    for (const [who, files] of Object.entries(people)) {
      for (const file of files)
        vectors.push({ who, file, v: (await analyze(file))[0]?.embedding?.vector as Float32Array });
    }
    const same: number[] = [];
    const different: number[] = [];
    for (let i = 0; i < vectors.length; i++) {
      for (let j = i + 1; j < vectors.length; j++) {
        const a = vectors[i] as (typeof vectors)[0];
        const b = vectors[j] as (typeof vectors)[0];
        (a.who === b.who ? same : different).push(dot(a.v, b.v));
      }
    }
    const range = (xs: number[]) => `${Math.min(...xs).toFixed(2)}..${Math.max(...xs).toFixed(2)}`;
    console.info(
      `same person ${range(same)} (n=${same.length}), different people ${range(different)} (n=${different.length})`,
    );
    expect(Math.min(...same)).toBeGreaterThan(Math.max(...different) + 0.3);
  });
});

describe('the gate: cut off means outside the picture, not dark', () => {
  // Test images made here from the shared photos (never stored): the same face with black
  // painted inside the picture, cut by the image edge, or letterboxed the way a camera source
  // pads its frames.
  const PERSON = 'lfw10/George_W_Bush/George_W_Bush_0001.jpg';

  /** The share of a crop's pixels that are pure black: what used to count as "outside". */
  const blackShare = (crop: RgbImage) => {
    let n = 0;
    for (let i = 0; i < crop.data.length; i += 3)
      if (Math.max(crop.data[i] as number, crop.data[i + 1] as number, crop.data[i + 2] as number) <= 2) n++;
    return n / (crop.data.length / 3);
  };

  /** A copy of `image` with every pixel for which `paint(x, y)` holds set to black. */
  const painted = (image: RgbImage, paint: (x: number, y: number) => boolean): RgbImage => {
    const data = new Uint8Array(image.data);
    for (let y = 0; y < image.height; y++) {
      for (let x = 0; x < image.width; x++)
        if (paint(x, y)) data.fill(0, (y * image.width + x) * 3, (y * image.width + x + 1) * 3);
    }
    return { width: image.width, height: image.height, data };
  };

  const raw = async (pipeline: Sharp): Promise<RgbImage> => {
    const { data, info } = await pipeline.removeAlpha().raw().toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, data: new Uint8Array(data) };
  };

  /** The one face in `image` (it must be found: a test image the detector misses tests nothing). */
  const onlyFace = async (image: RgbImage): Promise<FaceAnalysis> => {
    const found = await vision.analyzer.analyze(image);
    expect(found).toHaveLength(1);
    return found[0] as FaceAnalysis;
  };

  /** Where the face is in the original photo: eye midpoint, eyes-to-mouth centre, eye distance. */
  const geometry = async (file: string) => {
    const { landmarks: l } = (await onlyFace(await decodeImage(path.join(faces, file)))).face;
    const eyes = Math.hypot(l.leftEye[0] - l.rightEye[0], l.leftEye[1] - l.rightEye[1]);
    const cx = (l.rightEye[0] + l.leftEye[0] + l.rightMouth[0] + l.leftMouth[0]) / 4;
    const cy = (l.rightEye[1] + l.leftEye[1] + l.rightMouth[1] + l.leftMouth[1]) / 4;
    return { l, eyes, cx, cy, eyeY: (l.rightEye[1] + l.leftEye[1]) / 2 };
  };

  it('accepts a face on a black background (everything outside an oval around the face painted black)', async () => {
    const photo = await decodeImage(path.join(faces, PERSON));
    const { eyes, cx, cy } = await geometry(PERSON);
    // An oval just wider than the face (1.1 eye distances to either side of its centre, 1.6
    // above and below): the crop's corners, beside the temples and the jaw, are all black.
    const image = painted(photo, (x, y) => ((x - cx) / (1.1 * eyes)) ** 2 + ((y - cy) / (1.6 * eyes)) ** 2 > 1);
    const face = await onlyFace(image);
    expect(blackShare(face.aligned)).toBeGreaterThan(0.15);
    expect(face.quality.measures.outOfFrame).toBe(0);
    expect(face.quality.reasons).toEqual([]);
    expect(face.quality.accepted).toBe(true);
  });

  it('accepts a face with black hair (everything above the eyebrows painted black, edge to edge)', async () => {
    const photo = await decodeImage(path.join(faces, PERSON));
    const { eyes, eyeY } = await geometry(PERSON);
    // Whole rows of black from the top edge down to just above the brows: black hair on a black
    // backdrop, which must not be taken for a letterbox bar either (nothing mirrors it below).
    const image = painted(photo, (_x, y) => y < eyeY - 0.55 * eyes);
    const face = await onlyFace(image);
    expect(blackShare(face.aligned)).toBeGreaterThan(0.15);
    expect(face.quality.measures.outOfFrame).toBe(0);
    expect(face.quality.reasons).toEqual([]);
  });

  it('refuses a face cut by the image edge (the photo cropped through the nose) as cut-off', async () => {
    const file = 'obama/obama.jpg';
    const { l } = await geometry(file);
    const meta = await sharp(path.join(faces, file)).metadata();
    const left = Math.round(l.nose[0]);
    const image = await raw(
      sharp(path.join(faces, file)).extract({ left, top: 0, width: meta.width - left, height: meta.height }),
    );
    const found = await vision.analyzer.analyze(image);
    expect(found.length).toBeGreaterThan(0);
    for (const f of found) {
      expect(f.quality.measures.faceOutOfFrame).toBeGreaterThan(DEFAULT_QUALITY_THRESHOLDS.maxFaceOutOfFrame);
      expect(f.quality.reasons).toContain('cut-off');
    }
  });

  it.each(['mixed/obama_partial_face.jpg', 'mixed/obama_partial_face2.jpg'])(
    'refuses the half face in %s letterboxed into a 1280 x 720 frame (cut by the picture edge, inside the frame)',
    async (file) => {
      const image = await raw(
        sharp(path.join(faces, file)).resize(1280, 720, { fit: 'contain', background: { r: 0, g: 0, b: 0 } }),
      );
      const found = await vision.analyzer.analyze(image);
      expect(found.length).toBeGreaterThan(0);
      for (const f of found) expect(f.quality.reasons).toContain('cut-off');
    },
  );

  it("accepts a whole face letterboxed into a frame (bars beside the picture are not the face's)", async () => {
    const image = await raw(
      sharp(path.join(faces, 'obama/obama.jpg')).resize(1280, 720, {
        fit: 'contain',
        background: { r: 0, g: 0, b: 0 },
      }),
    );
    const face = await onlyFace(image);
    expect(face.quality.measures.outOfFrame).toBe(0);
    expect(face.quality.accepted).toBe(true);
  });
});

describe('the embedding dimension comes from the model', () => {
  it('gives 128-d unit embeddings with mobilefacenet_128', async () => {
    const small = await openVision({ modelsDir: models, provider: 'cpu', embedder: 'mobilefacenet_128' });
    expect(small.embedder).toMatchObject({ name: 'mobilefacenet_128', dim: 128 });
    const [face] = await small.analyzer.analyze(await decodeImage(path.join(faces, 'obama/obama.jpg')));
    expect(face?.embedding?.vector).toHaveLength(128);
    expect(Math.hypot(...(face?.embedding?.vector ?? []))).toBeCloseTo(1, 5);
    expect(face?.embedding?.modelId).toMatch(/^mobilefacenet_128@[0-9a-f]{12}$/);
  });
});

describe('execution providers', () => {
  it('falls back to the CPU when CUDA cannot load, and says so', async () => {
    const v = await openVision({ modelsDir: models, provider: 'cuda' });
    expect(v.detector.provider).toBe('cpu');
    expect(v.detector.fallback).toMatch(/cuda/);
    expect(v.embedder.provider).toBe('cpu');
  });
});
