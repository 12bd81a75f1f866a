// Test photos with a second face beside the subject, made from the shared photos at test time
// (never stored): the subject's photo widened to the left with a grey backdrop, and another
// person's face pasted there at a chosen size relative to the subject's, sharp or blurred.
import path from 'node:path';

import sharp from 'sharp';

import type { FaceAnalyzer } from '../../src/vision/face-analyzer.js';
import { decodeImage } from '../../src/vision/image-input.js';
import type { DetectedFace, Landmarks } from '../../src/vision/types.js';
import { FACES_DIR } from './shared-data.js';

const eyeDistance = (l: Landmarks) => Math.hypot(l.leftEye[0] - l.rightEye[0], l.leftEye[1] - l.rightEye[1]);

async function onlyFace(analyzer: FaceAnalyzer, file: string): Promise<DetectedFace> {
  const found = await analyzer.analyze(await decodeImage(path.join(FACES_DIR, file)));
  if (found.length !== 1) throw new Error(`expected one face in ${file} but found ${found.length}`);
  return (found[0] as (typeof found)[0]).face;
}

export interface Composite {
  /** The photo, encoded as PNG (what an enrollment receives). */
  png: Buffer;
  /** How far the subject moved right: its box in the composite is its box in its own photo plus this in x. */
  shiftX: number;
  /** The subject's box in its own photo. */
  subjectBox: DetectedFace['box'];
}

/**
 * `subject` (a shared photo of one face) with the face of `other` pasted to its left, its eye
 * distance `ratio` x the subject's, blurred by a gaussian of `blurSigma` pixels when given.
 */
export async function withFaceBeside(
  analyzer: FaceAnalyzer,
  subject: string,
  other: string,
  ratio: number,
  blurSigma = 0,
): Promise<Composite> {
  const main = await onlyFace(analyzer, subject);
  const source = await onlyFace(analyzer, other);
  const l = source.landmarks;
  const sourceEyes = eyeDistance(l);
  // A square of 4 eye distances around the face: the head and a little around it.
  const side = Math.round(4 * sourceEyes);
  const cx = (l.rightEye[0] + l.leftEye[0]) / 2;
  const cy = (l.rightEye[1] + l.leftEye[1] + l.rightMouth[1] + l.leftMouth[1]) / 4;
  const meta = await sharp(path.join(FACES_DIR, other)).metadata();
  const left = Math.max(0, Math.round(cx - side / 2)),
    top = Math.max(0, Math.round(cy - side / 2));
  const size = Math.round((side * ratio * eyeDistance(main.landmarks)) / sourceEyes);
  let patch = sharp(path.join(FACES_DIR, other))
    .extract({ left, top, width: Math.min(side, meta.width - left), height: Math.min(side, meta.height - top) })
    .resize(size, size);
  if (blurSigma > 0) patch = patch.blur(blurSigma);
  const shiftX = size + 40;
  const png = await sharp(path.join(FACES_DIR, subject))
    .extend({ left: shiftX, background: { r: 90, g: 90, b: 90 } })
    .composite([{ input: await patch.png().toBuffer(), left: 20, top: Math.max(0, Math.round(main.box[1])) }])
    .png()
    .toBuffer();
  return { png, shiftX, subjectBox: main.box };
}
