// `facegate bench search` (src/bench/search-bench.ts), `facegate bench events`
// (src/bench/events-bench.ts), scale (src/bench/scale-bench.ts), vision, pipeline, motion, detector and decode (src/bench/decode-bench.ts).
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import ort from 'onnxruntime-node';

import { formatDecodeBench, parseDecodeScenario, runDecodeBench, runDecodeScenario } from '../../bench/decode-bench.js';
import { formatDetectorBench, runDetectorBench } from '../../bench/detector-bench.js';
import { formatEventsBench, runEventsBench } from '../../bench/events-bench.js';
import { formatMotionBench, runMotionBench } from '../../bench/motion-bench.js';
import { DEFAULT_FPS, DEFAULT_HEIGHT, DEFAULT_WIDTH } from '../../camera/ffmpeg-args.js';
import {
  BENCH_SCENES,
  type BenchScene,
  comparePipelines,
  comparePipelineSettings,
  formatPipelineBench,
  formatPipelineComparison,
  formatPipelineModeComparison,
  PIPELINE_MODES,
  type PipelineMode,
  prepareSiteScenes,
  runPipelineBench,
} from '../../bench/pipeline-bench.js';
import { formatScaleBench, runScaleBench } from '../../bench/scale-bench.js';
import { removeScenes } from '../../bench/scenes.js';
import { formatSearchBench, runSearchBench } from '../../bench/search-bench.js';
import {
  compareVisionSettings,
  formatVisionBench,
  formatVisionComparison,
  parseVisionSettings,
  runVisionBench,
  visionSettings,
} from '../../bench/vision-bench.js';
import { projectRoot } from '../../../core/project-root.js';
import { isPositiveNumber } from '../../../storage/checks.js';
import { readEnvironment } from '../../config/environment.js';
import { embeddingModelOf } from '../../vision/index.js';
import { UsageError } from '../usage-error.js';
import { visionFlags, visionFlagsArgv, visionFlagsUsage, visionOptionsFrom } from '../vision-flags.js';

export const benchUsage = `facegate bench search [--n N] [--dim D] [--k K] [--queries Q] [--baseline-queries B] [--seed S] [--json]
  Exact search latency of facegate, FAISS's own search and a TypeScript loop on N random unit
  vectors, against this machine's memory-read bandwidth bound. Defaults: N 100000, dim 512,
  k 10, Q 100, B 20.

facegate bench events [--n N] [--batch B] [--database-url URL] [--json]
  Recognition events per second into PostgreSQL, one insert per event beside batches of B, in a
  scratch schema that is dropped afterwards. Defaults: N 5000, B 500, URL from DATABASE_URL.

facegate bench scale [--sizes N,N,...] [--dim D] [--writers N,N,...] [--batch B] [--seconds S] [--queries Q] [--changes C] [--database-url URL] [--json]
  Issue 18's scale figures, in one run: the local index at each size (RAM of the fp32 vectors
  and the fp16 copy, snapshot size, one change in memory and through the EmbeddingStore with its
  snapshot save, one search's p50); recognition events per second into one PostgreSQL from each
  number of writers at once (a DbStore and appliance id each), one insert per event beside
  batches of B; the catch-up of an appliance reopened after C missed changes, end to end through
  the change feed, at two batch sizes; and the live propagation of one enrolment. In scratch
  schemas dropped afterwards. Defaults: sizes 10000,100000,1000000, dim the default
  embedder's, writers 1,2,4,8, B 100, S 3, Q 50, C 6000 (an hour at 100 a minute), URL from
  DATABASE_URL.

facegate bench vision [--photos DIR] [--repeat R] [--sweep] ${visionFlagsUsage} [--json]
  Per-stage latency (decode, detect, align, embed) and faces per second on the photos in DIR
  (default: ../shared/faces beside the project, the development photos), for facegate's CPU
  settings beside ONNX Runtime's defaults and each of facegate's switches alone, each in a process
  of its own, with this CPU's model and SIMD extensions. --sweep adds every thread count per
  model. Default R 2. (--settings JSON runs one settings in this process: what the others call.)

facegate bench pipeline [--scene site|queue|photos] [--cameras N] [--seconds S] [--fps F] [--width W] [--height H] [--photos DIR] [--database-url URL] [--compare] [--pipeline facegate|baseline] ${visionFlagsUsage} [--json]
  What the live pipeline sustains, with facegate's pipeline (motion gate, decide-once following,
  parallel stages) beside the baseline (all three off), each in a process of its own, one table.
  --scene site (default): N cameras of the service's kind (one ffmpeg each, decoding H.264 for
  real) replaying site-like scenes made from the photos (obama/ enrolled) and encoded once before
  the run into a scratch folder: a corridor where people pass now and then, a queue of four, a
  person standing still 20 s; the cameras cycle through them. Prints offered and sustained
  frames/s, drops, the share of frames detected and faces embedded or followed, CPU of this
  process and of the ffmpeg children (Linux), decide and track-to-event latency, and from the
  scenes' scripts how many persons passing were decided and whether the known one was named.
  --scene queue: every camera a queue (several faces in every frame, always moving a little: the
  face-dense worst case, where the motion gate skips nothing). --scene photos: in-process cameras
  showing the photos in turn (no decoding; the photos stand still, so the gate skips frames).
  --pipeline NAME runs only that one, in this process.
  --compare instead runs facegate's pipeline with ONNX Runtime's default CPU settings and with
  facegate's, each in a process of its own. (--settings JSON and --scenes-dir DIR: what the
  comparisons pass their runs.)
  Defaults: site and queue N 8, S 60; photos N 1, S 20; F ${DEFAULT_FPS} per camera, ${DEFAULT_WIDTH}x${DEFAULT_HEIGHT} (a camera's), PGlite in a scratch data root.

facegate bench motion [--photos DIR] ${visionFlagsUsage} [--json]
  The motion gate's evidence (src/pipeline/motion-gate.ts): shared photos as 1280x720 frames
  through libx264 and back, how far a still scene's cells move (with sensor-like noise too), how
  many cells a face at the quality gate's smallest eye distance changes, and the gate's cost.

facegate bench detector [--width W] [--height H] [--repeat R] [--photos DIR] ${visionFlagsUsage} [--json]
  Which camera detector size a W x H camera needs (cameras[].detectorSize): lfw10's faces pasted
  into W x H frames at the gate's minimum eye distance and up, found and accepted by the gate with
  the fixed 640x640 model (the reference) and the dynamic one at each size, and its time per frame.
  Defaults: ${DEFAULT_WIDTH}x${DEFAULT_HEIGHT}, R 5.

facegate bench decode [--requests N] [--side PX] [--budget-mp MP] ${visionFlagsUsage} [--json]
  Peak memory (RSS) of the API under N parallel POST /identify of a PXxPX solid-colour PNG (a few
  kB each), with the status counts: one request, the burst with no decode bound (the baseline)
  and the burst under the decode budget (default 100 MP), each in a process of its own, with this
  CPU's model. Defaults: N 32, PX 7000. (--scenario JSON runs one load in this process.)`;

function positiveInt(name: string, raw: string | undefined, fallback: number, max: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!isPositiveNumber(value, max) || !Number.isInteger(value)) {
    throw new UsageError(`Expected an integer in 1..${max} for --${name} but received "${raw}"`);
  }
  return value;
}

function positiveInts(name: string, raw: string | undefined, fallback: number[], max: number): number[] {
  if (raw === undefined) return fallback;
  const values = raw.split(',').map((part) => positiveInt(name, part.trim(), 0, max));
  if (new Set(values).size !== values.length) {
    throw new UsageError(`Expected distinct values for --${name} but received "${raw}"`);
  }
  return values;
}

function oneOf<T extends string>(name: string, raw: string | undefined, allowed: readonly T[], fallback: T): T {
  if (raw === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new UsageError(`Expected one of ${allowed.join(', ')} for --${name} but received "${raw}"`);
  }
  return raw as T;
}

/** A bad flag value found by a parser that throws plain errors: a usage error (exit 2). */
function usage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

const progress = (message: string) => process.stderr.write(`bench: ${message}\n`);

export async function benchCommand(argv: string[], out: (json: unknown, text: string) => void): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      n: { type: 'string' },
      dim: { type: 'string' },
      k: { type: 'string' },
      queries: { type: 'string' },
      'baseline-queries': { type: 'string' },
      seed: { type: 'string' },
      batch: { type: 'string' },
      'database-url': { type: 'string' },
      photos: { type: 'string' },
      repeat: { type: 'string' },
      sweep: { type: 'boolean', default: false },
      compare: { type: 'boolean', default: false },
      settings: { type: 'string' },
      requests: { type: 'string' },
      side: { type: 'string' },
      'budget-mp': { type: 'string' },
      scenario: { type: 'string' },
      cameras: { type: 'string' },
      seconds: { type: 'string' },
      fps: { type: 'string' },
      width: { type: 'string' },
      height: { type: 'string' },
      scene: { type: 'string' },
      pipeline: { type: 'string' },
      'scenes-dir': { type: 'string' },
      sizes: { type: 'string' },
      writers: { type: 'string' },
      changes: { type: 'string' },
      ...visionFlags,
      json: { type: 'boolean', default: false },
    },
  });
  const [which, ...extra] = positionals;
  if (which === 'search' && extra.length === 0) {
    const report = await runSearchBench({
      n: positiveInt('n', values.n, 100_000, 50_000_000),
      dim: positiveInt('dim', values.dim, 512, 4096),
      k: positiveInt('k', values.k, 10, 4096),
      queries: positiveInt('queries', values.queries, 100, 100_000),
      baselineQueries: positiveInt('baseline-queries', values['baseline-queries'], 20, 100_000),
      seed: positiveInt('seed', values.seed, 1, 2 ** 31),
      progress,
    });
    out(report, formatSearchBench(report));
    return;
  }
  if (which === 'events' && extra.length === 0) {
    const databaseUrl = values['database-url'] ?? readEnvironment().databaseUrl;
    if (!databaseUrl)
      throw new UsageError('Expected --database-url or DATABASE_URL (a postgres:// URL) but received neither');
    const report = await runEventsBench({
      databaseUrl,
      n: positiveInt('n', values.n, 5_000, 10_000_000),
      batch: positiveInt('batch', values.batch, 500, 100_000),
      progress,
    });
    out(report, formatEventsBench(report));
    return;
  }
  if (which === 'scale' && extra.length === 0) {
    const databaseUrl = values['database-url'] ?? readEnvironment().databaseUrl;
    if (!databaseUrl)
      throw new UsageError('Expected --database-url or DATABASE_URL (a postgres:// URL) but received neither');
    const report = await runScaleBench({
      databaseUrl,
      sizes: positiveInts('sizes', values.sizes, [10_000, 100_000, 1_000_000], 10_000_000),
      dim: values.dim === undefined ? (await embeddingModelOf()).dim : positiveInt('dim', values.dim, 512, 4096),
      writers: positiveInts('writers', values.writers, [1, 2, 4, 8], 64),
      batch: positiveInt('batch', values.batch, 100, 100_000),
      seconds: positiveInt('seconds', values.seconds, 3, 600),
      queries: positiveInt('queries', values.queries, 50, 100_000),
      changes: positiveInt('changes', values.changes, 6_000, 1_000_000),
      progress,
    });
    out(report, formatScaleBench(report));
    return;
  }
  if (which === 'vision' && extra.length === 0) {
    const vision = visionOptionsFrom(values);
    const photosDir = values.photos ?? path.join(projectRoot(), '..', 'shared', 'faces');
    const repeat = positiveInt('repeat', values.repeat, 2, 1000);
    if (values.settings !== undefined) {
      const settings = usage(() => parseVisionSettings(values.settings as string));
      const report = await runVisionBench({ ...vision, cpu: settings, photosDir, repeat, progress });
      out(report, formatVisionBench(report));
      return;
    }
    const comparison = await compareVisionSettings({
      args: ['--photos', photosDir, '--repeat', String(repeat), ...visionFlagsArgv(values)],
      settings: visionSettings({ sweep: values.sweep ?? false, cores: os.availableParallelism() }),
      onnxruntimeVersion: ort.env.versions.node ?? 'unknown',
      progress,
    });
    out(comparison, formatVisionComparison(comparison));
    return;
  }
  if (which === 'pipeline' && extra.length === 0) {
    const scene = oneOf<BenchScene>('scene', values.scene, BENCH_SCENES, 'site');
    const photosDir = values.photos ?? path.join(projectRoot(), '..', 'shared', 'faces');
    const cameras = positiveInt('cameras', values.cameras, scene === 'photos' ? 1 : 8, 64);
    const seconds = positiveInt('seconds', values.seconds, scene === 'photos' ? 20 : 60, 3600);
    if (values.settings === undefined && values.pipeline === undefined) {
      // A comparison: each run in a process of its own, the site's scenes encoded once for both.
      const args = [
        ...['--scene', scene, '--cameras', String(cameras), '--seconds', String(seconds)],
        ...(['fps', 'width', 'height', 'photos', 'database-url'] as const).flatMap((flag) => {
          const v = values[flag];
          return v === undefined ? [] : [`--${flag}`, v];
        }),
        ...visionFlagsArgv(values),
      ];
      const scenes =
        scene !== 'photos'
          ? await prepareSiteScenes({ ...visionOptionsFrom(values), scene, photosDir, cameras, seconds, progress })
          : undefined;
      try {
        const withScenes = scenes ? [...args, '--scenes-dir', scenes.dir] : args;
        const onnxruntimeVersion = ort.env.versions.node ?? 'unknown';
        if (values.compare) {
          const comparison = await comparePipelineSettings({ args: withScenes, onnxruntimeVersion, progress });
          out(comparison, formatPipelineComparison(comparison));
        } else {
          const comparison = await comparePipelines({ args: withScenes, onnxruntimeVersion, progress });
          out(comparison, formatPipelineModeComparison(comparison));
        }
      } finally {
        if (scenes) await removeScenes(scenes.dir);
      }
      return;
    }
    const settings =
      values.settings === undefined ? undefined : usage(() => parseVisionSettings(values.settings as string));
    const report = await runPipelineBench({
      ...visionOptionsFrom(values),
      ...(settings ? { cpu: settings } : {}),
      scene,
      pipeline: oneOf<PipelineMode>('pipeline', values.pipeline, PIPELINE_MODES, 'facegate'),
      photosDir,
      cameras,
      seconds,
      // A camera's defaults (src/camera/ffmpeg-args.ts), so that the bench measures what serve runs.
      fps: positiveInt('fps', values.fps, DEFAULT_FPS, 60),
      width: positiveInt('width', values.width, DEFAULT_WIDTH, 7680),
      height: positiveInt('height', values.height, DEFAULT_HEIGHT, 4320),
      databaseUrl: values['database-url'] ?? readEnvironment().databaseUrl,
      scenesDir: values['scenes-dir'],
      progress,
    });
    out(report, formatPipelineBench(report));
    return;
  }
  if (which === 'motion' && extra.length === 0) {
    const report = await runMotionBench({
      ...visionOptionsFrom(values),
      photosDir: values.photos ?? path.join(projectRoot(), '..', 'shared', 'faces'),
      progress,
    });
    out(report, formatMotionBench(report));
    return;
  }
  if (which === 'detector' && extra.length === 0) {
    const report = await runDetectorBench({
      ...visionOptionsFrom(values),
      photosDir: values.photos ?? path.join(projectRoot(), '..', 'shared', 'faces'),
      width: positiveInt('width', values.width, DEFAULT_WIDTH, 7680),
      height: positiveInt('height', values.height, DEFAULT_HEIGHT, 4320),
      repeat: positiveInt('repeat', values.repeat, 5, 1000),
      progress,
    });
    out(report, formatDetectorBench(report));
    return;
  }
  if (which === 'decode' && extra.length === 0) {
    if (values.scenario !== undefined) {
      const scenario = usage(() => parseDecodeScenario(values.scenario as string));
      const run = await runDecodeScenario(scenario, visionOptionsFrom(values));
      out(run, JSON.stringify(run));
      return;
    }
    const budgetMp =
      values['budget-mp'] === undefined ? undefined : positiveInt('budget-mp', values['budget-mp'], 100, 10_000);
    const report = await runDecodeBench({
      requests: positiveInt('requests', values.requests, 32, 1000),
      // 7071: the largest square within the per-image limit (50 MP).
      side: positiveInt('side', values.side, 7000, 7071),
      ...(budgetMp !== undefined ? { budgetPixels: budgetMp * 1_000_000 } : {}),
      args: visionFlagsArgv(values),
      progress,
    });
    out(report, formatDecodeBench(report));
    return;
  }
  throw new UsageError(
    `Expected "bench search", "bench events", "bench scale", "bench vision", "bench pipeline", "bench motion", "bench detector" or "bench decode" but received "bench ${positionals.join(' ')}"`,
  );
}
