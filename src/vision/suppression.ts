// Non-maximum suppression: one box per face when several detections overlap, whether they are a
// detector's neighbouring anchors or the same face found in two passes over one photo (the
// analyzer's second look at a padded still, face-analyzer.ts).
import type { DetectedFace } from './types.js';

/** Intersection over union of two [x, y, width, height] boxes. */
export function iou(a: DetectedFace['box'], b: DetectedFace['box']): number {
  const x1 = Math.max(a[0], b[0]);
  const y1 = Math.max(a[1], b[1]);
  const x2 = Math.min(a[0] + a[2], b[0] + b[2]);
  const y2 = Math.min(a[1] + a[3], b[1] + b[3]);
  const inter = Math.max(0, x2 - x1) * Math.max(0, y2 - y1);
  const union = a[2] * a[3] + b[2] * b[3] - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * 0.3: OpenCV FaceDetectorYN's default IoU for suppression, and YuNetDetector's.
 */
export const DEFAULT_NMS_IOU = 0.3;

/** Greedy non-maximum suppression on faces sorted by score, best first. */
export function suppress(faces: DetectedFace[], threshold: number, max: number): DetectedFace[] {
  const kept: DetectedFace[] = [];
  for (const f of faces) {
    if (kept.length >= max) break;
    if (kept.every((k) => iou(k.box, f.box) <= threshold)) kept.push(f);
  }
  return kept;
}
