// `facegate bench pipeline`: what the live pipeline sustains on this machine: N cameras (in-process
// still-image cameras at a fixed rate, so the camera network is not what is measured) showing real
// photos in turn, one of them enrolled; frames and faces per second, drops, latency from frame to
// event, and where the worker's time goes. Storage is a scratch data root (PGlite, or the
// PostgreSQL server given).
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import sharp from 'sharp';

import { openStorage, parseStorageConfig } from '../../storage/index.js';
import { silentLogger } from '../../storage/logger.js';
import { StillSource } from '../camera/still-source.js';
import { Pipeline } from '../pipeline/pipeline.js';
import { nearestRank } from '../percentile.js';
import { DEFAULT_DECISION_THRESHOLDS } from '../recognition/decision.js';
import { UnknownFaceGrouping } from '../unknown-faces/grouping.js';
import { enroll } from '../recognition/enrollment.js';
import { UserDirectory } from '../recognition/user-directory.js';
import { cpuInfo } from '../../core/native/index.js';
import { type CpuTuning, describeCpuTuning } from '../vision/inference.js';
import { openVision, type VisionOptions } from '../vision/index.js';
import { benchInOwnProcess } from './own-process.js';
import { formatCpu, type VisionComparison, type VisionSettings, visionSettings } from './vision-bench.js';
import type { RgbImage } from '../vision/types.js';

export interface PipelineBenchOptions extends VisionOptions {
  photosDir: string;
  cameras: number;
  seconds: number;
  fps: number;
  width: number;
  height: number;
  databaseUrl?: string | undefined;
  progress?: (message: string) => void;
}

export interface PipelineBenchReport {
  /** The CPU settings the sessions ran with. */
  cpu: { detector: CpuTuning; embedder: CpuTuning };
  cameras: number;
  seconds: number;
  offeredFps: number;
  frame: string;
  framesPerSecond: number;
  facesPerSecond: number;
  dropped: number;
  decisions: { known: number; unknown: number };
  decisionLatencyMs: { p50: number; p99: number };
  trackLatencyMs: { p50: number; p99: number };
  /** Share of the worker's busy time per stage. */
  busyShare: { analyze: number; search: number; events: number };
}

const pct = (xs: number[], p: number) =>
  nearestRank(
    [...xs].sort((a, b) => a - b),
    p,
  );

/** A photo as a camera would deliver it: fitted into width x height, black bars around. */
async function asFrame(file: string, width: number, height: number): Promise<RgbImage> {
  const { data, info } = await sharp(file)
    .rotate()
    .removeAlpha()
    .resize(width, height, { fit: 'contain', background: { r: 0, g: 0, b: 0 } })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

export async function runPipelineBench(options: PipelineBenchOptions): Promise<PipelineBenchReport> {
  const progress = options.progress ?? (() => {});
  const dataRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'facegate-bench-pipeline-'));
  const vision = await openVision(options);
  const storage = await openStorage(
    parseStorageConfig({ dataRoot, ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}) }),
    { embeddingModel: { id: vision.embedder.modelId, dim: vision.embedder.dim }, schema: `fgbench_${process.pid}` },
  );
  try {
    progress('enrolling obama/ as the known person');
    const obama = path.join(options.photosDir, 'obama');
    const files = (await fs.readdir(obama)).sort().map((f) => path.join(obama, f));
    await enroll(
      { analyzer: vision.analyzer, storage },
      {
        userId: 'obama',
        name: 'Known person',
        images: await Promise.all(files.map(async (f) => ({ name: f, bytes: await fs.readFile(f) }))),
      },
    );
    const shown = ['obama/obama3.jpg', 'biden/biden.jpg', 'mixed/two_people.jpg', 'biden/biden2.jpg'];
    const frames = await Promise.all(
      shown.map((f) => asFrame(path.join(options.photosDir, f), options.width, options.height)),
    );
    const users = new UserDirectory(storage.db, storage.embeddings.modelId);
    await users.refresh();
    const pipeline = new Pipeline({
      analyzer: vision.analyzer,
      storage,
      users,
      grouping: new UnknownFaceGrouping(storage, DEFAULT_DECISION_THRESHOLDS.match, silentLogger),
      logger: silentLogger,
    });
    const sources = Array.from({ length: options.cameras }, (_, i) => {
      const cameraId = `bench_${i + 1}`;
      // Cameras start on different photos, so the worker sees a mix.
      const rotated = [...frames.slice(i % frames.length), ...frames.slice(0, i % frames.length)];
      return new StillSource(
        { cameraId, images: rotated, fps: options.fps, secondsPerImage: 2 },
        pipeline.addCamera(cameraId),
      );
    });
    progress(`${options.cameras} camera(s) at ${options.fps} fps for ${options.seconds} s`);
    pipeline.start(sources);
    await new Promise((r) => setTimeout(r, options.seconds * 1000));
    const dropped = sources.reduce((s, src) => s + src.stats().framesDropped, 0);
    await pipeline.stop();
    const stats = pipeline.stats();
    const visionMs = stats.busyMs.gate + stats.busyMs.detect + stats.busyMs.examine;
    const busy = visionMs + stats.busyMs.search + stats.busyMs.events;
    return {
      cpu: { detector: vision.detector.cpu, embedder: vision.embedder.cpu },
      cameras: options.cameras,
      seconds: options.seconds,
      offeredFps: options.fps * options.cameras,
      frame: `${options.width}x${options.height}`,
      framesPerSecond: stats.frames / options.seconds,
      facesPerSecond: stats.faces / options.seconds,
      dropped,
      decisions: stats.decisions,
      decisionLatencyMs: { p50: pct(stats.decisionLatencyMs, 0.5), p99: pct(stats.decisionLatencyMs, 0.99) },
      trackLatencyMs: { p50: pct(stats.trackLatencyMs, 0.5), p99: pct(stats.trackLatencyMs, 0.99) },
      busyShare: {
        analyze: visionMs / busy,
        search: stats.busyMs.search / busy,
        events: stats.busyMs.events / busy,
      },
    };
  } finally {
    await storage.close();
    await fs.rm(dataRoot, { recursive: true, force: true });
  }
}

export function formatPipelineBench(r: PipelineBenchReport): string {
  const share = (v: number) => `${(v * 100).toFixed(0)} %`;
  return [
    `pipeline: ${r.cameras} camera(s), ${r.frame} frames offered at ${r.offeredFps} fps in all, ${r.seconds} s`,
    `CPU settings: detector ${describeCpuTuning(r.cpu.detector)}; embedder ${describeCpuTuning(r.cpu.embedder)}`,
    `sustained ${r.framesPerSecond.toFixed(1)} frames/s, ${r.facesPerSecond.toFixed(1)} faces/s; ${r.dropped} frames dropped (back-pressure)`,
    `decisions: ${r.decisions.known} known, ${r.decisions.unknown} unknown`,
    `latency, deciding frame -> event: p50 ${r.decisionLatencyMs.p50.toFixed(0)} ms, p99 ${r.decisionLatencyMs.p99.toFixed(0)} ms`,
    `latency, track's first frame -> event: p50 ${r.trackLatencyMs.p50.toFixed(0)} ms, p99 ${r.trackLatencyMs.p99.toFixed(0)} ms`,
    `worker time: vision ${share(r.busyShare.analyze)}, search + decision ${share(r.busyShare.search)}, tracking + events + crops ${share(r.busyShare.events)}`,
  ].join('\n');
}

export interface PipelineComparison {
  cpu: VisionComparison['cpu'];
  runs: (VisionSettings & { report: PipelineBenchReport })[];
}

/**
 * `bench pipeline --compare`: the same load with ONNX Runtime's defaults (the baseline) and with
 * facegate's settings, each in a process of its own, one after the other.
 */
export async function comparePipelineSettings(options: {
  args: string[];
  onnxruntimeVersion: string;
  progress?: (message: string) => void;
}): Promise<PipelineComparison> {
  const all = visionSettings({ sweep: false, cores: os.availableParallelism() });
  const chosen = [all[0], all.at(-1)].filter((s): s is VisionSettings => s !== undefined);
  const runs: PipelineComparison['runs'] = [];
  for (const settings of chosen) {
    options.progress?.(`settings "${settings.name}" in a process of its own`);
    runs.push({
      ...settings,
      report: await benchInOwnProcess<PipelineBenchReport>([
        'pipeline',
        ...options.args,
        '--settings',
        JSON.stringify(settings),
      ]),
    });
  }
  return { cpu: { ...cpuInfo(), cores: os.availableParallelism(), onnxruntime: options.onnxruntimeVersion }, runs };
}

export function formatPipelineComparison(c: PipelineComparison): string {
  return [formatCpu(c.cpu), ...c.runs.flatMap((r) => ['', `== ${r.name} ==`, formatPipelineBench(r.report)])].join(
    '\n',
  );
}
