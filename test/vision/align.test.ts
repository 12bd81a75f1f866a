// Alignment: the similarity estimate recovers known transforms, the warp samples where the
// transform says, and real faces land on the template (crops written as PNG for a visual check).
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import {
  ALIGNED_SIZE,
  alignFace,
  ARCFACE_TEMPLATE_112,
  estimateSimilarity,
  type Matrix2x3,
} from '../../src/vision/align.js';
import { decodeImage, encodePng } from '../../src/vision/image-input.js';
import type { Landmarks, Point, RgbImage } from '../../src/vision/types.js';
import { FACES_DIR } from '../helpers/shared-data.js';

const FACES = FACES_DIR;
/** Aligned crops for a visual check: outside the repository, never committed. */
const ARTEFACTS = join(tmpdir(), 'facegate-test-artefacts', 'aligned');

/**
 * Landmarks measured by hand (eye centres, nose tip, mouth corners) on crops of the photos
 * viewed at 3-4x with a 10 px grid; good to about 3 px.
 */
const HAND_MEASURED: Record<string, Landmarks> = {
  'obama/obama.jpg': {
    rightEye: [443, 214],
    leftEye: [549, 213],
    nose: [495, 270],
    rightMouth: [438, 323],
    leftMouth: [543, 318],
  },
  'biden/biden.jpg': {
    rightEye: [531, 322],
    leftEye: [650, 347],
    nose: [613, 410],
    rightMouth: [515, 456],
    leftMouth: [632, 474],
  },
};

function apply(m: Matrix2x3, p: Point): Point {
  return [m[0][0] * p[0] + m[0][1] * p[1] + m[0][2], m[1][0] * p[0] + m[1][1] * p[1] + m[1][2]];
}

function similarity(scale: number, degrees: number, tx: number, ty: number): Matrix2x3 {
  const a = scale * Math.cos((degrees * Math.PI) / 180),
    b = scale * Math.sin((degrees * Math.PI) / 180);
  return [
    [a, -b, tx],
    [b, a, ty],
  ];
}

function toLandmarks(points: readonly Point[]): Landmarks {
  const [rightEye, leftEye, nose, rightMouth, leftMouth] = points as [Point, Point, Point, Point, Point];
  return { rightEye, leftEye, nose, rightMouth, leftMouth };
}

function squaredError(m: Matrix2x3, src: readonly Point[], dst: readonly Point[]): number {
  return src.reduce((sum, p, i) => {
    const q = apply(m, p),
      d = dst[i] as Point;
    return sum + (q[0] - d[0]) ** 2 + (q[1] - d[1]) ** 2;
  }, 0);
}

describe('estimateSimilarity', () => {
  it.each([
    [1, 0, 0, 0],
    [2.5, 17, 300, -40],
    [0.2, -90, 5, 7],
    [7.3, 170, -1000, 2000],
  ])('recovers scale %d, rotation %d degrees, translation (%d, %d) exactly', (scale, degrees, tx, ty) => {
    const known = similarity(scale, degrees, tx, ty);
    const moved = ARCFACE_TEMPLATE_112.map((p) => apply(known, p));
    const m = estimateSimilarity(ARCFACE_TEMPLATE_112, moved);
    for (let r = 0; r < 2; r++) {
      for (let c = 0; c < 3; c++) expect(m[r]?.[c]).toBeCloseTo(known[r]?.[c] as number, 9);
    }
    // And the way alignment uses it: from the face's landmarks back to the template.
    const back = estimateSimilarity(moved, ARCFACE_TEMPLATE_112);
    moved.forEach((p, i) => {
      const q = apply(back, p),
        t = ARCFACE_TEMPLATE_112[i] as Point;
      expect(q[0]).toBeCloseTo(t[0], 9);
      expect(q[1]).toBeCloseTo(t[1], 9);
    });
  });

  it('is the least-squares optimum on noisy points: any small change of a parameter does worse', () => {
    const dx = [3, -2, 4, -1, 2],
      dy = [-1, 3, -2, 4, -3];
    const noisy = ARCFACE_TEMPLATE_112.map((p) => apply(similarity(3, 25, 400, 200), p)).map((p, i): Point => [
      p[0] + (dx[i] as number),
      p[1] + (dy[i] as number),
    ]);
    const m = estimateSimilarity(noisy, ARCFACE_TEMPLATE_112);
    const best = squaredError(m, noisy, ARCFACE_TEMPLATE_112);
    expect(best).toBeGreaterThan(0);
    const [a, nb, tx] = m[0],
      [b, , ty] = m[1];
    expect(nb).toBe(-b);
    for (const [da, db, ex, ey] of [
      [1e-4, 0, 0, 0],
      [-1e-4, 0, 0, 0],
      [0, 1e-4, 0, 0],
      [0, -1e-4, 0, 0],
      [0, 0, 1e-2, 0],
      [0, 0, -1e-2, 0],
      [0, 0, 0, 1e-2],
      [0, 0, 0, -1e-2],
    ] as const) {
      const changed: Matrix2x3 = [
        [a + da, -(b + db), tx + ex],
        [b + db, a + da, ty + ey],
      ];
      expect(squaredError(changed, noisy, ARCFACE_TEMPLATE_112)).toBeGreaterThan(best);
    }
  });

  it('never reflects: a mirrored face still gets a rotation with uniform scale', () => {
    const mirrored = ARCFACE_TEMPLATE_112.map(([x, y]): Point => [200 - x, y]);
    const m = estimateSimilarity(mirrored, ARCFACE_TEMPLATE_112);
    expect(m[0][0]).toBe(m[1][1]);
    expect(m[0][1]).toBe(-m[1][0]);
    expect(m[0][0] * m[1][1] - m[0][1] * m[1][0]).toBeGreaterThanOrEqual(0);
  });

  it('refuses degenerate input', () => {
    const same: Point[] = Array.from({ length: 5 }, () => [10, 10]);
    expect(() => estimateSimilarity(same, ARCFACE_TEMPLATE_112)).toThrow(RangeError);
    expect(() => estimateSimilarity(ARCFACE_TEMPLATE_112.slice(0, 4), ARCFACE_TEMPLATE_112)).toThrow(RangeError);
    expect(() =>
      estimateSimilarity(
        [
          [NaN, 0],
          [1, 1],
        ],
        [
          [0, 0],
          [1, 1],
        ],
      ),
    ).toThrow(RangeError);
  });
});

/** width x height image whose red is x, green is y (both < 256) and blue 100: bilinear sampling reproduces it. */
function gradientImage(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set([x, y, 100], (y * width + x) * 3);
  }
  return { width, height, data };
}

describe('alignFace', () => {
  it('is the identity on a 112 x 112 image whose landmarks are the template', () => {
    const image = gradientImage(112, 112);
    const out = alignFace(image, toLandmarks(ARCFACE_TEMPLATE_112));
    expect([out.width, out.height]).toEqual([112, 112]);
    expect(Buffer.from(out.data).equals(Buffer.from(image.data))).toBe(true);
  });

  it('samples each output pixel where the inverse transform puts it', () => {
    const image = gradientImage(256, 256);
    // The face sits at 1.6x, turned 20 degrees, with the crop's centre on the image's centre.
    const centre = apply(similarity(1.6, 20, 0, 0), [56, 56]);
    const toImage = similarity(1.6, 20, 128 - centre[0], 128 - centre[1]);
    const out = alignFace(image, toLandmarks(ARCFACE_TEMPLATE_112.map((p) => apply(toImage, p))));
    let worst = 0;
    for (let v = 0; v < ALIGNED_SIZE; v++) {
      for (let u = 0; u < ALIGNED_SIZE; u++) {
        const [x, y] = apply(toImage, [u, v]);
        expect(x >= 0 && y >= 0 && x <= 255 && y <= 255).toBe(true);
        const o = (v * ALIGNED_SIZE + u) * 3;
        worst = Math.max(worst, Math.abs((out.data[o] as number) - x), Math.abs((out.data[o + 1] as number) - y));
        expect(out.data[o + 2]).toBe(100);
      }
    }
    // Bilinear interpolation of a linear ramp is exact; only the final rounding remains.
    expect(worst).toBeLessThanOrEqual(0.5 + 1e-9);
  });

  it('fills what falls outside the image with black', () => {
    const image = gradientImage(100, 100);
    // Template at 1:1 shifted 60 px left: output columns u < ~60 come from x < 0.
    const out = alignFace(image, toLandmarks(ARCFACE_TEMPLATE_112.map(([x, y]): Point => [x - 60, y])));
    for (let v = 0; v < ALIGNED_SIZE; v++) {
      for (let u = 0; u < ALIGNED_SIZE; u++) {
        const o = (v * ALIGNED_SIZE + u) * 3;
        const x = u - 60;
        if (x < -1 || v >= 100) expect([out.data[o], out.data[o + 1], out.data[o + 2]]).toEqual([0, 0, 0]);
        else if (x >= 0 && v < 99) expect([out.data[o], out.data[o + 1], out.data[o + 2]]).toEqual([x, v, 100]);
      }
    }
  });

  it('writes into the crop it is given and returns it', () => {
    const image = gradientImage(256, 256);
    const out = {
      width: ALIGNED_SIZE,
      height: ALIGNED_SIZE,
      data: new Uint8Array(ALIGNED_SIZE * ALIGNED_SIZE * 3).fill(7),
    };
    const data = out.data;
    const result = alignFace(image, toLandmarks(ARCFACE_TEMPLATE_112.map(([x, y]): Point => [x + 50, y + 50])), out);
    expect(result).toBe(out);
    expect(result.data).toBe(data);
    expect([data[0], data[1], data[2]]).toEqual([50, 50, 100]);
  });

  it('refuses a crop buffer of the wrong size and image data that does not match its size', () => {
    const image = gradientImage(64, 64);
    const landmarks = toLandmarks(ARCFACE_TEMPLATE_112);
    expect(() => alignFace(image, landmarks, { width: 112, height: 112, data: new Uint8Array(10) })).toThrow(
      RangeError,
    );
    expect(() => alignFace({ width: 64, height: 64, data: new Uint8Array(5) }, landmarks)).toThrow(RangeError);
  });

  it('puts the hand-measured eyes of real faces on the template eyes, and writes the crops as PNG', async () => {
    await mkdir(ARTEFACTS, { recursive: true });
    const crop = { width: ALIGNED_SIZE, height: ALIGNED_SIZE, data: new Uint8Array(ALIGNED_SIZE * ALIGNED_SIZE * 3) };
    const luma = (cx: number, cy: number, r: number): number => {
      let sum = 0,
        n = 0;
      for (let y = Math.round(cy) - r; y <= Math.round(cy) + r; y++) {
        for (let x = Math.round(cx) - r; x <= Math.round(cx) + r; x++, n++) {
          const o = (y * ALIGNED_SIZE + x) * 3;
          sum +=
            0.299 * (crop.data[o] as number) +
            0.587 * (crop.data[o + 1] as number) +
            0.114 * (crop.data[o + 2] as number);
        }
      }
      return sum / n;
    };
    for (const [name, landmarks] of Object.entries(HAND_MEASURED)) {
      alignFace(await decodeImage(join(FACES, name)), landmarks, crop);
      await writeFile(
        join(ARTEFACTS, `${name.replace(/\.[^.]+$/, '').replace(/[/\\]/g, '_')}.png`),
        await encodePng(crop),
      );
      const [rightEye, leftEye, nose] = ARCFACE_TEMPLATE_112 as [Point, Point, Point];
      // An eye (iris, lashes) is darker than the skin of the nose tip and than the cheek below it.
      for (const eye of [rightEye, leftEye]) {
        expect(luma(eye[0], eye[1], 2)).toBeLessThan(luma(nose[0], nose[1], 2) - 30);
        expect(luma(eye[0], eye[1], 2)).toBeLessThan(luma(eye[0], eye[1] + 14, 2) - 30);
      }
    }
    console.info(`aligned crops written to ${ARTEFACTS}`);
  });
});
