// The face detector contract: an image in, faces with boxes and five landmarks out, in the
// image's own pixel coordinates. YuNet implements it (yunet-detector.ts); SCRFD or RetinaFace
// would too, with their own decoding behind the same method.
import type { DetectedFace, RgbImage } from './types.js';

export interface DetectOptions {
  /**
   * Detect as if the image had a border of this fraction of its longer side on every side
   * (default 0). A face that fills the picture (a photo cut to the face) is larger than the
   * detector's anchors reach and touches every edge; with a border it is a face of ordinary size.
   * Boxes and landmarks still come back in the image's own pixels (landmarks may lie outside it).
   */
  margin?: number;
  /**
   * The longest side of the model input, a multiple of 32, for a detector whose input size is free
   * (the dynamic YuNet); default the detector's own. Smaller is cheaper and finds fewer small faces:
   * `facegate bench detector` measures which size still finds every face the quality gate accepts.
   */
  size?: number;
}

/**
 * The model input a camera frame needs, as a share of the frame's longer side: 416 / 1280. From
 * `facegate bench detector` on 1280 x 720 frames (lfw10's faces pasted at 32-64 px between the
 * eyes): the dynamic YuNet finds all 61 faces down to 320 and 60 at 288; against the fixed
 * 640 x 640 model the quality gate's verdicts change only for faces at its very minimum (32 px,
 * where a pixel of landmark jitter decides) down to 416, and for larger faces too from 384 down.
 * 416 costs about 40 % of the fixed model per frame. A camera may set its own (cameras[].detectorSize).
 */
export const CAMERA_DETECTOR_SCALE = 416 / 1280;

/** The detector size for a camera's width x height frames: the scale above, in multiples of 32, at most 640. */
export function cameraDetectorSize(width: number, height: number): number {
  return Math.min(640, Math.max(96, Math.ceil((Math.max(width, height) * CAMERA_DETECTOR_SCALE) / 32) * 32));
}

export interface FaceDetector {
  /** For logs and `facegate doctor`: the model behind it. */
  readonly modelId: string;
  /** Whether detect() takes a `size` (a model whose input size is free, like the dynamic YuNet). */
  readonly sizeIsFree?: boolean;
  /** Faces found, best score first. */
  detect(image: RgbImage, options?: DetectOptions): Promise<DetectedFace[]>;
}
