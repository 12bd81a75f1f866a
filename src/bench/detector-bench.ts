// `facegate bench detector`: which detector input size a camera needs. A camera frame goes to the
// dynamic YuNet scaled so that its longer side is `size` pixels; smaller is cheaper and loses small
// faces. Faces below the quality gate's minimum eye distance are not worth finding (the gate would
// refuse them), so the size a camera needs is the smallest that still finds, with the gate's
// verdict unchanged, every face the gate accepts at full size. This benchmark pastes the faces of
// the labelled photos (lfw10: ten people) into frames of the camera's size at eye distances from
// the gate's minimum upwards, detects them with the fixed 640 x 640 model (the reference, what
// enrollment uses) and with the dynamic model at each size, and prints per size the faces found,
// those the gate accepts, and the detector's time per frame.
import { promises as fs } from 'node:fs';
import path from 'node:path';

import sharp, { type OverlayOptions } from 'sharp';

import { cpuInfo } from '../../core/native/index.js';
import { nearestRank } from '../percentile.js';
import type { FaceDetector } from '../vision/detector.js';
import { openVision, type VisionOptions } from '../vision/index.js';
import { DEFAULT_QUALITY_THRESHOLDS } from '../vision/quality.js';
import type { DetectedFace, RgbImage } from '../vision/types.js';

export interface DetectorBenchOptions extends VisionOptions {
  photosDir: string;
  width: number;
  height: number;
  /** Passes over the frames per size (the time is the median over all). */
  repeat: number;
  progress?: (message: string) => void;
}

export interface DetectorSizeRow {
  /** null: the reference, the fixed 640 x 640 model. */
  size: number | null;
  found: number;
  accepted: number;
  /** Faces the reference's gate accepted that this size lost or the gate now refuses. */
  lost: number;
  /** The same, per eye distance (px -> faces lost). */
  lostByEyes: Record<number, number>;
  detectMs: { p50: number; p95: number };
}

export interface DetectorBenchReport {
  cpu: ReturnType<typeof cpuInfo>;
  frame: string;
  eyeDistances: number[];
  faces: number;
  rows: DetectorSizeRow[];
  /** The smallest size that, like every larger one, lost no face the reference accepted; null if 640 lost one. */
  smallestSafe: number | null;
}

const SIZES = [640, 576, 512, 448, 416, 384, 352, 320, 288, 256];

interface Pasted {
  /** Where the face's eyes' midpoint is in the frame. */
  eyes: [number, number];
  eyePx: number;
}

/** A square around the face's eyes (4 eye distances), scaled so the eyes are eyePx apart. */
async function faceCrop(detector: FaceDetector, file: string, eyePx: number): Promise<Buffer | null> {
  const decoded = await sharp(file).rotate().removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const [face] = await detector.detect({
    width: decoded.info.width,
    height: decoded.info.height,
    data: new Uint8Array(decoded.data),
  });
  if (!face) return null;
  const l = face.landmarks;
  const eyes = Math.hypot(l.leftEye[0] - l.rightEye[0], l.leftEye[1] - l.rightEye[1]);
  const side = Math.round(4 * eyes);
  const left = Math.round((l.leftEye[0] + l.rightEye[0]) / 2 - side / 2);
  const top = Math.round((l.leftEye[1] + l.rightEye[1]) / 2 - side / 2);
  if (left < 0 || top < 0 || left + side > decoded.info.width || top + side > decoded.info.height) return null;
  const out = Math.round((side * eyePx) / eyes);
  return sharp(file).rotate().extract({ left, top, width: side, height: side }).resize(out, out).png().toBuffer();
}

/** The reference's accepted faces matched to a detection: the one whose eyes' midpoint is nearest, within half an eye distance. */
function match(pasted: Pasted, faces: DetectedFace[]): DetectedFace | undefined {
  let best: DetectedFace | undefined;
  let bestD = Infinity;
  for (const f of faces) {
    const l = f.landmarks;
    const d = Math.hypot(
      (l.leftEye[0] + l.rightEye[0]) / 2 - pasted.eyes[0],
      (l.leftEye[1] + l.rightEye[1]) / 2 - pasted.eyes[1],
    );
    if (d < bestD) [best, bestD] = [f, d];
  }
  return bestD <= pasted.eyePx / 2 ? best : undefined;
}

export async function runDetectorBench(options: DetectorBenchOptions): Promise<DetectorBenchReport> {
  const progress = options.progress ?? (() => {});
  const reference = await openVision(options);
  const dynamic = await openVision({ ...options, detector: 'yunet_s_dynamic' });
  const minEye = DEFAULT_QUALITY_THRESHOLDS.minInterEyePx;
  const eyeDistances = [minEye, Math.round(minEye * 1.25), Math.round(minEye * 1.5), minEye * 2];
  const lfw = path.join(options.photosDir, 'lfw10');
  const people = (await fs.readdir(lfw, { withFileTypes: true }))
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  const photos: string[] = [];
  for (const person of people) {
    const files = (await fs.readdir(path.join(lfw, person))).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort();
    photos.push(...files.slice(0, 2).map((f) => path.join(lfw, person, f)));
  }

  // One frame per eye distance: the faces in a grid on a plain grey backdrop.
  progress(`composing ${eyeDistances.length} ${options.width}x${options.height} frames from ${photos.length} photos`);
  const frames: { image: RgbImage; pasted: Pasted[] }[] = [];
  for (const eyePx of eyeDistances) {
    const cell = 4 * eyePx + 24;
    const columns = Math.floor(options.width / cell);
    const rows = Math.floor(options.height / cell);
    const layers: OverlayOptions[] = [];
    const pasted: Pasted[] = [];
    for (const file of photos) {
      if (pasted.length >= columns * rows) break;
      const crop = await faceCrop(reference.analyzer.detector, file, eyePx);
      if (!crop) continue;
      const i = pasted.length;
      const left = (i % columns) * cell + 12,
        top = Math.floor(i / columns) * cell + 12;
      const side = (await sharp(crop).metadata()).width;
      layers.push({ input: crop, left, top });
      pasted.push({ eyes: [left + side / 2, top + side / 2], eyePx });
    }
    const data = await sharp({
      create: { width: options.width, height: options.height, channels: 3, background: { r: 110, g: 110, b: 110 } },
    })
      .composite(layers)
      .removeAlpha()
      .raw()
      .toBuffer();
    frames.push({ image: { width: options.width, height: options.height, data: new Uint8Array(data) }, pasted });
  }
  const total = frames.reduce((n, f) => n + f.pasted.length, 0);

  const measure = async (
    analyzer: typeof reference.analyzer,
    size: number | null,
  ): Promise<{ row: DetectorSizeRow; accepted: Set<string> }> => {
    const times: number[] = [];
    let found = 0;
    const accepted = new Set<string>();
    // The first run of a new input shape plans it: not a frame's cost.
    await analyzer.detector.detect(frames[0]!.image, size === null ? {} : { size });
    for (let r = 0; r < options.repeat; r++) {
      for (const [fi, frame] of frames.entries()) {
        const t0 = performance.now();
        const faces = await analyzer.detector.detect(frame.image, size === null ? {} : { size });
        times.push(performance.now() - t0);
        if (r > 0) continue;
        for (const [pi, p] of frame.pasted.entries()) {
          const face = match(p, faces);
          if (!face) continue;
          found++;
          const verdict = await analyzer.examine(frame.image, face, { embedRejected: false });
          if (verdict.quality.accepted) accepted.add(`${fi}/${pi}`);
        }
      }
    }
    times.sort((a, b) => a - b);
    return {
      row: {
        size,
        found,
        accepted: accepted.size,
        lost: 0,
        lostByEyes: {},
        detectMs: { p50: nearestRank(times, 0.5), p95: nearestRank(times, 0.95) },
      },
      accepted,
    };
  };

  progress('reference: the fixed 640 x 640 model');
  const ref = await measure(reference.analyzer, null);
  const rows: DetectorSizeRow[] = [ref.row];
  // The smallest size such that it and every larger size lost nothing.
  let smallestSafe: number | null = null;
  let safeSoFar = true;
  for (const size of SIZES) {
    progress(`dynamic model at ${size}`);
    const m = await measure(dynamic.analyzer, size);
    const lost = [...ref.accepted].filter((k) => !m.accepted.has(k));
    m.row.lost = lost.length;
    for (const k of lost) {
      const eyes = eyeDistances[Number(k.split('/')[0])] as number;
      m.row.lostByEyes[eyes] = (m.row.lostByEyes[eyes] ?? 0) + 1;
    }
    rows.push(m.row);
    safeSoFar &&= m.row.lost === 0;
    if (safeSoFar) smallestSafe = size;
  }
  return {
    cpu: cpuInfo(),
    frame: `${options.width}x${options.height}`,
    eyeDistances,
    faces: total,
    rows,
    smallestSafe,
  };
}

export function formatDetectorBench(r: DetectorBenchReport): string {
  return [
    `detector sizes: ${r.faces} faces (lfw10) pasted into ${r.frame} frames at ${r.eyeDistances.join(', ')} px between the eyes (the quality gate's minimum is ${r.eyeDistances[0]})`,
    `CPU: ${r.cpu.model || '(no brand string)'} (${r.cpu.vendor})`,
    '',
    'model input              found  gate accepts  lost vs reference  detect p50 / p95 ms',
    ...r.rows.map(
      (row) =>
        `${(row.size === null ? 'fixed 640x640 (ref.)' : `dynamic, longest ${row.size}`).padEnd(24)} ${String(row.found).padStart(5)}  ${String(row.accepted).padStart(12)}  ${String(row.lost).padStart(17)}  ${row.detectMs.p50.toFixed(1).padStart(9)} / ${row.detectMs.p95.toFixed(1)}  ${Object.entries(
          row.lostByEyes,
        )
          .map(([e, n]) => `${n} at ${e} px`)
          .join(', ')}`,
    ),
    '',
    r.smallestSafe === null
      ? 'every size lost a face the reference accepted: keep the reference'
      : `smallest size that loses no face the gate accepts: ${r.smallestSafe} (cameras[].detectorSize)`,
  ].join('\n');
}
