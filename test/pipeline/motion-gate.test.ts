// The motion gate on real frames: a shared photo as a 1280 x 720 camera frame, still, with noise,
// and with a face pasted in; the periodic look and a waiting track force detection.
import path from 'node:path';

import sharp, { type Sharp } from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';

import { DEFAULT_MOTION_GATE, lumaGrid, mergeMotionGate, MotionGate } from '../../src/pipeline/motion-gate.js';
import { seededRandom } from '../../src/seeded-random.js';
import type { RgbImage } from '../../src/vision/types.js';
import { FACES_DIR } from '../helpers/shared-data.js';

const W = 1280,
  H = 720;
let scene: RgbImage;
let withFace: RgbImage;

async function frame(input: Sharp): Promise<RgbImage> {
  const data = await input.removeAlpha().raw().toBuffer();
  return { width: W, height: H, data: new Uint8Array(data) };
}

function noisy(image: RgbImage, sigma: number, seed: number): RgbImage {
  const random = seededRandom(seed);
  const data = new Uint8Array(image.data.length);
  for (let i = 0; i < data.length; i++) {
    const g = Math.sqrt(-2 * Math.log(random() || 1e-12)) * Math.cos(2 * Math.PI * random());
    data[i] = Math.max(0, Math.min(255, Math.round((image.data[i] as number) + sigma * g)));
  }
  return { ...image, data };
}

beforeAll(async () => {
  const backdrop = sharp(path.join(FACES_DIR, 'mixed/obama_and_biden.jpg')).resize(W, H, {
    fit: 'contain',
    background: { r: 0, g: 0, b: 0 },
  });
  scene = await frame(backdrop.clone());
  // A 128 px face (32 px between the eyes: the smallest the quality gate accepts) stepping in.
  const face = await sharp(path.join(FACES_DIR, 'obama/obama3.jpg')).resize(128, 128, { fit: 'cover' }).toBuffer();
  withFace = await frame(
    sharp(Buffer.from(scene.data), { raw: { width: W, height: H, channels: 3 } }).composite([
      { input: face, left: 900, top: 200 },
    ]),
  );
});

describe('lumaGrid', () => {
  it('averages each cell: a uniform grey frame gives its luma everywhere, rows follow the aspect ratio', () => {
    const grey: RgbImage = { width: W, height: H, data: new Uint8Array(W * H * 3).fill(100) };
    const { rows, cells } = lumaGrid(grey, 32);
    expect(rows).toBe(18);
    expect(cells).toHaveLength(32 * 18);
    for (const c of cells) expect(c).toBeCloseTo(100, 5);
  });
});

describe('MotionGate', () => {
  it('looks at the first frame, then skips the same scene, even with sensor-like noise', () => {
    const gate = new MotionGate();
    expect(gate.check(scene, 0).verdict).toBe('motion');
    for (let i = 1; i <= 8; i++) expect(gate.check(noisy(scene, 4, i), i * 200).verdict).toBe('still');
  });

  it('lets a face stepping in through (the smallest face the quality gate accepts)', () => {
    const gate = new MotionGate();
    gate.check(scene, 0);
    const { verdict, changedCells } = gate.check(withFace, 200);
    expect(verdict).toBe('motion');
    expect(changedCells).toBeGreaterThanOrEqual(DEFAULT_MOTION_GATE.minCells);
  });

  it('compares with the frame last looked at, so a change is seen until the detector has looked', () => {
    const gate = new MotionGate({ fullEveryMs: 60_000 });
    gate.check(scene, 0);
    expect(gate.check(withFace, 200).verdict).toBe('motion');
    // The detector looked at the face: the same picture again is still, the face leaving is motion.
    expect(gate.check(withFace, 400).verdict).toBe('still');
    expect(gate.check(scene, 600).verdict).toBe('motion');
  });

  it('looks every fullEveryMs however still the scene, and whenever a track waits for its decision', () => {
    const gate = new MotionGate({ fullEveryMs: 1_000 });
    expect(gate.check(scene, 0).verdict).toBe('motion');
    expect(gate.check(scene, 500).verdict).toBe('still');
    expect(gate.check(scene, 700, true).verdict).toBe('motion');
    expect(gate.check(scene, 1_500).verdict).toBe('still');
    expect(gate.check(scene, 1_700).verdict).toBe('motion');
  });

  it("merges a camera's keys over the pipeline's, and false at either level turns the gate off", () => {
    expect(mergeMotionGate({ cellDelta: 8, minCells: 2 }, { cellDelta: 12 })).toEqual({ cellDelta: 12, minCells: 2 });
    expect(mergeMotionGate({ cellDelta: 8 }, undefined)).toEqual({ cellDelta: 8 });
    expect(mergeMotionGate({ cellDelta: 8 }, false)).toBe(false);
    expect(mergeMotionGate(false, { cellDelta: 12 })).toBe(false);
  });

  it('refuses options that would turn it off or on by accident, naming the key', () => {
    expect(() => new MotionGate({ cellDelta: 0 })).toThrow(/motion\.cellDelta but received 0/);
    expect(() => new MotionGate({ cellDelta: 300 })).toThrow(/motion\.cellDelta/);
    expect(() => new MotionGate({ minCells: 1.5 })).toThrow(/positive integer for motion\.minCells/);
    expect(() => new MotionGate({ fullEveryMs: -1 })).toThrow(/motion\.fullEveryMs/);
    expect(() => new MotionGate({ columns: 0 })).toThrow(/motion\.columns/);
  });
});
