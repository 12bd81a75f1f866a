// `facegate bench motion`: the evidence behind the motion gate's defaults (src/pipeline/motion-gate.ts).
// A camera frame is H.264 decoded, so the gate must tell compression noise from a person. For each
// scene photo (letterboxed into a 1280 x 720 frame, as a camera's), a short clip is encoded with
// libx264 the way the RTSP test server encodes (ultrafast, zerolatency, a key frame every 10 frames)
// and decoded again by ffmpeg: a still stretch, then the same scene with a face pasted in at the
// quality gate's smallest eye distance (the smallest face worth finding). It prints, per scene:
// - how far cells move between consecutive frames of the still stretch (compression noise), and
//   with a sensor-like noise added to every pixel of the decoded frames (sigma SENSOR_SIGMA);
// - how many cells the face changes, and by how much;
// - what the gate costs per frame.
import { spawn } from 'node:child_process';
import path from 'node:path';

import sharp from 'sharp';

import { cpuInfo } from '../../core/native/index.js';
import { nearestRank } from '../percentile.js';
import { DEFAULT_MOTION_GATE, lumaGrid } from '../pipeline/motion-gate.js';
import { seededRandom } from '../seeded-random.js';
import { openVision, type VisionOptions } from '../vision/index.js';
import { DEFAULT_QUALITY_THRESHOLDS } from '../vision/quality.js';
import type { RgbImage } from '../vision/types.js';

export interface MotionBenchOptions extends VisionOptions {
  photosDir: string;
  ffmpegPath?: string;
  progress?: (message: string) => void;
}

export interface MotionSceneReport {
  scene: string;
  /** Still stretch: the largest and the 99th-percentile cell change between consecutive decoded frames. */
  stillMaxDelta: number;
  stillP99Delta: number;
  /** Cells over the default threshold in the still stretch, most in one frame. */
  stillMaxChangedCells: number;
  /** The same with sensor-like noise added to the decoded frames. */
  noisyMaxDelta: number;
  noisyMaxChangedCells: number;
  /** The face stepping in: cells over the default threshold, and the change of the cells it covers. */
  faceChangedCells: number;
  faceMedianDelta: number;
  faceMaxDelta: number;
}

export interface MotionBenchReport {
  cpu: ReturnType<typeof cpuInfo>;
  frame: string;
  gate: typeof DEFAULT_MOTION_GATE;
  faceEyePx: number;
  sensorSigma: number;
  /** The gate's cost per 1280 x 720 frame, microseconds (p50, p99). */
  gateMicros: { p50: number; p99: number };
  scenes: MotionSceneReport[];
}

const WIDTH = 1280;
const HEIGHT = 720;
const STILL_FRAMES = 20;
const FACE_FRAMES = 5;
/** A cheap camera's per-pixel noise in a dim corridor: a few luma levels. */
const SENSOR_SIGMA = 4;
/** Scenes: photos as backdrops (the faces in them stay still; only the pasted face moves in). */
const SCENES = ['mixed/obama_and_biden.jpg', 'mixed/two_people.jpg', 'biden/biden2.jpg'];
const FACE_PHOTO = 'obama/obama3.jpg';

async function asFrame(input: string | Buffer): Promise<Buffer> {
  return sharp(input)
    .rotate()
    .removeAlpha()
    .resize(WIDTH, HEIGHT, { fit: 'contain', background: { r: 0, g: 0, b: 0 } })
    .raw()
    .toBuffer();
}

function run(ffmpeg: string, args: string[], input: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(ffmpeg, args, { stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-2000)));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`ffmpeg exited with ${code}: ${err}`)),
    );
    child.stdin.end(input);
  });
}

/** Raw RGB frames -> H.264 as the RTSP test server encodes it -> raw RGB frames again. */
async function throughH264(ffmpeg: string, frames: Buffer[]): Promise<Buffer[]> {
  const raw = ['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${WIDTH}x${HEIGHT}`, '-r', '5'];
  const h264 = await run(
    ffmpeg,
    [
      ...['-hide_banner', '-loglevel', 'error', ...raw, '-i', 'pipe:0'],
      ...['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '10', '-pix_fmt', 'yuv420p'],
      ...['-f', 'h264', 'pipe:1'],
    ],
    Buffer.concat(frames),
  );
  const decoded = await run(
    ffmpeg,
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-f',
      'h264',
      '-i',
      'pipe:0',
      ...['-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'],
    ],
    h264,
  );
  const size = WIDTH * HEIGHT * 3;
  return Array.from({ length: Math.floor(decoded.length / size) }, (_, i) =>
    decoded.subarray(i * size, (i + 1) * size),
  );
}

const image = (data: Uint8Array): RgbImage => ({ width: WIDTH, height: HEIGHT, data });

function deltas(a: Float32Array, b: Float32Array): number[] {
  return Array.from(a, (v, i) => Math.abs(v - (b[i] as number)));
}

function withNoise(frame: Buffer, random: () => number): Uint8Array {
  const out = new Uint8Array(frame.length);
  for (let i = 0; i < frame.length; i++) {
    // Box-Muller, one value per byte is plenty for a noise floor.
    const g = Math.sqrt(-2 * Math.log(random() || 1e-12)) * Math.cos(2 * Math.PI * random());
    out[i] = Math.max(0, Math.min(255, Math.round((frame[i] as number) + SENSOR_SIGMA * g)));
  }
  return out;
}

export async function runMotionBench(options: MotionBenchOptions): Promise<MotionBenchReport> {
  const ffmpeg = options.ffmpegPath ?? 'ffmpeg';
  const progress = options.progress ?? (() => {});
  const columns = DEFAULT_MOTION_GATE.columns;
  const eyePx = DEFAULT_QUALITY_THRESHOLDS.minInterEyePx;
  // The face to paste: cut around its eyes and scaled to the gate's smallest eye distance.
  const vision = await openVision(options);
  const facePath = path.join(options.photosDir, FACE_PHOTO);
  const source = await sharp(facePath).rotate().removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const found = await vision.analyzer.detector.detect({
    width: source.info.width,
    height: source.info.height,
    data: new Uint8Array(source.data),
  });
  const face = found[0];
  if (!face) throw new Error(`no face found in ${facePath}`);
  const l = face.landmarks;
  const eyes = Math.hypot(l.leftEye[0] - l.rightEye[0], l.leftEye[1] - l.rightEye[1]);
  const side = Math.round(4 * eyes);
  const cx = (l.leftEye[0] + l.rightEye[0]) / 2,
    cy = (l.leftEye[1] + l.rightEye[1]) / 2 + eyes / 2;
  const left = Math.max(0, Math.round(cx - side / 2)),
    top = Math.max(0, Math.round(cy - side / 2));
  const pasted = Math.round((side * eyePx) / eyes);
  const patch = await sharp(facePath)
    .rotate()
    .extract({
      left,
      top,
      width: Math.min(side, source.info.width - left),
      height: Math.min(side, source.info.height - top),
    })
    .resize(pasted, pasted)
    .png()
    .toBuffer();

  const random = seededRandom(1);
  const scenes: MotionSceneReport[] = [];
  const gateTimes: number[] = [];
  for (const scene of SCENES) {
    progress(`${scene}: encoding ${STILL_FRAMES} still frames and ${FACE_FRAMES} with a face stepping in`);
    const backdrop = path.join(options.photosDir, scene);
    const still = await asFrame(backdrop);
    const withFace = await sharp(still, { raw: { width: WIDTH, height: HEIGHT, channels: 3 } })
      .composite([{ input: patch, left: Math.round(WIDTH * 0.7), top: Math.round(HEIGHT * 0.3) }])
      .removeAlpha()
      .raw()
      .toBuffer();
    const frames = await throughH264(ffmpeg, [
      ...Array.from({ length: STILL_FRAMES }, () => still),
      ...Array.from({ length: FACE_FRAMES }, () => withFace),
    ]);
    // Warm (the first calls are compiled on the way): the figure is the steady cost per frame.
    for (let i = 0; i < 20; i++) lumaGrid(image(still), columns);
    const grids = frames.map((f) => {
      const t0 = performance.now();
      const g = lumaGrid(image(f), columns).cells;
      gateTimes.push((performance.now() - t0) * 1000);
      return g;
    });
    const noisy = frames.slice(0, STILL_FRAMES).map((f) => lumaGrid(image(withNoise(f, random)), columns).cells);
    const over = (d: number[]) => d.filter((v) => v > DEFAULT_MOTION_GATE.cellDelta).length;
    const stillDeltas: number[][] = [];
    const noisyDeltas: number[][] = [];
    for (let i = 1; i < STILL_FRAMES; i++) {
      stillDeltas.push(deltas(grids[i] as Float32Array, grids[i - 1] as Float32Array));
      noisyDeltas.push(deltas(noisy[i] as Float32Array, noisy[i - 1] as Float32Array));
    }
    const allStill = stillDeltas.flat().sort((a, b) => a - b);
    const faceDeltas = deltas(grids[STILL_FRAMES] as Float32Array, grids[STILL_FRAMES - 1] as Float32Array);
    const covered = faceDeltas.filter((v) => v > 1).sort((a, b) => a - b);
    scenes.push({
      scene,
      stillMaxDelta: allStill.at(-1) ?? 0,
      stillP99Delta: nearestRank(allStill, 0.99),
      stillMaxChangedCells: Math.max(...stillDeltas.map(over)),
      noisyMaxDelta: Math.max(...noisyDeltas.flat()),
      noisyMaxChangedCells: Math.max(...noisyDeltas.map(over)),
      faceChangedCells: over(faceDeltas),
      faceMedianDelta: nearestRank(covered, 0.5),
      faceMaxDelta: covered.at(-1) ?? 0,
    });
  }
  gateTimes.sort((a, b) => a - b);
  return {
    cpu: cpuInfo(),
    frame: `${WIDTH}x${HEIGHT}`,
    gate: DEFAULT_MOTION_GATE,
    faceEyePx: eyePx,
    sensorSigma: SENSOR_SIGMA,
    gateMicros: { p50: nearestRank(gateTimes, 0.5), p99: nearestRank(gateTimes, 0.99) },
    scenes,
  };
}

export function formatMotionBench(r: MotionBenchReport): string {
  const f = (v: number) => v.toFixed(1);
  return [
    `motion gate: ${r.frame} frames through libx264 and back, grid ${r.gate.columns} columns, a cell changed above ${r.gate.cellDelta} luma levels, motion at ${r.gate.minCells} cells`,
    `CPU: ${r.cpu.model || '(no brand string)'} (${r.cpu.vendor}); the gate costs p50 ${r.gateMicros.p50.toFixed(0)} us, p99 ${r.gateMicros.p99.toFixed(0)} us per frame`,
    '',
    `scene                        still: max / p99 delta, cells over   +noise sigma ${r.sensorSigma}: max, cells over   face (${r.faceEyePx} px eyes): cells over, median / max delta`,
    ...r.scenes.map(
      (s) =>
        `${s.scene.padEnd(28)} ${f(s.stillMaxDelta).padStart(6)} / ${f(s.stillP99Delta).padEnd(5)} ${String(s.stillMaxChangedCells).padStart(4)}` +
        `          ${f(s.noisyMaxDelta).padStart(6)} ${String(s.noisyMaxChangedCells).padStart(4)}` +
        `                      ${String(s.faceChangedCells).padStart(4)}  ${f(s.faceMedianDelta).padStart(6)} / ${f(s.faceMaxDelta)}`,
    ),
  ].join('\n');
}
