// Which face a photo is of: an enrollment photo of one person may have people behind them (a
// crowd, a poster, a passer-by), and those faces are much smaller or out of focus. The photo's
// subject is the largest face; any other face that could be the subject instead (about as large,
// and sharp) makes the photo ambiguous, and a photo of two people side by side must never enrol
// either of them under one name. A vision rule, not a recognition one: it looks only at where the
// faces are, how large and how sharp, never at who they are.
import type { FaceAnalysis, FaceAnalyzer } from './face-analyzer.js';
import { withDecodedImage } from './image-input.js';

export interface MainFaceRule {
  /**
   * Another face is much smaller when both its eye distance and its box height are under this
   * share of the main face's. Measured on the group photos in ../shared/faces (people side by
   * side, at about the same distance from the camera): faces of one photo differ at most to 0.72
   * of the largest by eye distance (bbt4.jpg: 35.9 against 49.9 px) and to 0.76 by box height;
   * the two people of two_people.jpg are 0.95 (eyes 67.1 against 70.7 px) and 1.06 (box 207
   * against 196 px), those of obama_and_biden.jpg 0.97 and 1.00. Half is about twice as far from
   * the camera. Both measures must be small: eye distance shrinks as a head turns (the child in
   * obama_and_biden.jpg, yaw 0.40: eyes 0.60 of the largest face's, box 0.81), the box does not.
   */
  muchSmaller: number;
  /**
   * Another face is much blurrier when the quality gate refuses it as blurry and its Laplacian
   * variance is under this share of the main face's. Sharp faces of one group photo here differ by
   * up to 3.4x (bbt5.jpg: 182 against 627; bbt1.jpg: 318 against 1001), so a quarter is beyond what
   * focus and skin alone make; the gate's own limit (a blur that moves the embedding) makes sure
   * nobody could be recognised from it anyway.
   */
  muchBlurrier: number;
}

export const DEFAULT_MAIN_FACE_RULE: Readonly<MainFaceRule> = Object.freeze({ muchSmaller: 0.5, muchBlurrier: 0.25 });

/** The photo's subject and the faces set aside as background. */
export interface MainFace {
  kind: 'main';
  main: FaceAnalysis;
  /** Faces much smaller or much blurrier than the main one, largest first. */
  ignored: FaceAnalysis[];
}

/** No face, or several that could each be the subject. */
export interface NoMainFace {
  kind: 'none' | 'ambiguous';
  /** For 'ambiguous': the largest face and those comparable with it, largest first. */
  comparable: FaceAnalysis[];
  /** Why, in words (for the operator): the figures that make the faces comparable. */
  reason: string;
}

const boxHeight = (a: FaceAnalysis): number => a.face.box[3];
const eyes = (a: FaceAnalysis): number => a.quality.measures.interEyePx;
const px = (v: number): string => `${v.toFixed(0)} px`;

/** How `other` compares with `main`, and whether it is background (ignorable). */
function compare(other: FaceAnalysis, main: FaceAnalysis, rule: Readonly<MainFaceRule>): { ignorable: boolean } {
  const size = Math.max(eyes(other) / eyes(main), boxHeight(other) / boxHeight(main));
  if (size < rule.muchSmaller) return { ignorable: true };
  const blurry = other.quality.reasons.includes('blurry');
  return {
    ignorable:
      blurry && other.quality.measures.laplacianVariance < rule.muchBlurrier * main.quality.measures.laplacianVariance,
  };
}

/**
 * The subject of a photo among the faces found in it: the one with the largest eye distance (then
 * box), when every other face is much smaller or much blurrier (DEFAULT_MAIN_FACE_RULE). The main
 * face is chosen before the quality gate is consulted about it: when the subject is refused, a face
 * behind them is never used instead.
 */
export function chooseMainFace(
  faces: readonly FaceAnalysis[],
  rule: Readonly<MainFaceRule> = DEFAULT_MAIN_FACE_RULE,
): MainFace | NoMainFace {
  if (faces.length === 0) return { kind: 'none', comparable: [], reason: 'no face found' };
  const bySize = [...faces].sort((a, b) => eyes(b) - eyes(a) || boxHeight(b) - boxHeight(a));
  const main = bySize[0] as FaceAnalysis;
  const others = bySize.slice(1);
  const comparable = others.filter((o) => !compare(o, main, rule).ignorable);
  if (comparable.length === 0) return { kind: 'main', main, ignored: others };
  const figures = [main, ...comparable].map((f) => `eyes ${px(eyes(f))}, box height ${px(boxHeight(f))}`).join('; ');
  return {
    kind: 'ambiguous',
    comparable: [main, ...comparable],
    reason:
      `${faces.length} faces found and ${comparable.length + 1} of them are of comparable size (${figures}); ` +
      `an enrollment photo must show one person, any other face under ${rule.muchSmaller} of that size or blurred`,
  };
}

/**
 * A photo's subject, from its encoded bytes: decoded under the shared decode budget, analysed as a
 * still photo (one cut to the face gets the detector's second look, face-analyzer.ts), then
 * chooseMainFace. Enrolment and "not this person" take a person's face from a photo this one way.
 * An undecodable image throws ImageDecodeError, as withDecodedImage does.
 */
export async function photoSubject(analyzer: FaceAnalyzer, bytes: Uint8Array): Promise<MainFace | NoMainFace> {
  return chooseMainFace(await withDecodedImage(bytes, (image) => analyzer.analyze(image, { stillPhoto: true })));
}
