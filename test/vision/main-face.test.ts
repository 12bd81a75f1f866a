// Which face a photo is of (src/vision/main-face.ts): faces much smaller or much blurrier than the
// subject are background; two faces of comparable size make the photo ambiguous. On the shared
// photos and on test photos made from them (test/helpers/face-composites.ts).
import path from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { decodeImage, type FaceAnalysis, openVision, type Vision } from '../../src/vision/index.js';
import { chooseMainFace, DEFAULT_MAIN_FACE_RULE } from '../../src/vision/main-face.js';
import { withFaceBeside } from '../helpers/face-composites.js';
import { FACES_DIR, MODELS_DIR } from '../helpers/shared-data.js';

let vision: Vision;

beforeAll(async () => {
  vision = await openVision({ modelsDir: MODELS_DIR, provider: 'cpu' });
});

const analyzePhoto = async (file: string) =>
  vision.analyzer.analyze(await decodeImage(path.join(FACES_DIR, file)), { stillPhoto: true });
const analyzeBytes = async (png: Buffer) => vision.analyzer.analyze(await decodeImage(png), { stillPhoto: true });

describe('the main face of a photo', () => {
  it('is the subject when a much smaller face is behind them (0.35 of its eye distance, sharp, passing the gate itself)', async () => {
    const photo = await withFaceBeside(vision.analyzer, 'obama/obama.jpg', 'biden/biden.jpg', 0.35);
    const faces = await analyzeBytes(photo.png);
    expect(faces).toHaveLength(2);
    const choice = chooseMainFace(faces);
    if (choice.kind !== 'main')
      throw new Error(`expected a main face but the photo is ${choice.kind}: ${choice.reason}`);
    // The subject's own box, moved by the widening (within a tenth of its size).
    expect(Math.abs(choice.main.face.box[0] - (photo.subjectBox[0] + photo.shiftX))).toBeLessThan(
      0.1 * photo.subjectBox[3],
    );
    expect(choice.ignored).toHaveLength(1);
    // Set aside for its size alone: the gate would have taken it.
    expect(choice.ignored[0]?.quality.accepted).toBe(true);
  });

  it('is the subject when a blurred face of 0.8 its size is beside them (refused as blurry)', async () => {
    const photo = await withFaceBeside(vision.analyzer, 'obama/obama.jpg', 'biden/biden.jpg', 0.8, 3);
    const choice = chooseMainFace(await analyzeBytes(photo.png));
    if (choice.kind !== 'main')
      throw new Error(`expected a main face but the photo is ${choice.kind}: ${choice.reason}`);
    expect(Math.abs(choice.main.face.box[0] - (photo.subjectBox[0] + photo.shiftX))).toBeLessThan(
      0.1 * photo.subjectBox[3],
    );
    expect(choice.ignored.map((f) => f.quality.reasons)).toEqual([['blurry']]);
  });

  it("is nobody when a sharp face of 0.8 its size is beside them: ambiguous, with both faces' figures", async () => {
    const photo = await withFaceBeside(vision.analyzer, 'obama/obama.jpg', 'biden/biden.jpg', 0.8);
    const choice = chooseMainFace(await analyzeBytes(photo.png));
    expect(choice.kind).toBe('ambiguous');
    if (choice.kind === 'main') return;
    expect(choice.comparable).toHaveLength(2);
    expect(choice.reason).toMatch(
      /^2 faces found and 2 of them are of comparable size \(eyes \d+ px, box height \d+ px; eyes \d+ px, box height \d+ px\)/,
    );
  });

  it('is nobody in two_people.jpg: two people side by side (eyes 71 and 67 px, boxes 196 and 207 px high)', async () => {
    const choice = chooseMainFace(await analyzePhoto('mixed/two_people.jpg'));
    expect(choice.kind).toBe('ambiguous');
    expect(choice.kind !== 'main' && choice.reason).toMatch(
      /2 of them are of comparable size \(eyes 71 px, box height 196 px; eyes 67 px, box height 207 px\)/,
    );
  });

  it('is nobody in obama_and_biden.jpg: two people side by side and a child beside them (box 0.82 of the largest though turned away)', async () => {
    const choice = chooseMainFace(await analyzePhoto('mixed/obama_and_biden.jpg'));
    expect(choice.kind).toBe('ambiguous');
    expect(choice.kind !== 'main' && choice.reason).toMatch(
      /^3 faces found and 3 of them are of comparable size \(eyes 84 px, box height 240 px; eyes 81 px, box height 241 px; eyes 50 px/,
    );
  });

  it('is the one face of a single-face photo, and nothing when there is no face', async () => {
    const faces = await analyzePhoto('obama/obama2.jpg');
    expect(chooseMainFace(faces)).toEqual({ kind: 'main', main: faces[0], ignored: [] });
    expect(chooseMainFace([])).toMatchObject({ kind: 'none', reason: 'no face found' });
  });
});

describe('the rule on its measures', () => {
  /** A face with only what the rule reads. */
  const face = (eyes: number, boxHeight: number, laplacianVariance = 500, reasons: string[] = []): FaceAnalysis =>
    ({
      face: { box: [0, 0, boxHeight * 0.75, boxHeight], score: 0.9 },
      quality: { measures: { interEyePx: eyes, laplacianVariance }, reasons },
    }) as unknown as FaceAnalysis;

  it("calls a face much smaller only when both its eye distance and its box are under half the main face's", () => {
    expect(DEFAULT_MAIN_FACE_RULE.muchSmaller).toBe(0.5);
    const main = face(100, 300);
    expect(chooseMainFace([main, face(45, 140)]).kind).toBe('main');
    // A turned head: eyes close together, but the head as large as the subject's.
    expect(chooseMainFace([main, face(45, 200)]).kind).toBe('ambiguous');
    expect(chooseMainFace([main, face(60, 140)]).kind).toBe('ambiguous');
  });

  it('calls a face much blurrier only when the gate refuses it as blurry and it is under a quarter as sharp', () => {
    const main = face(100, 300, 800);
    expect(chooseMainFace([main, face(90, 280, 90, ['blurry'])]).kind).toBe('main');
    // Blurry by the gate, but not far from a soft subject.
    expect(chooseMainFace([face(100, 300, 300), face(90, 280, 90, ['blurry'])]).kind).toBe('ambiguous');
    // Much softer than the subject, but sharp enough for the gate: a person, not background.
    expect(chooseMainFace([face(100, 300, 2000), face(90, 280, 150)]).kind).toBe('ambiguous');
  });
});
