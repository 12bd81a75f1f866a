// Photos cut to the face (ID-photo style: ../shared/faces/bbt/<name>/<name>1..5.png, 150 x 150, the
// face filling the picture): found with a second, padded look at a still photo and passed by the
// gate, while a face cut by the picture's edge (half a face) is still refused as cut-off. Test
// images are made here from the shared photos, never stored.
import { readdirSync } from 'node:fs';
import path from 'node:path';

import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';

import { TIGHT_CROP_MARGIN } from '../../src/vision/face-analyzer.js';
import { decodeImage, type FaceAnalysis, openVision, type RgbImage, type Vision } from '../../src/vision/index.js';
import { DEFAULT_QUALITY_THRESHOLDS } from '../../src/vision/quality.js';
import type { Landmarks } from '../../src/vision/types.js';
import { FACES_DIR, MODELS_DIR } from '../helpers/shared-data.js';

let vision: Vision;

beforeAll(async () => {
  vision = await openVision({ modelsDir: MODELS_DIR, provider: 'cpu' });
});

const BBT = path.join(FACES_DIR, 'bbt');
const tightCrops = readdirSync(BBT, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .flatMap((e) =>
    readdirSync(path.join(BBT, e.name))
      .filter((f) => f.endsWith('.png'))
      .map((f) => path.join('bbt', e.name, f)),
  )
  .sort();

const photo = (file: string) => decodeImage(path.join(FACES_DIR, file));

/** A part of a shared photo, as raw RGB. */
async function extract(
  file: string,
  region: { left: number; top: number; width: number; height: number },
): Promise<RgbImage> {
  const { data, info } = await sharp(path.join(FACES_DIR, file))
    .extract(region)
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

const inside = (l: Landmarks, image: RgbImage) =>
  Object.values(l).every(
    ([x, y]: readonly number[]) =>
      (x as number) >= 0 && (y as number) >= 0 && (x as number) < image.width && (y as number) < image.height,
  );

describe('a photo cut to the face', () => {
  it('has all 40 bbt crops found and accepted as still photos (one face each, inside the picture)', async () => {
    expect(tightCrops).toHaveLength(40);
    const refused: string[] = [];
    for (const file of tightCrops) {
      const image = await photo(file);
      const found = await vision.analyzer.analyze(image, { stillPhoto: true });
      const [face] = found;
      if (found.length !== 1 || !face?.quality.accepted || !face.embedding || !inside(face.face.landmarks, image)) {
        refused.push(`${file}: ${found.length} face(s) ${face ? face.quality.reasons.join('+') : ''}`);
      }
    }
    expect(refused).toEqual([]);
  });

  it("passes the gate with the crop's margin outside the picture and its face region inside (amy1.png)", async () => {
    const image = await photo('bbt/amy/amy1.png');
    const [face] = await vision.analyzer.analyze(image, { stillPhoto: true });
    // About a third of the 112 x 112 crop lies outside the 150 x 150 photo (forehead, hair, ears)...
    expect(face?.quality.measures.outOfFrame).toBeGreaterThan(0.2);
    // ...but none of the face itself.
    expect(face?.quality.measures.faceOutOfFrame).toBe(0);
    expect(face?.quality.reasons).toEqual([]);
    expect(face?.face.score).toBeGreaterThan(0.85);
  });

  it('gets no second look as a camera frame (the default): the crop fills the frame and nothing is found', async () => {
    expect(await vision.analyzer.analyze(await photo('bbt/amy/amy1.png'))).toEqual([]);
  });

  it('matches another crop of the same person above every crop of the other people (amy1 against the rest)', async () => {
    const embed = async (file: string) =>
      (await vision.analyzer.analyze(await photo(file), { stillPhoto: true }))[0]?.embedding?.vector as Float32Array;
    const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * (b[i] as number), 0);
    const amy = await embed('bbt/amy/amy1.png');
    const same = await Promise.all(['bbt/amy/amy2.png', 'bbt/amy/amy3.png'].map(embed));
    const others = await Promise.all(
      ['bbt/penny/penny1.png', 'bbt/bernadette/bernadette1.png', 'bbt/raj/raj1.png'].map(embed),
    );
    const worstSame = Math.min(...same.map((v) => dot(amy, v)));
    const bestOther = Math.max(...others.map((v) => dot(amy, v)));
    expect(worstSame).toBeGreaterThan(bestOther + 0.2);
  });
});

describe('the detector with a margin', () => {
  it.each(['obama/obama.jpg', 'bbt/amy/amy1.png'])(
    "puts the landmarks of %s where a detection on the photo padded with black puts them, in the photo's own pixels (within 2 percent of the eye distance)",
    async (file) => {
      const image = await photo(file);
      // The same border, materialised: the margin is m = 0.4 x the longer side of black on every side.
      const m = Math.round(TIGHT_CROP_MARGIN * Math.max(image.width, image.height));
      const width = image.width + 2 * m,
        height = image.height + 2 * m;
      const data = new Uint8Array(width * height * 3);
      for (let y = 0; y < image.height; y++)
        data.set(image.data.subarray(y * image.width * 3, (y + 1) * image.width * 3), ((y + m) * width + m) * 3);
      const [withMargin] = await vision.analyzer.detector.detect(image, { margin: TIGHT_CROP_MARGIN });
      const [inPadded] = await vision.analyzer.detector.detect({ width, height, data });
      if (!withMargin || !inPadded) throw new Error(`expected the face in ${file} with a margin and padded`);
      const l = withMargin.landmarks;
      const eyes = Math.hypot(l.leftEye[0] - l.rightEye[0], l.leftEye[1] - l.rightEye[1]);
      for (const k of ['rightEye', 'leftEye', 'nose', 'rightMouth', 'leftMouth'] as const) {
        const [x0, y0] = withMargin.landmarks[k],
          [x1, y1] = inPadded.landmarks[k];
        expect(Math.hypot(x1 - m - x0, y1 - m - y0) / eyes).toBeLessThan(0.02);
      }
      // Boxes are clamped to the photo, as without a margin.
      const [x, y, w, h] = withMargin.box;
      expect(x >= 0 && y >= 0 && x + w <= image.width && y + h <= image.height).toBe(true);
    },
  );

  it.each([-0.1, Number.NaN, 1.5])('refuses a margin of %s with what it expected', async (margin) => {
    await expect(vision.analyzer.detector.detect(await photo('obama/obama.jpg'), { margin })).rejects.toThrow(
      /Expected a detection margin from 0 to 1/,
    );
  });
});

describe('half a face is still cut off', () => {
  /** Half of a tight crop: the second look finds the face, the gate refuses it. */
  async function halfOf(file: string, cut: 'below the eyes' | 'right of the nose'): Promise<FaceAnalysis[]> {
    const [face] = await vision.analyzer.analyze(await photo(file), { stillPhoto: true });
    const l = (face as FaceAnalysis).face.landmarks;
    const meta = await sharp(path.join(FACES_DIR, file)).metadata();
    const eyeY = Math.round((l.rightEye[1] + l.leftEye[1]) / 2),
      noseX = Math.round(l.nose[0]);
    const region =
      cut === 'below the eyes'
        ? { left: 0, top: eyeY, width: meta.width, height: meta.height - eyeY }
        : { left: noseX, top: 0, width: meta.width - noseX, height: meta.height };
    return vision.analyzer.analyze(await extract(file, region), { stillPhoto: true });
  }

  it.each([
    ['bbt/amy/amy1.png', 'below the eyes'],
    ['bbt/raj/raj1.png', 'right of the nose'],
  ] as const)('refuses %s cut %s as cut-off (found by the second look)', async (file, cut) => {
    const found = await halfOf(file, cut);
    expect(found.length).toBeGreaterThan(0);
    for (const f of found) {
      expect(f.quality.measures.faceOutOfFrame).toBeGreaterThan(DEFAULT_QUALITY_THRESHOLDS.maxFaceOutOfFrame);
      expect(f.quality.reasons).toContain('cut-off');
    }
  });

  it.each(['mixed/obama_partial_face.jpg', 'mixed/obama_partial_face2.jpg'])(
    'refuses %s as a still photo too (7 to 11 percent of its face region outside)',
    async (file) => {
      const found = await vision.analyzer.analyze(await photo(file), { stillPhoto: true });
      expect(found.length).toBeGreaterThan(0);
      for (const f of found) {
        expect(f.quality.measures.faceOutOfFrame).toBeGreaterThan(DEFAULT_QUALITY_THRESHOLDS.maxFaceOutOfFrame);
        expect(f.quality.reasons).toContain('cut-off');
      }
    },
  );
});
