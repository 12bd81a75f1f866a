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
}

export interface FaceDetector {
  /** For logs and `facegate doctor`: the model behind it. */
  readonly modelId: string;
  /** Faces found, best score first. */
  detect(image: RgbImage, options?: DetectOptions): Promise<DetectedFace[]>;
}
