// The cameras page's snapshot (src/pipeline/snapshot.ts): a frame as JPEG, scaled down, with each
// tracked face boxed in its decision's colour where the face is, at any frame size.
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';

import { renderView } from '../../src/pipeline/snapshot.js';

async function pixel(jpeg: Buffer, x: number, y: number): Promise<number[]> {
  const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
  const at = (y * info.width + x) * info.channels;
  return [data[at] ?? 0, data[at + 1] ?? 0, data[at + 2] ?? 0];
}

describe('renderView', () => {
  it('scales a 1280x720 frame to 960 wide and draws a known face green and an unknown one red, where they are', async () => {
    const data = new Uint8Array(1280 * 720 * 3).fill(60);
    const jpeg = await renderView({
      image: { width: 1280, height: 720, data },
      at: new Date(),
      faces: [
        { box: [100, 200, 200, 200], label: 'Ada <b>', known: true },
        { box: [800, 200, 200, 200], label: 'unknown', known: false },
        { box: [500, 500, 100, 100], label: null, known: false },
      ],
    });
    const meta = await sharp(jpeg).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 960, 540]);
    // The left edge of each box, scaled by 0.75: green, then red; the frame's grey elsewhere.
    const [r1, g1] = await pixel(jpeg, 75, 225);
    expect(g1).toBeGreaterThan(150);
    expect(r1).toBeLessThan(120);
    const [r2, g2] = await pixel(jpeg, 600, 225);
    expect(r2).toBeGreaterThan(180);
    expect(g2).toBeLessThan(140);
    const [r3 = 0, g3 = 0, b3 = 0] = await pixel(jpeg, 300, 100);
    expect(Math.max(r3, g3, b3) - Math.min(r3, g3, b3)).toBeLessThan(10);
  });

  it('keeps a small frame at its size', async () => {
    const jpeg = await renderView({
      image: { width: 320, height: 240, data: new Uint8Array(320 * 240 * 3) },
      at: new Date(),
      faces: [],
    });
    expect((await sharp(jpeg).metadata()).width).toBe(320);
  });
});
