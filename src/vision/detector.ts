// The face detector contract: an image in, faces with boxes and five landmarks out, in the
// image's own pixel coordinates. YuNet implements it (yunet-detector.ts); SCRFD or RetinaFace
// would too, with their own decoding behind the same method.
import type { DetectedFace, RgbImage } from './types.js';

export interface FaceDetector {
  /** For logs and `facegate doctor`: the model behind it. */
  readonly modelId: string;
  /** Faces found, best score first. */
  detect(image: RgbImage): Promise<DetectedFace[]>;
}
