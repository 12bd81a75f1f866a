// Face alignment: the similarity transform that takes a face's five landmarks onto the ArcFace
// 112 x 112 template, and the bilinear warp that produces the crop the embedder was trained on.
import type { AlignedFace, Landmarks, Point, RgbImage } from './types.js';

/** Side of the aligned crop: the ArcFace/InsightFace convention the embedders expect. */
export const ALIGNED_SIZE = 112;

/**
 * The standard ArcFace template for a 112 x 112 crop (InsightFace `arcface_dst`, as given in
 * ../shared/models/README.md), in landmark order: right eye, left eye, nose, right mouth, left mouth.
 * Coordinates follow OpenCV's convention (pixel centres at integer coordinates), like the detector.
 */
export const ARCFACE_TEMPLATE_112: readonly Point[] = Object.freeze([
  [38.2946, 51.6963],
  [73.5318, 51.5014],
  [56.0252, 71.7366],
  [41.5493, 92.3655],
  [70.7299, 92.2041],
] as const);

/**
 * A 2 x 3 affine matrix, row-major: x' = m[0][0] x + m[0][1] y + m[0][2], y' = m[1][0] x + m[1][1] y + m[1][2]
 * (the layout of OpenCV's warpAffine matrices).
 */
export type Matrix2x3 = readonly [readonly [number, number, number], readonly [number, number, number]];

/** The five landmarks as points, in the template's order. */
export function landmarkPoints(landmarks: Landmarks): Point[] {
  return [landmarks.rightEye, landmarks.leftEye, landmarks.nose, landmarks.rightMouth, landmarks.leftMouth];
}

/**
 * The least-squares similarity transform (rotation, uniform scale, translation; never a reflection)
 * mapping `src[i]` onto `dst[i]`: Umeyama (1991) specialised to 2-D. In 2-D every scaled rotation
 * is [[a, -b], [b, a]], which is linear in (a, b), so Umeyama's SVD solution reduces to the closed
 * form below (same minimiser, including his reflection guard: a reflection cannot be expressed in
 * this form at all). No SVD, no iteration, exact for noise-free points.
 */
export function estimateSimilarity(src: readonly Point[], dst: readonly Point[]): Matrix2x3 {
  const n = src.length;
  if (n < 2 || dst.length !== n) {
    throw new RangeError(`Expected two point lists of the same length >= 2 but received ${n} and ${dst.length} points`);
  }
  let sxm = 0,
    sym = 0,
    dxm = 0,
    dym = 0;
  for (let i = 0; i < n; i++) {
    const s = src[i] as Point,
      d = dst[i] as Point;
    sxm += s[0];
    sym += s[1];
    dxm += d[0];
    dym += d[1];
  }
  sxm /= n;
  sym /= n;
  dxm /= n;
  dym /= n;
  // With centred points p (source) and q (destination): a = sum(p.q) / sum|p|^2,
  // b = sum(p x q) / sum|p|^2 (the 2-D cross product), t = mean(q) - [[a,-b],[b,a]] mean(p).
  let dot = 0,
    cross = 0,
    norm = 0;
  for (let i = 0; i < n; i++) {
    const s = src[i] as Point,
      d = dst[i] as Point;
    const px = s[0] - sxm,
      py = s[1] - sym,
      qx = d[0] - dxm,
      qy = d[1] - dym;
    dot += px * qx + py * qy;
    cross += px * qy - py * qx;
    norm += px * px + py * py;
  }
  if (!(norm > 0) || !Number.isFinite(dot) || !Number.isFinite(cross)) {
    throw new RangeError(
      'Expected source points that are finite and not all the same point but received a degenerate set',
    );
  }
  const a = dot / norm,
    b = cross / norm;
  return [
    [a, -b, dxm - (a * sxm - b * sym)],
    [b, a, dym - (b * sxm + a * sym)],
  ];
}

/**
 * Where the crop's pixels come from: crop pixel (u, v) samples the image at
 * x = ia u + ib v + cx, y = -ib u + ia v + cy. The inverse of the similarity that takes the
 * landmarks onto the template; alignFace warps with it and cropOutsidePicture measures with it, so
 * the share called outside is exactly the share alignFace filled.
 */
function cropToImage(landmarks: Landmarks): { ia: number; ib: number; cx: number; cy: number } {
  const m = estimateSimilarity(landmarkPoints(landmarks), ARCFACE_TEMPLATE_112);
  // Forward: [u v] = [[a,-b],[b,a]] [x y] + t. Inverse: [x y] = [[a,b],[-b,a]] ([u v] - t) / (a^2 + b^2).
  const a = m[0][0],
    b = m[1][0],
    tx = m[0][2],
    ty = m[1][2];
  const k = 1 / (a * a + b * b);
  const ia = a * k,
    ib = b * k;
  return { ia, ib, cx: -(ia * tx + ib * ty), cy: ib * tx - ia * ty };
}

/**
 * Warps `image` into a 112 x 112 crop aligned to the ArcFace template. Each output pixel is
 * mapped back through the inverse transform and sampled bilinearly; source pixels outside the
 * image count as black (OpenCV's BORDER_CONSTANT 0, what InsightFace's norm_crop does).
 * Pass `out` to reuse a crop buffer across faces: the hot path then allocates nothing.
 */
export function alignFace(image: RgbImage, landmarks: Landmarks, out?: AlignedFace): AlignedFace {
  const { width: w, height: h, data: src } = image;
  if (src.length !== w * h * 3) {
    throw new RangeError(`Expected image data of ${w * h * 3} bytes (${w} x ${h} x 3) but received ${src.length}`);
  }
  const size = ALIGNED_SIZE;
  let dst: Uint8Array;
  if (out) {
    if (out.width !== size || out.height !== size || out.data.length !== size * size * 3) {
      throw new RangeError(
        `Expected an output crop of ${size} x ${size} x 3 bytes but received ${out.width} x ${out.height} with ${out.data.length} bytes`,
      );
    }
    dst = out.data;
  } else {
    dst = new Uint8Array(size * size * 3);
    out = { width: size, height: size, data: dst };
  }

  const { ia, ib, cx, cy } = cropToImage(landmarks);
  const stride = w * 3;
  const xMax = w - 1,
    yMax = h - 1;

  let o = 0;
  for (let v = 0; v < size; v++) {
    let x = ib * v + cx;
    let y = ia * v + cy;
    for (let u = 0; u < size; u++, x += ia, y -= ib, o += 3) {
      if (x >= 0 && y >= 0 && x < xMax && y < yMax) {
        // Fast path: all four neighbours inside (and x, y >= 0, so truncation is floor).
        const x0 = x | 0,
          y0 = y | 0;
        const fx = x - x0,
          fy = y - y0;
        const w00 = (1 - fx) * (1 - fy),
          w01 = fx * (1 - fy),
          w10 = (1 - fx) * fy,
          w11 = fx * fy;
        const p = y0 * stride + x0 * 3,
          q = p + stride;
        dst[o] =
          w00 * (src[p] as number) +
          w01 * (src[p + 3] as number) +
          w10 * (src[q] as number) +
          w11 * (src[q + 3] as number) +
          0.5;
        dst[o + 1] =
          w00 * (src[p + 1] as number) +
          w01 * (src[p + 4] as number) +
          w10 * (src[q + 1] as number) +
          w11 * (src[q + 4] as number) +
          0.5;
        dst[o + 2] =
          w00 * (src[p + 2] as number) +
          w01 * (src[p + 5] as number) +
          w10 * (src[q + 2] as number) +
          w11 * (src[q + 5] as number) +
          0.5;
      } else if (!(x > -1 && y > -1 && x < w && y < h)) {
        // Wholly outside (or NaN from a degenerate transform): black.
        dst[o] = 0;
        dst[o + 1] = 0;
        dst[o + 2] = 0;
      } else {
        // On the border: the neighbours outside the image contribute black.
        const x0 = Math.floor(x),
          y0 = Math.floor(y);
        const fx = x - x0,
          fy = y - y0;
        let r = 0,
          g = 0,
          bl = 0;
        for (let j = 0; j < 2; j++) {
          const yy = y0 + j;
          if (yy < 0 || yy >= h) continue;
          const wy = j === 0 ? 1 - fy : fy;
          for (let i = 0; i < 2; i++) {
            const xx = x0 + i;
            if (xx < 0 || xx >= w) continue;
            const wt = wy * (i === 0 ? 1 - fx : fx);
            const p = yy * stride + xx * 3;
            r += wt * (src[p] as number);
            g += wt * (src[p + 1] as number);
            bl += wt * (src[p + 2] as number);
          }
        }
        dst[o] = r + 0.5;
        dst[o + 1] = g + 0.5;
        dst[o + 2] = bl + 0.5;
      }
    }
  }
  return out;
}

/**
 * The part of an image that holds picture, in pixel indices: columns left..right-1, rows
 * top..bottom-1. The whole image, less letterbox bars.
 */
export interface PictureArea {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

// A bar pixel: every channel at most this. ffmpeg's pad (the camera sources' letterbox) and
// sharp's `contain` write 0; 2 allows for a letterboxed frame that went through JPEG once.
const BAR_MAX = 2;
// The two bars of one axis differ by at most this many pixels: ffmpeg pads (ow-iw)/2 on the
// leading side (rounded down, 1 px short at most), sharp's `contain` centres likewise, and a JPEG
// of the frame can smear one more row into either bar.
const BAR_SYMMETRY_PX = 2;

function rowIsBar(image: RgbImage, y: number): boolean {
  const d = image.data;
  for (let i = y * image.width * 3, end = i + image.width * 3; i < end; i++)
    if ((d[i] as number) > BAR_MAX) return false;
  return true;
}

function columnIsBar(image: RgbImage, x: number): boolean {
  const d = image.data,
    stride = image.width * 3;
  for (let p = x * 3, end = image.height * stride; p < end; p += stride) {
    if ((d[p] as number) > BAR_MAX || (d[p + 1] as number) > BAR_MAX || (d[p + 2] as number) > BAR_MAX) return false;
  }
  return true;
}

/**
 * The picture inside `image`: the whole image, unless it is letterboxed, that is a picture of
 * another aspect ratio scaled into it and padded with black bars (what the camera sources do:
 * ffmpeg's `scale=...:force_original_aspect_ratio=decrease,pad=...`). A face cut by the picture's
 * edge is then a half face even though its crop lies inside the image.
 *
 * Bars are told from a black background by their geometry, never by the darkness of pixels near a
 * face: whole rows (or whole columns) of pure black at both opposite edges, of equal thickness
 * (the picture is centred), on one axis only (scaling that keeps the aspect ratio pads one axis).
 * Black hair or a black backdrop leaves a row with some picture in it, is not mirrored at the
 * opposite edge, or blackens both axes at once. The scan stops at the first pixel of picture, so
 * an image without bars costs one row and one column per edge.
 */
export function pictureArea(image: RgbImage): PictureArea {
  const { width: w, height: h } = image;
  if (image.data.length !== w * h * 3) {
    throw new RangeError(
      `Expected image data of ${w * h * 3} bytes (${w} x ${h} x 3) but received ${image.data.length}`,
    );
  }
  const whole: PictureArea = { left: 0, top: 0, right: w, bottom: h };
  let top = 0;
  while (top < h && rowIsBar(image, top)) top++;
  if (top === h) return whole; // all black: no picture to locate, nothing to call a bar
  let bottom = h;
  while (bottom > top && rowIsBar(image, bottom - 1)) bottom--;
  let left = 0;
  while (left < w && columnIsBar(image, left)) left++;
  let right = w;
  while (right > left && columnIsBar(image, right - 1)) right--;
  const rows = top > 0 && h - bottom > 0 && Math.abs(top - (h - bottom)) <= BAR_SYMMETRY_PX;
  const columns = left > 0 && w - right > 0 && Math.abs(left - (w - right)) <= BAR_SYMMETRY_PX;
  const anyRows = top > 0 || bottom < h,
    anyColumns = left > 0 || right < w;
  if (rows && !anyColumns) return { left: 0, top, right: w, bottom };
  if (columns && !anyRows) return { left, top: 0, right, bottom: h };
  return whole;
}

/** A rectangle of the aligned crop, in crop pixels: columns x0..x1-1, rows y0..y1-1. */
export interface CropRegion {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

const WHOLE_CROP: CropRegion = { x0: 0, y0: 0, x1: ALIGNED_SIZE, y1: ALIGNED_SIZE };

/**
 * The share of the aligned crop (or of `region` of it) whose pixels come from outside `area` of
 * the image the face was found in (pixel centres, mapped back through alignFace's own transform; a
 * pixel counts as outside when its source point is past the area's edge, where the bilinear
 * sample is at least half fill). That share of the crop is alignFace's black fill or letterbox
 * bar, not picture. Geometry only: how dark the crop is does not enter, so black hair or a black
 * background is never "outside".
 */
export function cropOutsidePicture(landmarks: Landmarks, area: PictureArea, region: CropRegion = WHOLE_CROP): number {
  const { ia, ib, cx, cy } = cropToImage(landmarks);
  // Pixel i covers [i - 0.5, i + 0.5) (centres at integers, as in alignFace).
  const x0 = area.left - 0.5,
    x1 = area.right - 0.5,
    y0 = area.top - 0.5,
    y1 = area.bottom - 0.5;
  let outside = 0;
  for (let v = region.y0; v < region.y1; v++) {
    let x = ia * region.x0 + ib * v + cx;
    let y = -ib * region.x0 + ia * v + cy;
    for (let u = region.x0; u < region.x1; u++, x += ia, y -= ib) {
      // Negated so that NaN (a degenerate transform) counts as outside.
      if (!(x >= x0 && x < x1 && y >= y0 && y < y1)) outside++;
    }
  }
  return outside / ((region.x1 - region.x0) * (region.y1 - region.y0));
}
