// Camera frames go to the dynamic YuNet at the size a camera needs (vision/detector.ts
// cameraDetectorSize): the same face found as by the fixed 640 x 640 model that photos use, sizes
// checked, and a fixed-input detector refused a size instead of silently ignoring it.
import path from 'node:path';

import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';

import { Pipeline } from '../../src/pipeline/pipeline.js';
import { iou } from '../../src/recognition/tracker.js';
import { cameraDetectorSize } from '../../src/vision/detector.js';
import { openVision, type Vision } from '../../src/vision/index.js';
import type { RgbImage } from '../../src/vision/types.js';
import { FACES_DIR, MODELS_DIR } from '../helpers/shared-data.js';

let vision: Vision;
let frame: RgbImage;

beforeAll(async () => {
  vision = await openVision({ modelsDir: MODELS_DIR });
  const data = await sharp(path.join(FACES_DIR, 'obama/obama3.jpg'))
    .rotate()
    .resize(1280, 720, { fit: 'contain', background: { r: 0, g: 0, b: 0 } })
    .removeAlpha()
    .raw()
    .toBuffer();
  frame = { width: 1280, height: 720, data: new Uint8Array(data) };
}, 60_000);

describe('the camera detector', () => {
  it("is the manifest's dynamic YuNet beside the fixed photo detector", () => {
    expect(vision.camera.info.name).toBe('yunet_s_dynamic');
    expect(vision.camera.detector.sizeIsFree).toBe(true);
    expect(vision.analyzer.detector.sizeIsFree).toBe(false);
  });

  it('finds the face the photo detector finds, at the size a 1280 x 720 camera gets (416)', async () => {
    expect(cameraDetectorSize(1280, 720)).toBe(416);
    expect(cameraDetectorSize(1920, 1080)).toBe(640);
    expect(cameraDetectorSize(640, 360)).toBe(224);
    const [reference] = await vision.analyzer.detector.detect(frame);
    const found = await vision.camera.detector.detect(frame, { size: 416 });
    expect(found).toHaveLength(1);
    expect(iou(found[0]!.box, reference!.box)).toBeGreaterThan(0.8);
    const examined = await vision.analyzer.examine(frame, found[0]!);
    expect(examined.quality.accepted).toBe(true);
  });

  it('refuses a size that is not a positive multiple of 32, and any size for a fixed-input model', async () => {
    await expect(vision.camera.detector.detect(frame, { size: 400 })).rejects.toThrow(
      /positive multiple of 32 but received 400/,
    );
    await expect(vision.analyzer.detector.detect(frame, { size: 416 })).rejects.toThrow(
      /input is fixed at 640 x 640, but received 416/,
    );
  });

  it("refuses a camera's detector size at start when the pipeline's detector has a fixed input", () => {
    const pipeline = new Pipeline({
      analyzer: vision.analyzer,
      // Only the detector matters before a frame arrives.
      storage: {} as never,
      users: {} as never,
      grouping: {} as never,
      logger: {} as never,
    });
    expect(() => pipeline.addCamera('door', { detectorSize: 416 })).toThrow(
      /whose input size is free for camera door's detectorSize 416/,
    );
  });
});
