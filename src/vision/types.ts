// The shapes that flow through vision: decoded images, detected faces, aligned crops, quality
// verdicts and embeddings. Pixel buffers are plain typed arrays, interleaved RGB, row-major.

/** A decoded image: width x height pixels, 3 bytes each (R, G, B), row after row. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export type Point = readonly [x: number, y: number];

/** The five landmarks, in the detector's (and the ArcFace template's) order. */
export interface Landmarks {
  /** The subject's right eye: on the image's left. */
  rightEye: Point;
  leftEye: Point;
  nose: Point;
  rightMouth: Point;
  leftMouth: Point;
}

export interface DetectedFace {
  /** [x, y, width, height] in the original image's pixels. */
  box: [number, number, number, number];
  /** Detector confidence, 0..1. */
  score: number;
  landmarks: Landmarks;
}

/** A 112 x 112 aligned face crop (RgbImage with width = height = 112). */
export type AlignedFace = RgbImage;

export type QualityReason =
  'too-small' | 'low-score' | 'blurry' | 'pose' | 'too-dark' | 'too-bright' | 'low-contrast' | 'cut-off';

export interface QualityVerdict {
  /** 0..1, higher is better; the product of the per-check scores. */
  score: number;
  /** True when no check rejected the face. */
  accepted: boolean;
  /** Why it was rejected (empty when accepted). */
  reasons: QualityReason[];
  /** The measurements behind the verdict, for logs and tuning. */
  measures: {
    interEyePx: number;
    detectorScore: number;
    laplacianVariance: number;
    /** |nose offset from the eye midline| / inter-eye distance: 0 frontal, ~0.5 a strong profile. */
    yaw: number;
    /** Eye-line angle in degrees. */
    rollDegrees: number;
    /** (nose - eye line) / (mouth line - eye line): ~0.5 frontal; far from it means looking up or down. */
    pitch: number;
    meanLuma: number;
    /** Standard deviation of luma. */
    contrast: number;
    /** Share of the aligned crop taken from outside the picture: beyond the image's edge or in a letterbox bar. Geometry: dark pixels inside the picture never count. Informational: a photo cut to the face has much of its crop's margin outside. */
    outOfFrame: number;
    /** The same share over the face region of the crop (brows to chin, cheek to cheek): what the 'cut-off' check judges (a face cut by the picture's edge). */
    faceOutOfFrame: number;
  };
}

export interface Embedding {
  /** L2-normalised. */
  vector: Float32Array;
  /** "<model file name>@<first 12 hex of its sha256>": travels with every embedding. */
  modelId: string;
}
