// The quality gate on real aligned faces (hand-measured landmarks on photos in ../shared/faces,
// read in place) and on degraded copies of them: blurred, shrunk, darkened, brightened, flattened,
// turned. Each degraded case must be rejected for its own reason.
import { join } from 'node:path';

import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';

import {
  ALIGNED_SIZE,
  alignFace,
  ARCFACE_TEMPLATE_112,
  estimateSimilarity,
  landmarkPoints,
  pictureArea,
} from '../../src/vision/align.js';
import { decodeImage } from '../../src/vision/image-input.js';
import { assessQuality, DEFAULT_QUALITY_THRESHOLDS, FACE_REGION, poseFromLandmarks } from '../../src/vision/quality.js';
import type { AlignedFace, DetectedFace, Landmarks, Point, RgbImage } from '../../src/vision/types.js';
import { FACES_DIR } from '../helpers/shared-data.js';

const FACES = FACES_DIR;

/** Measured by hand on the photo (see align.test.ts): eye centres, nose tip, mouth corners. */
const OBAMA: Landmarks = {
  rightEye: [443, 214],
  leftEye: [549, 213],
  nose: [495, 270],
  rightMouth: [438, 323],
  leftMouth: [543, 318],
};
const BIDEN: Landmarks = {
  rightEye: [531, 322],
  leftEye: [650, 347],
  nose: [613, 410],
  rightMouth: [515, 456],
  leftMouth: [632, 474],
};

/** A detector-like face around the landmarks, with a typical YuNet score for a clear face. */
function detected(landmarks: Landmarks, score = 0.93): DetectedFace {
  const xs = Object.values(landmarks).map((p: Point) => p[0]);
  const ys = Object.values(landmarks).map((p: Point) => p[1]);
  const w = Math.max(...xs) - Math.min(...xs);
  return { box: [Math.min(...xs) - w / 2, Math.min(...ys) - w, w * 2, w * 2.5], score, landmarks };
}

function scaled(landmarks: Landmarks, k: number): Landmarks {
  const s = (p: Point): Point => [p[0] * k, p[1] * k];
  return {
    rightEye: s(landmarks.rightEye),
    leftEye: s(landmarks.leftEye),
    nose: s(landmarks.nose),
    rightMouth: s(landmarks.rightMouth),
    leftMouth: s(landmarks.leftMouth),
  };
}

async function blurred(image: RgbImage, sigma: number): Promise<RgbImage> {
  const { data, info } = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .blur(sigma)
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

function mapPixels(crop: AlignedFace, f: (v: number) => number): AlignedFace {
  return { ...crop, data: Uint8Array.from(crop.data, (v) => Math.max(0, Math.min(255, Math.round(f(v))))) };
}

let obamaPhoto: RgbImage;
let obamaCrop: AlignedFace;
let bidenCrop: AlignedFace;
beforeAll(async () => {
  obamaPhoto = await decodeImage(join(FACES, 'obama/obama.jpg'));
  obamaCrop = alignFace(obamaPhoto, OBAMA);
  bidenCrop = alignFace(await decodeImage(join(FACES, 'biden/biden.jpg')), BIDEN);
});

describe('assessQuality on real faces', () => {
  it('accepts a sharp, frontal, well-lit face with a score near 1', () => {
    const verdict = assessQuality(detected(OBAMA), obamaCrop);
    expect(verdict.reasons).toEqual([]);
    expect(verdict.accepted).toBe(true);
    expect(verdict.score).toBeGreaterThan(0.95);
    expect(verdict.measures.interEyePx).toBeCloseTo(106, 0);
    expect(verdict.measures.detectorScore).toBe(0.93);
    expect(verdict.measures.yaw).toBeLessThan(0.05);
    expect(Math.abs(verdict.measures.rollDegrees)).toBeLessThan(2);
  });

  it('accepts a face turned some 25-30 degrees (biden.jpg), with a lower score', () => {
    const verdict = assessQuality(detected(BIDEN), bidenCrop);
    expect(verdict.accepted).toBe(true);
    expect(verdict.measures.yaw).toBeGreaterThan(0.2);
    expect(verdict.measures.rollDegrees).toBeCloseTo(11.9, 0);
    expect(verdict.score).toBeGreaterThan(0);
    expect(verdict.score).toBeLessThan(assessQuality(detected(OBAMA), obamaCrop).score);
  });

  it('puts the blur threshold between sharp real crops and the same crops blurred', async () => {
    const threshold = DEFAULT_QUALITY_THRESHOLDS.minLaplacianVariance;
    for (const [landmarks, crop] of [
      [OBAMA, obamaCrop],
      [BIDEN, bidenCrop],
    ] as const) {
      const sharpVariance = assessQuality(detected(landmarks), crop).measures.laplacianVariance;
      const blurVariance = assessQuality(detected(landmarks), await blurred(crop, 2)).measures.laplacianVariance;
      // Measured: 1901 and 873 sharp; 23 and 11 at sigma 2 (crop pixels).
      expect(sharpVariance).toBeGreaterThan(4 * threshold);
      expect(blurVariance).toBeLessThan(threshold / 2);
    }
  });

  it("rejects the same crop blurred as 'blurry', and only for that", async () => {
    const verdict = assessQuality(detected(OBAMA), await blurred(obamaCrop, 2));
    expect(verdict.accepted).toBe(false);
    expect(verdict.reasons).toEqual(['blurry']);
    expect(verdict.score).toBe(0);
  });

  it("rejects an out-of-focus photo (blurred before alignment) as 'blurry'", async () => {
    // sigma 6 px on a face with 106 px between the eyes is sigma 2 in crop pixels.
    const verdict = assessQuality(detected(OBAMA), alignFace(await blurred(obamaPhoto, 6), OBAMA));
    expect(verdict.reasons).toContain('blurry');
  });

  it("rejects a tiny face (12 px between the eyes) as 'too-small'", async () => {
    const k = 12 / 106;
    const { data, info } = await sharp(obamaPhoto.data, {
      raw: { width: obamaPhoto.width, height: obamaPhoto.height, channels: 3 },
    })
      .resize(Math.round(obamaPhoto.width * k), Math.round(obamaPhoto.height * k))
      .raw()
      .toBuffer({ resolveWithObject: true });
    const small = scaled(OBAMA, info.width / obamaPhoto.width);
    const verdict = assessQuality(
      detected(small),
      alignFace({ width: info.width, height: info.height, data: new Uint8Array(data) }, small),
    );
    expect(verdict.measures.interEyePx).toBeCloseTo(12, 0);
    expect(verdict.accepted).toBe(false);
    expect(verdict.reasons).toContain('too-small');
  });

  it("rejects a dark face as 'too-dark' and a washed-out one as 'too-bright'", () => {
    const dark = assessQuality(
      detected(OBAMA),
      mapPixels(obamaCrop, (v) => v * 0.2),
    );
    expect(dark.reasons).toContain('too-dark');
    expect(dark.reasons).not.toContain('too-bright');
    const bright = assessQuality(
      detected(OBAMA),
      mapPixels(obamaCrop, (v) => 255 - (255 - v) * 0.2),
    );
    expect(bright.reasons).toContain('too-bright');
    expect(bright.reasons).not.toContain('too-dark');
  });

  it("rejects a flat, grey face as 'low-contrast'", () => {
    const mean = assessQuality(detected(OBAMA), obamaCrop).measures.meanLuma;
    const verdict = assessQuality(
      detected(OBAMA),
      mapPixels(obamaCrop, (v) => mean + (v - mean) * 0.25),
    );
    expect(verdict.reasons).toContain('low-contrast');
    expect(verdict.reasons).not.toContain('too-dark');
    expect(verdict.reasons).not.toContain('too-bright');
  });

  it("rejects a detection the detector itself doubts as 'low-score'", () => {
    expect(assessQuality(detected(OBAMA, 0.65), obamaCrop).reasons).toEqual(['low-score']);
  });
});

describe('pose from landmark geometry', () => {
  const [re, le, nose, rm, lm] = ARCFACE_TEMPLATE_112 as [Point, Point, Point, Point, Point];
  const template: Landmarks = { rightEye: re, leftEye: le, nose, rightMouth: rm, leftMouth: lm };

  it('measures the template as frontal: no yaw, no roll, pitch about 0.5', () => {
    const pose = poseFromLandmarks(template);
    expect(pose.interEyePx).toBeCloseTo(35.24, 2);
    expect(pose.yaw).toBeLessThan(0.01);
    expect(Math.abs(pose.rollDegrees)).toBeLessThan(0.5);
    expect(pose.pitch).toBeCloseTo(0.495, 3);
  });

  it("rejects a profile-like landmark set (nose out by one eye) as 'pose'", () => {
    const profile: Landmarks = { ...OBAMA, nose: [549, 270], rightMouth: [480, 323], leftMouth: [560, 318] };
    const verdict = assessQuality(detected(profile), obamaCrop);
    expect(verdict.measures.yaw).toBeGreaterThan(0.45);
    expect(verdict.reasons).toEqual(['pose']);
  });

  it("rejects a head rolled 45 degrees as 'pose', and not one rolled 10", () => {
    const rolled = (degrees: number): Landmarks => {
      const c = Math.cos((degrees * Math.PI) / 180),
        s = Math.sin((degrees * Math.PI) / 180);
      const r = (p: Point): Point => [
        500 + (p[0] - 500) * c - (p[1] - 270) * s,
        270 + (p[0] - 500) * s + (p[1] - 270) * c,
      ];
      return {
        rightEye: r(OBAMA.rightEye),
        leftEye: r(OBAMA.leftEye),
        nose: r(OBAMA.nose),
        rightMouth: r(OBAMA.rightMouth),
        leftMouth: r(OBAMA.leftMouth),
      };
    };
    const far = assessQuality(detected(rolled(45)), obamaCrop);
    expect(far.measures.rollDegrees).toBeCloseTo(44.5, 0);
    expect(far.reasons).toEqual(['pose']);
    const near = assessQuality(detected(rolled(10)), obamaCrop);
    expect(near.measures.yaw).toBeLessThan(0.05);
    expect(near.accepted).toBe(true);
  });

  it("rejects a face looking far up (nose on the eye line) or down (nose on the mouth line) as 'pose'", () => {
    const up = assessQuality(detected({ ...OBAMA, nose: [495, 225] }), obamaCrop);
    expect(up.measures.pitch).toBeLessThan(0.15);
    expect(up.reasons).toEqual(['pose']);
    const down = assessQuality(detected({ ...OBAMA, nose: [495, 312] }), obamaCrop);
    expect(down.measures.pitch).toBeGreaterThan(0.9);
    expect(down.reasons).toEqual(['pose']);
  });

  it('rejects degenerate landmarks instead of throwing', () => {
    const p: Point = [100, 100];
    const verdict = assessQuality(
      detected({ rightEye: p, leftEye: p, nose: p, rightMouth: p, leftMouth: p }),
      obamaCrop,
    );
    expect(verdict.accepted).toBe(false);
    expect(verdict.score).toBe(0);
    expect(verdict.reasons).toContain('too-small');
    expect(verdict.reasons).toContain('pose');
  });
});

describe('the score', () => {
  it('is above 0 exactly when the face is accepted, and falls smoothly to 0 at a threshold', () => {
    const scores: number[] = [];
    for (let eyes = 20; eyes <= 80; eyes += 0.5) {
      const v = assessQuality(detected(scaled(OBAMA, eyes / 106)), obamaCrop);
      expect(v.accepted).toBe(v.score > 0);
      expect(v.accepted).toBe(v.measures.interEyePx > DEFAULT_QUALITY_THRESHOLDS.minInterEyePx);
      scores.push(v.score);
    }
    for (let i = 1; i < scores.length; i++) {
      expect(scores[i]).toBeGreaterThanOrEqual(scores[i - 1] as number);
      // Smooth: no jump bigger than a small step (a hard pass/fail would jump by 1).
      expect((scores[i] as number) - (scores[i - 1] as number)).toBeLessThan(0.05);
    }
    expect(scores[0]).toBe(0);
    expect(scores.at(-1)).toBeGreaterThan(0.95);
  });

  it('multiplies the checks: two marginal measures score lower than either alone', () => {
    const t = DEFAULT_QUALITY_THRESHOLDS;
    const marginal = detected(scaled(OBAMA, (t.minInterEyePx + 8) / 106), t.minDetectorScore + 0.04);
    const sizeOnly = assessQuality(detected(marginal.landmarks), obamaCrop).score;
    const scoreOnly = assessQuality(detected(OBAMA, marginal.score), obamaCrop).score;
    const both = assessQuality(marginal, obamaCrop).score;
    expect(sizeOnly).toBeLessThan(1);
    expect(scoreOnly).toBeLessThan(1);
    expect(both).toBeCloseTo(sizeOnly * scoreOnly, 2);
  });

  it('follows thresholds given by the caller (config)', () => {
    const strict = { ...DEFAULT_QUALITY_THRESHOLDS, minInterEyePx: 120 };
    const verdict = assessQuality(detected(OBAMA), obamaCrop, strict);
    expect(verdict.reasons).toEqual(['too-small']);
  });

  it('refuses a crop that is not 112 x 112', () => {
    expect(() => assessQuality(detected(OBAMA), { width: 64, height: 64, data: new Uint8Array(64 * 64 * 3) })).toThrow(
      RangeError,
    );
    expect(ALIGNED_SIZE).toBe(112);
  });
});

describe('faces cut by the frame edge', () => {
  it('rejects a face whose aligned crop lies partly outside the image as cut-off, and keeps a whole one', async () => {
    const photo = await decodeImage(join(FACES, 'obama', 'obama.jpg'));
    const crop = alignFace(photo, OBAMA);
    const whole = assessQuality(detected(OBAMA), crop, DEFAULT_QUALITY_THRESHOLDS, pictureArea(photo));
    expect(whole.measures.outOfFrame).toBe(0);
    expect(whole.reasons).not.toContain('cut-off');
    // The same face in a frame that ends just left of its left eye: half the crop is outside.
    const cut = assessQuality(detected(OBAMA), crop, DEFAULT_QUALITY_THRESHOLDS, {
      left: 0,
      top: 0,
      right: 520,
      bottom: photo.height,
    });
    expect(cut.measures.outOfFrame).toBeGreaterThan(0.2);
    expect(cut.accepted).toBe(false);
    expect(cut.reasons).toEqual(['cut-off']);
  });

  it('keeps a face whose crop margin lies outside the picture but whose face region does not (a photo cut to the face)', () => {
    // The picture ends 2 px outside the face region's corners, mapped into the photo: hair, ears
    // and forehead are cut away, the face is whole.
    const toImage = estimateSimilarity(ARCFACE_TEMPLATE_112, landmarkPoints(OBAMA));
    const corners = [
      [FACE_REGION.x0, FACE_REGION.y0],
      [FACE_REGION.x1, FACE_REGION.y0],
      [FACE_REGION.x0, FACE_REGION.y1],
      [FACE_REGION.x1, FACE_REGION.y1],
    ].map(([u, v]) => [
      toImage[0][0] * (u as number) + toImage[0][1] * (v as number) + toImage[0][2],
      toImage[1][0] * (u as number) + toImage[1][1] * (v as number) + toImage[1][2],
    ]);
    const xs = corners.map((c) => c[0] as number),
      ys = corners.map((c) => c[1] as number);
    const tight = {
      left: Math.floor(Math.min(...xs)) - 2,
      top: Math.floor(Math.min(...ys)) - 2,
      right: Math.ceil(Math.max(...xs)) + 2,
      bottom: Math.ceil(Math.max(...ys)) + 2,
    };
    const verdict = assessQuality(detected(OBAMA), obamaCrop, DEFAULT_QUALITY_THRESHOLDS, tight);
    expect(verdict.measures.outOfFrame).toBeGreaterThan(0.3);
    expect(verdict.measures.faceOutOfFrame).toBe(0);
    expect(verdict.reasons).toEqual([]);
    // The same picture 15 px (a seventh of the eye distance) narrower on one side cuts the face itself.
    const cut = assessQuality(detected(OBAMA), obamaCrop, DEFAULT_QUALITY_THRESHOLDS, {
      ...tight,
      right: tight.right - 15,
    });
    expect(cut.measures.faceOutOfFrame).toBeGreaterThan(DEFAULT_QUALITY_THRESHOLDS.maxFaceOutOfFrame);
    expect(cut.reasons).toEqual(['cut-off']);
  });

  it('counts black inside the picture as picture: a crop blacked out around the face is not cut off', () => {
    // Everything outside the central face region black (a black backdrop and hair): the gate
    // measures where the crop came from, not how dark it is.
    const masked = { ...obamaCrop, data: Uint8Array.from(obamaCrop.data) };
    for (let y = 0; y < ALIGNED_SIZE; y++) {
      for (let x = 0; x < ALIGNED_SIZE; x++)
        if (x < 24 || x >= 88 || y < 32)
          masked.data.fill(0, (y * ALIGNED_SIZE + x) * 3, (y * ALIGNED_SIZE + x + 1) * 3);
    }
    const verdict = assessQuality(detected(OBAMA), masked, DEFAULT_QUALITY_THRESHOLDS, pictureArea(obamaPhoto));
    expect(verdict.measures.outOfFrame).toBe(0);
    expect(verdict.reasons).not.toContain('cut-off');
  });
});

describe('pictureArea: where an image holds picture', () => {
  const solid = (
    width: number,
    height: number,
    rect?: { left: number; top: number; right: number; bottom: number },
  ): RgbImage => {
    const data = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        if (!rect || (x >= rect.left && x < rect.right && y >= rect.top && y < rect.bottom))
          data.fill(120, (y * width + x) * 3, (y * width + x + 1) * 3);
      }
    }
    return { width, height, data };
  };

  it('is the whole image when there are no bars', () => {
    expect(pictureArea(solid(64, 48))).toEqual({ left: 0, top: 0, right: 64, bottom: 48 });
  });

  it('leaves out letterbox and pillarbox bars (centred, one axis)', () => {
    expect(pictureArea(solid(64, 48, { left: 0, top: 6, right: 64, bottom: 42 }))).toEqual({
      left: 0,
      top: 6,
      right: 64,
      bottom: 42,
    });
    expect(pictureArea(solid(64, 48, { left: 10, top: 0, right: 53, bottom: 48 }))).toEqual({
      left: 10,
      top: 0,
      right: 53,
      bottom: 48,
    });
  });

  it('does not take black at one edge, or black on all four, for bars (a black backdrop, hair)', () => {
    expect(pictureArea(solid(64, 48, { left: 0, top: 12, right: 64, bottom: 48 }))).toEqual({
      left: 0,
      top: 0,
      right: 64,
      bottom: 48,
    });
    expect(pictureArea(solid(64, 48, { left: 8, top: 8, right: 56, bottom: 40 }))).toEqual({
      left: 0,
      top: 0,
      right: 64,
      bottom: 48,
    });
    expect(pictureArea(solid(64, 48, { left: 0, top: 0, right: 0, bottom: 0 }))).toEqual({
      left: 0,
      top: 0,
      right: 64,
      bottom: 48,
    });
  });
});
