// Frame or photo -> faces: detect, align to the 112 x 112 template, judge quality, and embed
// the faces the quality gate accepts (an embedding of a face it rejected would only invite a
// wrong match). The one place the vision stages are put in order.
import { alignFace, pictureArea } from './align.js';
import type { FaceDetector } from './detector.js';
import type { FaceEmbedder } from './embedder.js';
import { assessQuality, DEFAULT_QUALITY_THRESHOLDS, type QualityThresholds } from './quality.js';
import type { AlignedFace, DetectedFace, Embedding, QualityVerdict, RgbImage } from './types.js';

export interface FaceAnalysis {
  face: DetectedFace;
  aligned: AlignedFace;
  quality: QualityVerdict;
  /** null when the quality gate rejected the face (unless embedRejected was asked). */
  embedding: Embedding | null;
}

export interface AnalyzeOptions {
  /** Embed faces the gate rejected too (for tools that show everything); default false. */
  embedRejected?: boolean;
}

export class FaceAnalyzer {
  constructor(
    readonly detector: FaceDetector,
    readonly embedder: FaceEmbedder,
    private readonly thresholds: QualityThresholds = DEFAULT_QUALITY_THRESHOLDS,
  ) {}

  async analyze(image: RgbImage, options: AnalyzeOptions = {}): Promise<FaceAnalysis[]> {
    const faces = await this.detector.detect(image);
    const out: FaceAnalysis[] = [];
    // Once per image: where the picture is (letterbox bars are not), for the gate's cut-off check.
    const picture = faces.length > 0 ? pictureArea(image) : undefined;
    for (const face of faces) {
      // A crop per face: it is returned (enrollment saves it, the pipeline keeps an unknown's best).
      const aligned = alignFace(image, face.landmarks);
      const quality = assessQuality(face, aligned, this.thresholds, picture);
      const embedding = quality.accepted || options.embedRejected ? await this.embedder.embed(aligned) : null;
      out.push({ face, aligned, quality, embedding });
    }
    return out;
  }
}
