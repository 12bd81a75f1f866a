// Motion gating, per camera: most frames of a site camera show an empty corridor or a door, and the
// detector (the pipeline's largest cost per frame) has nothing to find in them. The gate keeps a
// small grey copy of the frame the detector last looked at (a grid of cell means, sampled
// sparsely: well under a millisecond for a 1280 x 720 frame, no model) and lets a frame through to
// the detector only when enough cells changed since then. What changed is compared with the last
// DETECTED frame, not the previous frame, so a slow drift adds up until it is looked at.
// Three things force a detection whatever the grid says (the pipeline decides them, not the gate):
// a face track still waiting for its decision, the first frame, and a periodic look every
// `fullEveryMs` that catches a person standing still since before the gate started.
import { describeTyped, isPositiveNumber } from '../../storage/checks.js';
import type { RgbImage } from '../vision/types.js';

export interface MotionGateOptions {
  /** Grid columns; rows follow the frame's aspect ratio. Default 32 (40 px cells at 1280 x 720). */
  columns?: number | undefined;
  /**
   * A cell changed when its mean luma moved by more than this (0-255). Default 8: see
   * DEFAULT_MOTION_GATE for where it comes from.
   */
  cellDelta?: number | undefined;
  /** Cells that must change for the frame to count as motion. Default 2. */
  minCells?: number | undefined;
  /** A full detection at least this often, motion or not (ms). Default 2000. */
  fullEveryMs?: number | undefined;
}

/**
 * The defaults, from `facegate bench motion` (src/bench/motion-bench.ts) on an AMD EPYC (2 cores):
 * three shared photos as 1280 x 720 frames, encoded by libx264 as the RTSP test server encodes
 * and decoded again by ffmpeg.
 * - A still scene's cells move by at most 0.5 luma levels between frames (compression noise), and
 *   by at most 1.7 with a sensor-like noise of sigma 4 added to every pixel (a cell's mean averages
 *   about 100 samples): no cell over 8 in any frame.
 * - A face at the quality gate's smallest eye distance (32 px) stepping in changes 14-16 cells,
 *   by 46-65 levels at the median (up to 78-129).
 * 8 levels is 4.7x the noisiest still cell and under a fifth of a face's median change; 2 cells
 * ignores one flickering cell and is a seventh of what the smallest acceptable face changes. The
 * grid costs about 0.3 ms per frame. The periodic look every 2 s bounds how long a person who never
 * moved (there before the camera started) goes unseen. Real sites add what these clips lack
 * (flicker, swaying trees, headlights): those cost detections, never a missed person.
 */
export const DEFAULT_MOTION_GATE = {
  columns: 32,
  cellDelta: 8,
  minCells: 2,
  fullEveryMs: 2_000,
} as const satisfies Required<MotionGateOptions>;

/** Pixels sampled per cell along each axis (a sparse lattice: 10 x 10 = 100 samples a cell). */
const SAMPLES_PER_AXIS = 10;

export type GateVerdict = 'motion' | 'still';

/** A camera's gate: its own keys over the pipeline's, over the defaults; false wins at either level. */
export function mergeMotionGate(
  base: MotionGateOptions | false,
  own: MotionGateOptions | false | undefined,
): MotionGateOptions | false {
  if (own === undefined || base === false) return base;
  if (own === false) return false;
  const merged: MotionGateOptions = { ...base };
  for (const key of ['columns', 'cellDelta', 'minCells', 'fullEveryMs'] as const)
    if (own[key] !== undefined) merged[key] = own[key];
  return merged;
}

export function motionGateOptions(options: MotionGateOptions = {}): {
  columns: number;
  cellDelta: number;
  minCells: number;
  fullEveryMs: number;
} {
  const o = {
    columns: options.columns ?? DEFAULT_MOTION_GATE.columns,
    cellDelta: options.cellDelta ?? DEFAULT_MOTION_GATE.cellDelta,
    minCells: options.minCells ?? DEFAULT_MOTION_GATE.minCells,
    fullEveryMs: options.fullEveryMs ?? DEFAULT_MOTION_GATE.fullEveryMs,
  };
  for (const key of ['columns', 'minCells'] as const) {
    if (!Number.isInteger(o[key]) || o[key] < 1)
      throw new TypeError(`Expected a positive integer for motion.${key} but received ${describeTyped(o[key])}`);
  }
  if (!isPositiveNumber(o.cellDelta) || o.cellDelta > 255)
    throw new TypeError(
      `Expected a number in (0, 255] for motion.cellDelta but received ${describeTyped(o.cellDelta)}`,
    );
  if (!isPositiveNumber(o.fullEveryMs))
    throw new TypeError(
      `Expected a positive number for motion.fullEveryMs but received ${describeTyped(o.fullEveryMs)}`,
    );
  return o;
}

/** The mean luma of each cell of a columns x rows grid, from a sparse lattice of samples. */
export function lumaGrid(image: RgbImage, columns: number): { rows: number; cells: Float32Array } {
  const { width, height, data } = image;
  const cols = Math.min(columns, width);
  const rows = Math.max(1, Math.min(height, Math.round((cols * height) / width)));
  const cells = new Float32Array(cols * rows);
  for (let r = 0; r < rows; r++) {
    const y0 = Math.floor((r * height) / rows);
    const y1 = Math.floor(((r + 1) * height) / rows);
    for (let c = 0; c < cols; c++) {
      const x0 = Math.floor((c * width) / cols);
      const x1 = Math.floor(((c + 1) * width) / cols);
      const stepY = Math.max(1, Math.floor((y1 - y0) / SAMPLES_PER_AXIS));
      const stepX = Math.max(1, Math.floor((x1 - x0) / SAMPLES_PER_AXIS));
      let sum = 0;
      let n = 0;
      for (let y = y0 + (stepY >> 1); y < y1; y += stepY) {
        let i = (y * width + x0 + (stepX >> 1)) * 3;
        for (let x = x0 + (stepX >> 1); x < x1; x += stepX, i += 3 * stepX) {
          // ITU-R BT.601 luma, in integer weights that sum to 256.
          sum += 77 * (data[i] as number) + 150 * (data[i + 1] as number) + 29 * (data[i + 2] as number);
          n++;
        }
      }
      cells[r * cols + c] = n === 0 ? 0 : sum / (256 * n);
    }
  }
  return { rows, cells };
}

export class MotionGate {
  private readonly options: { columns: number; cellDelta: number; minCells: number; fullEveryMs: number };
  /** The grid of the frame the detector last looked at; null before the first. */
  private reference: Float32Array | null = null;
  private lastFullMs = -Infinity;

  constructor(options: MotionGateOptions = {}) {
    this.options = motionGateOptions(options);
  }

  /**
   * Whether the frame changed enough since the last detected one. `mustDetect` (a track waiting
   * for its decision) forces a detection. A 'motion' verdict means the detector will look: the
   * reference becomes this frame.
   */
  check(image: RgbImage, atMs: number, mustDetect = false): { verdict: GateVerdict; changedCells: number } {
    const grid = lumaGrid(image, this.options.columns).cells;
    const reference = this.reference;
    let changed = 0;
    if (reference && reference.length === grid.length) {
      for (let i = 0; i < grid.length; i++)
        if (Math.abs((grid[i] as number) - (reference[i] as number)) > this.options.cellDelta) changed++;
    } else {
      changed = grid.length; // first frame, or the frame size changed: everything is new
    }
    const due = atMs - this.lastFullMs >= this.options.fullEveryMs;
    if (mustDetect || due || changed >= this.options.minCells) {
      this.reference = grid;
      this.lastFullMs = atMs;
      return { verdict: 'motion', changedCells: changed };
    }
    return { verdict: 'still', changedCells: changed };
  }
}
