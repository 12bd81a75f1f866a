// Frame or photo -> faces: detect, align to the 112 x 112 template, judge quality, and embed
// the faces the quality gate accepts (an embedding of a face it rejected would only invite a
// wrong match). The one place the vision stages are put in order.
import { alignFace, type PictureArea, pictureArea } from './align.js';
import type { FaceDetector } from './detector.js';
import type { FaceEmbedder } from './embedder.js';
import { assessQuality, DEFAULT_QUALITY_THRESHOLDS, type QualityThresholds } from './quality.js';
import { DEFAULT_NMS_IOU, suppress } from './suppression.js';
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
  /**
   * The image is a still photo (enrollment, identify, eval), not a camera frame: it may be cut to
   * the face, like an ID photo. When no face is found, or a face found reaches the image's edge,
   * the detector looks again with a margin around the picture (TIGHT_CROP_MARGIN) and the faces
   * of both looks are merged. Default false: a camera frame is never cut to a face, and a second
   * detection on every frame without a face (most of them) would double the detector's cost.
   */
  stillPhoto?: boolean;
}

/**
 * The margin (of the image's longer side, on every side) for the second look at a still photo.
 * Measured on the 40 tight crops of ../shared/faces/bbt (150 x 150, the face filling the picture)
 * with yunet_s_640_640: no margin finds 9, 0.1 finds 36, 0.15-0.25 find 39, 0.3-0.5 find all 40
 * (scores 0.87-0.93 at 0.3, 0.90-0.94 at 0.4, 0.90-0.95 at 0.5, like the 0.92-0.95 of ordinary
 * photos). 0.4 is inside that plateau rather than at its edge. What fills the margin hardly
 * matters (black, grey, edge copies and mirrors found the same faces), so it is the detector's own
 * zero padding. The faces are aligned from the image itself (black outside it, as InsightFace
 * does), not from a padded copy: on those crops edge copies raised the highest different-person
 * score from 0.25 to 0.37 for the same same-person scores.
 */
export const TIGHT_CROP_MARGIN = 0.4;

/** A box within this many pixels of the image's edge reaches it (detector boxes are clamped to the image). */
const EDGE_PX = 1;

function reachesEdge(face: DetectedFace, image: RgbImage): boolean {
  const [x, y, w, h] = face.box;
  return x <= EDGE_PX || y <= EDGE_PX || x + w >= image.width - EDGE_PX || y + h >= image.height - EDGE_PX;
}

export class FaceAnalyzer {
  constructor(
    readonly detector: FaceDetector,
    readonly embedder: FaceEmbedder,
    private readonly thresholds: QualityThresholds = DEFAULT_QUALITY_THRESHOLDS,
  ) {}

  /** The faces in a still photo: a second look with a margin when the first finds none or one at the edge. */
  private async detectInPhoto(image: RgbImage): Promise<DetectedFace[]> {
    const faces = await this.detector.detect(image);
    const atEdge = faces.filter((f) => reachesEdge(f, image));
    if (faces.length > 0 && atEdge.length === 0) return faces;
    const again = await this.detector.detect(image, { margin: TIGHT_CROP_MARGIN });
    if (again.length === 0) return faces;
    // The first look's faces clear of the edge stay as they are (the second look at a smaller
    // scale found the same faces, with landmarks no better: on lfw10 it turned one frontal face
    // into a 'pose' refusal). A face at the edge is taken from whichever look scored it higher (a
    // face that fills the picture: 0.90-0.94 with the margin against 0.81-0.84 without, on the bbt
    // crops), and a face only the second look found is added.
    const inner = faces.filter((f) => !reachesEdge(f, image));
    const rest = [...atEdge, ...again].sort((a, b) => b.score - a.score);
    const merged = suppress([...inner, ...rest], DEFAULT_NMS_IOU, faces.length + again.length);
    return merged.sort((a, b) => b.score - a.score);
  }

  async analyze(image: RgbImage, options: AnalyzeOptions = {}): Promise<FaceAnalysis[]> {
    const faces = options.stillPhoto ? await this.detectInPhoto(image) : await this.detector.detect(image);
    // Once per image: where the picture is (letterbox bars are not), for the gate's cut-off check.
    const picture = faces.length > 0 ? pictureArea(image) : undefined;
    const out: FaceAnalysis[] = [];
    for (const face of faces)
      out.push(await this.examine(image, face, { picture, embedRejected: options.embedRejected }));
    return out;
  }

  /**
   * One detected face: aligned, judged by the quality gate, and embedded when the gate accepts it
   * (or embedRejected). The live pipeline calls it per face after its own detection, so that it
   * can skip the faces it is only following (src/pipeline/follow.ts).
   */
  async examine(
    image: RgbImage,
    face: DetectedFace,
    options: { picture?: PictureArea | undefined; embedRejected?: boolean | undefined } = {},
  ): Promise<FaceAnalysis> {
    // A crop per face: it is returned (enrollment saves it, the pipeline keeps an unknown's best).
    const aligned = alignFace(image, face.landmarks);
    const quality = assessQuality(face, aligned, this.thresholds, options.picture ?? pictureArea(image));
    const embedding = quality.accepted || options.embedRejected ? await this.embedder.embed(aligned) : null;
    return { face, aligned, quality, embedding };
  }
}
