// The quality gate: decides, before a face is embedded or enrolled, whether it is good enough to
// say anything about who it is. Recognition on a tiny, blurred, turned or badly lit face is where
// strangers get matched to employees, so every check rejects when in doubt.
import { ALIGNED_SIZE, cropOutsidePicture, type CropRegion, type PictureArea } from './align.js';
import type { AlignedFace, DetectedFace, Landmarks, QualityReason, QualityVerdict } from './types.js';

export interface QualityThresholds {
  /** Pixels between the eye centres in the original image; at or below: 'too-small'. */
  minInterEyePx: number;
  /** Detector confidence; at or below: 'low-score'. */
  minDetectorScore: number;
  /** Variance of the Laplacian of the aligned crop's face region (luma, 0..255); at or below: 'blurry'. */
  minLaplacianVariance: number;
  /** Yaw proxy (|nose offset from the eye midline| / inter-eye distance); at or above: 'pose'. */
  maxYaw: number;
  /** |eye-line angle| in degrees; at or above: 'pose'. */
  maxRollDegrees: number;
  /** Pitch proxy ((nose - eye line) / (mouth - eye line)); outside (min, max): 'pose'. */
  minPitch: number;
  maxPitch: number;
  /** Mean luma (0..255) of the aligned face region; at or below: 'too-dark', at or above: 'too-bright'. */
  minMeanLuma: number;
  maxMeanLuma: number;
  /** Standard deviation of that luma; at or below: 'low-contrast'. */
  minContrast: number;
  /** Share of the face region of the aligned crop (FACE_REGION) outside the picture; at or above: 'cut-off'. */
  maxFaceOutOfFrame: number;
}

/**
 * Defaults, and where each number comes from. "Measured" means: the 17 faces YuNet finds in
 * ../shared/faces (15 real faces, 2 false detections; yunet_s_dynamic.onnx decoded as the models
 * README says, images scaled to 640 px on their long side), aligned by alignFace and measured by this
 * file; the effect on recognition was measured with fr_feature.onnx (cosine of the embedding of a
 * degraded crop to that of the intact crop, "self", and to other photos of the same person).
 * test/vision/quality.test.ts keeps the sharp/blurred pair and the hand-measured faces as checks.
 */
export const DEFAULT_QUALITY_THRESHOLDS: Readonly<QualityThresholds> = Object.freeze({
  // The ArcFace template puts the eyes 35.2 px apart in the 112 px crop: below that the crop is an
  // upsampling with no detail to add, and ArcFace-style recognisers are reported reliable from
  // about 30-40 px. 32 px allows at most a 10 % upsampling. (Faces here: 50-208 px.)
  minInterEyePx: 32,
  // YuNet scores of the 15 real faces: 0.918-0.952; its two false detections (a painting and
  // a patch of wall in biden2.jpg): 0.70 and 0.61. 0.8 sits between, 0.1 clear of both.
  minDetectorScore: 0.8,
  // Variance of the Laplacian on the crop's face region (units: luma^2, and only meaningful on
  // this 112 px crop: the number depends on image size). Sharp real crops: 486-1927. The same
  // crops blurred (gaussian, sigma in crop pixels): sigma 0.7: 107-286, sigma 1: 69-186,
  // sigma 1.3: 28-73, sigma 2: 10-25. The embedding holds to sigma 1 (self >= 0.97) and drifts
  // from 1.3 (self 0.88-0.95, then 0.71-0.84 at sigma 2 with different-person similarity rising by
  // up to 0.1). 100 rejects every crop from sigma 1.3 on, and keeps a 5x margin under the softest
  // sharp photo here, since camera frames are softer than press photos.
  minLaplacianVariance: 100,
  // With a mean-face geometry (nose tip about 0.45-0.6 eye distances in front of the eyes) the
  // yaw proxy is about 0.45-0.6 x tan(yaw), so 0.35 is roughly 30-38 degrees, where ArcFace-style
  // embeddings and 5-point landmarks both start to fail. Measured: frontal 0.00-0.11, a slightly
  // turned obama2.jpg 0.20, biden.jpg 0.08 (YuNet landmarks) or 0.31 (hand-measured), a child
  // looking away 0.40, a false detection 0.57. The proxy is noisy (on biden.jpg, YuNet's left eye
  // 16 px, 13 % of the eye distance, from the hand-measured one moves it by 0.23), so the limit is
  // not tighter than that.
  maxYaw: 0.35,
  // Alignment removes roll, so this only refuses landmark sets that are no upright head; faces
  // here roll 0-12 degrees, a false detection 15.6.
  maxRollDegrees: 30,
  // The template itself measures 0.495; YuNet's landmarks on the frontal faces here give
  // 0.50-0.64 (its nose point sits a little low), hand-measured 0.53. With a mean-face geometry
  // the proxy moves by about 0.4 x tan(pitch), so 0.35..0.75 is roughly +-25 degrees around the
  // measured frontal 0.55.
  minPitch: 0.35,
  maxPitch: 0.75,
  // Real faces here: mean luma 71-156. Darkening the crops (x 0.3, luma 29-47) still leaves self
  // similarity >= 0.91; x 0.2 (luma 20-31) drops it to 0.81. 45 keeps a margin for the sensor noise
  // real underexposure brings and a scaled copy does not.
  minMeanLuma: 45,
  // Brightening (255 - (255 - v) x 0.4, luma 192-215): self 0.90-0.97; x 0.3 (luma 208-225):
  // 0.84-0.95. Clipped highlights are lost for good, so 200.
  maxMeanLuma: 200,
  // Real faces here: 27-64. Flattening around the mean to 10.8-20.6 keeps self >= 0.93; to
  // 8-15 it is 0.87-0.94 and to 5-10 0.67-0.88. 15 rejects from where the drift starts.
  minContrast: 15,
  // Measured on the face region (FACE_REGION: brows to chin, cheek to cheek), not the whole crop,
  // so that a tight crop (a photo cut to the face, ../shared/faces/bbt/*/*.png) is told from a half
  // face: its hair, ears and forehead are outside the picture, its face is not. The tight crops
  // have 22-49 % of the whole crop outside but 0-0.3 % of the face region; the partial faces in
  // ../shared/faces (obama_partial_face*.jpg, cut through the cheek by the image edge, and still
  // matching the full photo at 0.86-0.88: the confident half-face match to refuse) have 25-30 % of
  // the crop and 7-16 % of the face region outside, and a face cut through the nose about half.
  // Whole faces in every other photo here: 0. 2 % sits 3.5x under the partial faces and 6x over
  // the tight crops. (Counting pure-black pixels instead, as this gate once did, read 14-17 % on
  // black hair and backgrounds, issue 13: geometry only now.)
  maxFaceOutOfFrame: 0.02,
});

/**
 * How far past its threshold a measure must be for its check to score 1. Each check's score is
 * smoothstep(0 -> 1) across that band: exactly 0 at the threshold and beyond it (so a face is
 * accepted if and only if every check scores above 0), 1 once comfortably clear, flat at both ends
 * so that measurement noise near either end barely moves the score. The verdict's score is the
 * product: one marginal check is enough to make the whole face marginal.
 */
const SCORE_BANDS = {
  // Up to 52 px, 1.5x the template's eye distance: the crop is then a downsampling with detail to spare.
  interEyePx: 20,
  detectorScore: 0.1,
  // Relative: Laplacian variance spans orders of magnitude, so the band is a factor (to 2x the threshold).
  laplacianVarianceFactor: 2,
  yaw: 0.15,
  rollDegrees: 15,
  pitch: 0.1,
  meanLuma: 25,
  contrast: 10,
  // Under the limit itself, so that a face wholly inside the picture scores 1 here.
  faceOutOfFrame: 0.015,
} as const;

// The face region of the crop whose pixels the blur and exposure checks look at: eyebrows to
// below the mouth, cheek to cheek (template eyes at y 51.6, mouth at y 92.3, x 38..74), so
// that background, hair, and black borders from faces at the image edge count as little as possible.
const REGION_X0 = 24,
  REGION_X1 = 88,
  REGION_Y0 = 32,
  REGION_Y1 = 104;
/** That region as a CropRegion: the part of the crop that is the face itself (the cut-off check's too). */
export const FACE_REGION: Readonly<CropRegion> = Object.freeze({
  x0: REGION_X0,
  y0: REGION_Y0,
  x1: REGION_X1,
  y1: REGION_Y1,
});
const REGION_W = REGION_X1 - REGION_X0,
  REGION_H = REGION_Y1 - REGION_Y0;
// Luma of the region plus a 1-pixel ring (for the Laplacian at the region's edge). One buffer for
// the process: JavaScript runs one assessment at a time, so no face needs its own.
const LUMA_STRIDE = REGION_W + 2;
const lumaScratch = new Float32Array(LUMA_STRIDE * (REGION_H + 2));

function smoothstep(t: number): number {
  if (!(t > 0)) return 0; // also NaN: an unmeasurable face is rejected
  if (t >= 1) return 1;
  return t * t * (3 - 2 * t);
}

/** Score of a measure that must exceed `min`; reaching `min + band` scores 1. */
function atLeast(value: number, min: number, band: number): number {
  return smoothstep((value - min) / band);
}

/** Score of a measure that must stay below `max`; reaching `max - band` scores 1. */
function atMost(value: number, max: number, band: number): number {
  return smoothstep((max - value) / band);
}

/** Pose proxies from the five landmarks, as documented on QualityVerdict.measures. */
export function poseFromLandmarks(landmarks: Landmarks): {
  interEyePx: number;
  yaw: number;
  rollDegrees: number;
  pitch: number;
} {
  const { rightEye, leftEye, nose, rightMouth, leftMouth } = landmarks;
  const ex = leftEye[0] - rightEye[0],
    ey = leftEye[1] - rightEye[1];
  const interEyePx = Math.hypot(ex, ey);
  // Unit vector along the eye line (subject's right eye to left eye) and its normal (downwards
  // on an upright face).
  const ux = ex / interEyePx,
    uy = ey / interEyePx;
  const nx = -uy,
    ny = ux;
  const midX = (rightEye[0] + leftEye[0]) / 2,
    midY = (rightEye[1] + leftEye[1]) / 2;
  const noseX = nose[0] - midX,
    noseY = nose[1] - midY;
  const mouthX = (rightMouth[0] + leftMouth[0]) / 2 - midX,
    mouthY = (rightMouth[1] + leftMouth[1]) / 2 - midY;
  return {
    interEyePx,
    yaw: Math.abs(noseX * ux + noseY * uy) / interEyePx,
    rollDegrees: (Math.atan2(ey, ex) * 180) / Math.PI,
    pitch: (noseX * nx + noseY * ny) / (mouthX * nx + mouthY * ny),
  };
}

/** Mean and standard deviation of luma, and variance of its 4-neighbour Laplacian, over the face region. */
function measureCrop(aligned: AlignedFace): { meanLuma: number; contrast: number; laplacianVariance: number } {
  const size = ALIGNED_SIZE;
  if (aligned.width !== size || aligned.height !== size || aligned.data.length !== size * size * 3) {
    throw new RangeError(
      `Expected an aligned face of ${size} x ${size} x 3 bytes but received ${aligned.width} x ${aligned.height} with ${aligned.data.length} bytes`,
    );
  }
  const rgb = aligned.data;
  const w = REGION_W,
    h = REGION_H,
    lw = LUMA_STRIDE,
    luma = lumaScratch;
  // BT.601 weights (OpenCV's RGB2GRAY), so the numbers compare with the usual cv2.Laplacian
  // recipe (which rounds luma to bytes first; this does not: within 0.3 % on the photos here).
  let sum = 0,
    sumSq = 0;
  for (let y = 0; y < h + 2; y++) {
    const sy = REGION_Y0 - 1 + y;
    for (let x = 0; x < lw; x++) {
      const p = (sy * size + REGION_X0 - 1 + x) * 3;
      const l = 0.299 * (rgb[p] as number) + 0.587 * (rgb[p + 1] as number) + 0.114 * (rgb[p + 2] as number);
      luma[y * lw + x] = l;
      if (x > 0 && y > 0 && x <= w && y <= h) {
        sum += l;
        sumSq += l * l;
      }
    }
  }
  const n = w * h;
  const meanLuma = sum / n;
  const contrast = Math.sqrt(Math.max(0, sumSq / n - meanLuma * meanLuma));
  let lSum = 0,
    lSumSq = 0;
  for (let y = 1; y <= h; y++) {
    for (let x = 1; x <= w; x++) {
      const i = y * lw + x;
      const lap =
        (luma[i - 1] as number) +
        (luma[i + 1] as number) +
        (luma[i - lw] as number) +
        (luma[i + lw] as number) -
        4 * (luma[i] as number);
      lSum += lap;
      lSumSq += lap * lap;
    }
  }
  const lMean = lSum / n;
  return { meanLuma, contrast, laplacianVariance: Math.max(0, lSumSq / n - lMean * lMean) };
}

/**
 * Judges one detected face and its aligned crop. Never throws on odd geometry: it rejects it.
 * `picture` is where the image the face was found in holds picture (pictureArea(image): the whole
 * image less letterbox bars); without it, a face cut by the picture's edge cannot be told from a
 * whole one.
 */
export function assessQuality(
  face: DetectedFace,
  aligned: AlignedFace,
  thresholds: Readonly<QualityThresholds> = DEFAULT_QUALITY_THRESHOLDS,
  picture?: PictureArea,
): QualityVerdict {
  const t = thresholds;
  const b = SCORE_BANDS;
  const pose = poseFromLandmarks(face.landmarks);
  const crop = measureCrop(aligned);
  // Geometry, not colour: the share of the crop that alignFace took from outside the picture.
  // Dark hair, a black backdrop or a black coat are picture, however black. Judged on the face
  // region: the crop's margin (hair, ears, background) may lie outside, as in a photo cut to the face.
  const outOfFrame = picture ? cropOutsidePicture(face.landmarks, picture) : 0;
  const faceOutOfFrame = picture ? cropOutsidePicture(face.landmarks, picture, FACE_REGION) : 0;
  const measures = { ...pose, detectorScore: face.score, ...crop, outOfFrame, faceOutOfFrame };

  const reasons: QualityReason[] = [];
  let score = 1;
  const check = (s: number, reason: QualityReason): void => {
    if (s === 0 && !reasons.includes(reason)) reasons.push(reason);
    score *= s;
  };
  check(atLeast(pose.interEyePx, t.minInterEyePx, b.interEyePx), 'too-small');
  check(atLeast(face.score, t.minDetectorScore, b.detectorScore), 'low-score');
  check(
    atLeast(crop.laplacianVariance, t.minLaplacianVariance, t.minLaplacianVariance * (b.laplacianVarianceFactor - 1)),
    'blurry',
  );
  check(atMost(pose.yaw, t.maxYaw, b.yaw), 'pose');
  check(atMost(Math.abs(pose.rollDegrees), t.maxRollDegrees, b.rollDegrees), 'pose');
  check(Math.min(atLeast(pose.pitch, t.minPitch, b.pitch), atMost(pose.pitch, t.maxPitch, b.pitch)), 'pose');
  check(atLeast(crop.meanLuma, t.minMeanLuma, b.meanLuma), 'too-dark');
  check(atMost(crop.meanLuma, t.maxMeanLuma, b.meanLuma), 'too-bright');
  check(atLeast(crop.contrast, t.minContrast, b.contrast), 'low-contrast');
  check(atMost(faceOutOfFrame, t.maxFaceOutOfFrame, b.faceOutOfFrame), 'cut-off');

  return { score, accepted: reasons.length === 0, reasons, measures };
}
