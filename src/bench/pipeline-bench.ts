// `facegate bench pipeline`: what the live pipeline sustains on this machine, in two scenes.
// site (the default): N cameras of the service's own kind (RtspSource: one ffmpeg child each,
// decoding H.264 for real) replaying site-like scenes (scenes.ts: a corridor where people pass now
// and then, a queue, someone standing still) encoded once before the run; the scenes' scripts say
// whether every person passing got a decision and whether the enrolled one was named, and the
// ffmpeg children's CPU is counted beside the worker's. photos: in-process still cameras showing
// real photos in turn (every frame has faces: the face-dense worst case, no decoding). Either scene
// runs with facegate's pipeline (motion gate, decide-once following, parallel stages) or the
// baseline (all three off, the pipeline as it was), each in a process of its own when compared.
// Storage is a scratch data root (PGlite, or the PostgreSQL server given).
import { promises as fs } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import sharp from 'sharp';

import { openStorage, parseStorageConfig } from '../../storage/index.js';
import { silentLogger } from '../../storage/logger.js';
import type { CameraCallbacks, CameraSource } from '../camera/camera-source.js';
import { RtspSource } from '../camera/rtsp-source.js';
import { StillSource } from '../camera/still-source.js';
import { Pipeline, type PipelineOptions } from '../pipeline/pipeline.js';
import { nearestRank } from '../percentile.js';
import { DEFAULT_DECISION_THRESHOLDS } from '../recognition/decision.js';
import { UnknownFaceGrouping } from '../unknown-faces/grouping.js';
import { enroll } from '../recognition/enrollment.js';
import { UserDirectory } from '../recognition/user-directory.js';
import { cpuInfo } from '../../core/native/index.js';
import { type CpuTuning, describeCpuTuning } from '../vision/inference.js';
import { openVision, type VisionOptions } from '../vision/index.js';
import { benchInOwnProcess } from './own-process.js';
import {
  judgeScene,
  KNOWN_USER_ID,
  loadScenes,
  prepareScenes,
  removeScenes,
  sceneIdFor,
  type SceneSet,
  type SceneVerdict,
} from './scenes.js';
import { formatCpu, type VisionComparison, type VisionSettings, visionSettings } from './vision-bench.js';
import { cameraDetectorSize } from '../vision/detector.js';
import type { RgbImage } from '../vision/types.js';

export const BENCH_SCENES = ['site', 'queue', 'photos'] as const;

/**
 * The scene each camera replays: site mixes the corridor, the queue and the person standing
 * still; queue is the face-dense worst case (every camera a queue: several faces in view in every
 * frame, always moving a little, so the motion gate never skips a frame).
 */
export function sceneIdsFor(scene: 'site' | 'queue', cameras: number): string[] {
  return Array.from({ length: cameras }, (_, i) => (scene === 'queue' ? `queue-${i + 1}` : sceneIdFor(i)));
}

/** Whether the scene is replayed by ffmpeg cameras (site, queue) rather than in-process still cameras. */
export const isReplayedScene = (scene: BenchScene): scene is 'site' | 'queue' => scene !== 'photos';
export type BenchScene = (typeof BENCH_SCENES)[number];
export const PIPELINE_MODES = ['facegate', 'baseline'] as const;
/**
 * facegate: the pipeline's defaults, camera frames on the camera detector at the camera's size (as
 * serve runs it); baseline: motion gate, following and parallel stages off, every frame on the
 * fixed 640 x 640 photo detector (the pipeline before issue 15).
 */
export type PipelineMode = (typeof PIPELINE_MODES)[number];

/** What each mode passes to the Pipeline. */
export function pipelineModeOptions(mode: PipelineMode): PipelineOptions {
  return mode === 'baseline' ? { motion: false, follow: false, parallelStages: false } : {};
}

/** The scenes are this much longer than the run: cameras start a few seconds late under load, and must not reach the loop's seam. */
export const SCENE_MARGIN_S = 15;

export interface PipelineBenchOptions extends VisionOptions {
  scene: BenchScene;
  pipeline: PipelineMode;
  photosDir: string;
  cameras: number;
  seconds: number;
  fps: number;
  width: number;
  height: number;
  databaseUrl?: string | undefined;
  /** site: a folder prepareScenes wrote (a comparison's runs share it); absent: encoded here and removed after. */
  scenesDir?: string | undefined;
  progress?: (message: string) => void;
}

/** The site scene's ground truth against the events, summed over all cameras (scenes.ts SceneVerdict's counts). */
export interface SiteReport extends Omit<SceneVerdict, 'missed'> {
  /** The scene each camera showed ("corridor-1", ...). */
  scenes: string[];
  reconnects: number;
  /** The passages that got no event (at most 20). */
  missed: { camera: string; scene: string; person: string; startS: number; endS: number }[];
}

export interface PipelineBenchReport {
  scene: BenchScene;
  pipeline: PipelineMode;
  /** The CPU settings the sessions ran with. */
  cpu: { detector: CpuTuning; embedder: CpuTuning };
  cameras: number;
  seconds: number;
  offeredFps: number;
  frame: string;
  framesPerSecond: number;
  facesPerSecond: number;
  dropped: number;
  frames: number;
  framesDetected: number;
  faces: number;
  facesExamined: number;
  facesEmbedded: number;
  facesFollowed: number;
  /** framesDetected / frames; facesEmbedded / faces; facesFollowed / faces (0 when there were none). */
  shares: { detected: number; embedded: number; followed: number };
  decisions: { known: number; unknown: number };
  decisionLatencyMs: { p50: number; p99: number };
  trackLatencyMs: { p50: number; p99: number };
  /** Share of the stages' busy time (the two stages overlap when parallel). */
  busyShare: { analyze: number; search: number; events: number };
  /** CPU seconds over the run: this process (pipeline, models, frame copies) and the ffmpeg children (null: none, or not Linux). */
  cpuSeconds: { wall: number; node: number; ffmpeg: number | null };
  site: SiteReport | null;
}

const pct = (xs: number[], p: number) =>
  nearestRank(
    [...xs].sort((a, b) => a - b),
    p,
  );

const ratio = (part: number, whole: number) => (whole > 0 ? part / whole : 0);

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

/**
 * CPU time of child processes from /proc/<pid>/stat (utime + stime), sampled while they run: a
 * child that exits takes its counters with it, so the last sample of each pid is what counts.
 * Linux only (null elsewhere).
 */
class ChildCpu {
  private readonly ticks = new Map<number, number>();
  private readonly hz: number;
  readonly supported = process.platform === 'linux';

  constructor() {
    let hz = 100;
    if (this.supported) {
      try {
        hz = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
      } catch {
        // 100 Hz is USER_HZ on every Linux architecture facegate runs on.
      }
    }
    this.hz = hz;
  }

  sample(pids: (number | undefined)[]): void {
    if (!this.supported) return;
    for (const pid of pids) {
      if (pid === undefined) continue;
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        // Fields after "(comm)": state is field 3, utime 14, stime 15.
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        this.ticks.set(pid, Number(fields[11]) + Number(fields[12]));
      } catch {
        // Gone between the pid and the read: its last sample stands.
      }
    }
  }

  seconds(): number | null {
    if (!this.supported || this.ticks.size === 0) return null;
    return [...this.ticks.values()].reduce((a, b) => a + b, 0) / this.hz;
  }
}

/** Every recognition event of a camera since `since`, in pages. */
async function cameraEvents(storage: Awaited<ReturnType<typeof openStorage>>, cameraId: string, since: Date) {
  const all: { timestamp: Date; matchedUserId: string | null }[] = [];
  let before: string | undefined;
  for (;;) {
    const page = await storage.db.queryRecognitionEvents({
      cameraId,
      since,
      limit: 1000,
      ...(before !== undefined ? { before } : {}),
    });
    all.push(...page);
    if (page.length < 1000) return all;
    before = page.at(-1)?.id;
  }
}

export async function runPipelineBench(options: PipelineBenchOptions): Promise<PipelineBenchReport> {
  const progress = options.progress ?? (() => {});
  const dataRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'facegate-bench-pipeline-'));
  const vision = await openVision(options);
  const storage = await openStorage(
    parseStorageConfig({ dataRoot, ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}) }),
    { embeddingModel: { id: vision.embedder.modelId, dim: vision.embedder.dim }, schema: `fgbench_${process.pid}` },
  );
  let ownScenes: string | undefined;
  try {
    progress('enrolling obama/ as the known person');
    const obama = path.join(options.photosDir, 'obama');
    const files = (await fs.readdir(obama)).sort().map((f) => path.join(obama, f));
    await enroll(
      { analyzer: vision.analyzer, storage },
      {
        userId: KNOWN_USER_ID,
        name: 'Known person',
        images: await Promise.all(files.map(async (f) => ({ name: f, bytes: await fs.readFile(f) }))),
      },
    );
    const users = new UserDirectory(storage.db, storage.embeddings.modelId);
    await users.refresh();
    const facegate = options.pipeline !== 'baseline';
    const pipeline = new Pipeline(
      {
        analyzer: vision.analyzer,
        ...(facegate ? { detector: vision.camera.detector } : {}),
        storage,
        users,
        grouping: new UnknownFaceGrouping(storage, DEFAULT_DECISION_THRESHOLDS.match, silentLogger),
        logger: silentLogger,
      },
      pipelineModeOptions(options.pipeline),
    );
    const cameraIds = Array.from({ length: options.cameras }, (_, i) => `bench_${i + 1}`);
    const cameraOptions = facegate ? { detectorSize: cameraDetectorSize(options.width, options.height) } : {};
    let sources: CameraSource[];
    let rtsp: RtspSource[] = [];
    let scenes: SceneSet | undefined;
    /** Per camera: the wall-clock ms of its scene's time 0 (from its first frame). */
    const clocks = new Map<string, number>();
    if (isReplayedScene(options.scene)) {
      const ids = sceneIdsFor(options.scene, cameraIds.length);
      if (options.scenesDir !== undefined) {
        scenes = await loadScenes(options.scenesDir);
      } else {
        scenes = await prepareScenes({
          photosDir: options.photosDir,
          ids,
          seconds: options.seconds + SCENE_MARGIN_S,
          analyzer: vision.analyzer,
          progress,
        });
        ownScenes = scenes.dir;
      }
      const set = scenes;
      rtsp = cameraIds.map((cameraId, i) => {
        const script = set.scripts.find((s) => s.id === ids[i]);
        if (!script) {
          throw new Error(
            `Expected scene ${ids[i]} in ${set.dir} but it holds ${set.scripts.map((s) => s.id).join(', ')}`,
          );
        }
        const callbacks = pipeline.addCamera(cameraId, cameraOptions);
        const watched: CameraCallbacks = {
          onFrame: (frame) => {
            if (!clocks.has(cameraId)) {
              clocks.set(cameraId, frame.receivedAt.getTime() - (frame.sequence / options.fps) * 1000);
            }
            return callbacks.onFrame(frame);
          },
          onStatus: (change) => callbacks.onStatus(change),
        };
        return new RtspSource(
          {
            cameraId,
            url: `replay:${path.join(set.dir, script.file)}`,
            fps: options.fps,
            width: options.width,
            height: options.height,
            logger: silentLogger,
          },
          watched,
        );
      });
      sources = rtsp;
    } else {
      const shown = ['obama/obama3.jpg', 'biden/biden.jpg', 'mixed/two_people.jpg', 'biden/biden2.jpg'];
      const frames = await Promise.all(
        shown.map((f) => asFrame(path.join(options.photosDir, f), options.width, options.height)),
      );
      sources = cameraIds.map((cameraId, i) => {
        // Cameras start on different photos, so the worker sees a mix.
        const rotated = [...frames.slice(i % frames.length), ...frames.slice(0, i % frames.length)];
        return new StillSource(
          { cameraId, images: rotated, fps: options.fps, secondsPerImage: 2 },
          pipeline.addCamera(cameraId, cameraOptions),
        );
      });
    }
    progress(
      `${options.scene} scene, ${options.pipeline} pipeline: ${options.cameras} camera(s) at ${options.fps} fps for ${options.seconds} s`,
    );
    const children = new ChildCpu();
    const since = new Date();
    const cpu0 = process.cpuUsage();
    pipeline.start(sources);
    const sampler = setInterval(() => children.sample(rtsp.map((s) => s.pid)), 500);
    await new Promise((r) => setTimeout(r, options.seconds * 1000));
    children.sample(rtsp.map((s) => s.pid));
    clearInterval(sampler);
    const node = process.cpuUsage(cpu0);
    const stoppedAt = Date.now();
    const dropped = sources.reduce((s, src) => s + src.stats().framesDropped, 0);
    const reconnects = sources.reduce((s, src) => s + src.stats().reconnects, 0);
    await pipeline.stop();
    const stats = pipeline.stats();
    const visionMs = stats.busyMs.gate + stats.busyMs.detect + stats.busyMs.examine;
    const busy = visionMs + stats.busyMs.search + stats.busyMs.events;

    let site: SiteReport | null = null;
    if (scenes) {
      site = {
        scenes: [],
        passages: 0,
        decided: 0,
        knownPassages: 0,
        knownNamed: 0,
        strangersNamedKnown: 0,
        events: 0,
        extraEvents: 0,
        reconnects,
        missed: [],
      };
      const ids = isReplayedScene(options.scene) ? sceneIdsFor(options.scene, cameraIds.length) : [];
      for (const [i, cameraId] of cameraIds.entries()) {
        const id = ids[i] as string;
        site.scenes.push(id);
        const script = scenes.scripts.find((s) => s.id === id);
        const t0 = clocks.get(cameraId);
        if (!script || t0 === undefined) continue;
        const events = (await cameraEvents(storage, cameraId, since)).map((e) => ({
          atS: (e.timestamp.getTime() - t0) / 1000,
          userId: e.matchedUserId,
        }));
        const verdict: SceneVerdict = judgeScene(script, events, (stoppedAt - t0) / 1000);
        site.passages += verdict.passages;
        site.decided += verdict.decided;
        site.knownPassages += verdict.knownPassages;
        site.knownNamed += verdict.knownNamed;
        site.strangersNamedKnown += verdict.strangersNamedKnown;
        site.events += verdict.events;
        site.extraEvents += verdict.extraEvents;
        for (const p of verdict.missed) {
          if (site.missed.length < 20) site.missed.push({ camera: cameraId, scene: id, ...p });
        }
      }
    }
    return {
      scene: options.scene,
      pipeline: options.pipeline,
      cpu: { detector: vision.detector.cpu, embedder: vision.embedder.cpu },
      cameras: options.cameras,
      seconds: options.seconds,
      offeredFps: options.fps * options.cameras,
      frame: `${options.width}x${options.height}`,
      framesPerSecond: stats.frames / options.seconds,
      facesPerSecond: stats.faces / options.seconds,
      dropped,
      frames: stats.frames,
      framesDetected: stats.framesDetected,
      faces: stats.faces,
      facesExamined: stats.facesExamined,
      facesEmbedded: stats.facesEmbedded,
      facesFollowed: stats.facesFollowed,
      shares: {
        detected: ratio(stats.framesDetected, stats.frames),
        embedded: ratio(stats.facesEmbedded, stats.faces),
        followed: ratio(stats.facesFollowed, stats.faces),
      },
      decisions: stats.decisions,
      decisionLatencyMs: { p50: pct(stats.decisionLatencyMs, 0.5), p99: pct(stats.decisionLatencyMs, 0.99) },
      trackLatencyMs: { p50: pct(stats.trackLatencyMs, 0.5), p99: pct(stats.trackLatencyMs, 0.99) },
      busyShare: {
        analyze: ratio(visionMs, busy),
        search: ratio(stats.busyMs.search, busy),
        events: ratio(stats.busyMs.events, busy),
      },
      cpuSeconds: {
        wall: options.seconds,
        node: (node.user + node.system) / 1e6,
        ffmpeg: isReplayedScene(options.scene) ? children.seconds() : null,
      },
      site,
    };
  } finally {
    await storage.close();
    await fs.rm(dataRoot, { recursive: true, force: true });
    if (ownScenes !== undefined) await removeScenes(ownScenes);
  }
}

/** Encodes the scenes `cameras` site cameras show, once, for the runs of a comparison (removeScenes after). */
export async function prepareSiteScenes(
  options: VisionOptions & {
    scene: 'site' | 'queue';
    photosDir: string;
    cameras: number;
    seconds: number;
    progress?: (message: string) => void;
  },
): Promise<SceneSet> {
  const vision = await openVision(options);
  return prepareScenes({
    photosDir: options.photosDir,
    ids: sceneIdsFor(options.scene, options.cameras),
    seconds: options.seconds + SCENE_MARGIN_S,
    analyzer: vision.analyzer,
    ...(options.progress ? { progress: options.progress } : {}),
  });
}

/** The runs side by side: one column per run, one row per figure. */
function formatTable(runs: { name: string; report: PipelineBenchReport }[]): string {
  const share = (v: number) => `${(v * 100).toFixed(0)} %`;
  const ms = (l: { p50: number; p99: number }) => `${l.p50.toFixed(0)} / ${l.p99.toFixed(0)} ms`;
  const cores = (s: number | null, wall: number) =>
    s === null ? 'n/a' : `${s.toFixed(1)} s (${(s / wall).toFixed(2)} cores)`;
  const rows: [string, (r: PipelineBenchReport) => string][] = [
    ['sustained frames/s', (r) => r.framesPerSecond.toFixed(1)],
    ['frames dropped (back-pressure)', (r) => String(r.dropped)],
    ['frames that ran the detector', (r) => `${r.framesDetected} of ${r.frames} (${share(r.shares.detected)})`],
    ['faces/s seen', (r) => r.facesPerSecond.toFixed(1)],
    ['faces embedded', (r) => `${r.facesEmbedded} of ${r.faces} (${share(r.shares.embedded)})`],
    ['faces followed (not embedded)', (r) => `${r.facesFollowed} (${share(r.shares.followed)})`],
    ['CPU, this process', (r) => cores(r.cpuSeconds.node, r.cpuSeconds.wall)],
    ['CPU, ffmpeg children', (r) => cores(r.cpuSeconds.ffmpeg, r.cpuSeconds.wall)],
    ['decisions known / unknown', (r) => `${r.decisions.known} / ${r.decisions.unknown}`],
    ['deciding frame -> event p50 / p99', (r) => ms(r.decisionLatencyMs)],
    ["track's first frame -> event p50 / p99", (r) => ms(r.trackLatencyMs)],
    [
      'stage time: vision / search / events',
      (r) => `${share(r.busyShare.analyze)} / ${share(r.busyShare.search)} / ${share(r.busyShare.events)}`,
    ],
  ];
  if (runs.some((r) => r.report.site)) {
    rows.push(
      ['persons decided / passed', (r) => (r.site ? `${r.site.decided} / ${r.site.passages}` : '-')],
      ['known person named / passed', (r) => (r.site ? `${r.site.knownNamed} / ${r.site.knownPassages}` : '-')],
      ['strangers named as known', (r) => (r.site ? String(r.site.strangersNamedKnown) : '-')],
      ['events beyond one per person', (r) => (r.site ? String(r.site.extraEvents) : '-')],
      ['camera reconnects', (r) => (r.site ? String(r.site.reconnects) : '-')],
    );
  }
  const header = ['', ...runs.map((r) => r.name)];
  const body = rows.map(([label, cell]) => [label, ...runs.map((r) => cell(r.report))]);
  const widths = header.map((_, c) => Math.max(...[header, ...body].map((row) => (row[c] ?? '').length)));
  const line = (row: string[]) =>
    row
      .map((cell, c) => cell.padEnd(widths[c] ?? 0))
      .join('  ')
      .trimEnd();
  const missed = runs.flatMap((r) =>
    (r.report.site?.missed ?? []).map(
      (m) =>
        `${r.name}: no decision for ${m.person} on ${m.camera} (${m.scene}, in view ${m.startS.toFixed(1)}-${m.endS.toFixed(1)} s)`,
    ),
  );
  return [line(header), ...body.map(line), ...missed].join('\n');
}

function describeRun(r: PipelineBenchReport): string {
  const what =
    r.scene !== 'photos'
      ? `${r.scene} scenes (${r.site?.scenes.join(', ') ?? ''}; H.264 decoded by one ffmpeg per camera)`
      : 'photos (in-process still cameras, a face in every frame)';
  return `pipeline bench: ${r.cameras} camera(s) x ${r.offeredFps / r.cameras} fps = ${r.offeredFps} frames/s offered, ${r.frame}, ${r.seconds} s; ${what}`;
}

export function formatPipelineBench(r: PipelineBenchReport): string {
  return [
    describeRun(r),
    `CPU settings: detector ${describeCpuTuning(r.cpu.detector)}; embedder ${describeCpuTuning(r.cpu.embedder)}`,
    formatTable([{ name: r.pipeline, report: r }]),
  ].join('\n');
}

export interface PipelineModeComparison {
  cpu: VisionComparison['cpu'];
  runs: { name: PipelineMode; report: PipelineBenchReport }[];
}

/**
 * `bench pipeline` (the default): the same load with facegate's pipeline and with the baseline
 * (motion gate, following and parallel stages off), each in a process of its own, one after the other.
 */
export async function comparePipelines(options: {
  args: string[];
  onnxruntimeVersion: string;
  progress?: (message: string) => void;
}): Promise<PipelineModeComparison> {
  const runs: PipelineModeComparison['runs'] = [];
  for (const name of PIPELINE_MODES) {
    options.progress?.(`pipeline "${name}" in a process of its own`);
    runs.push({
      name,
      report: await benchInOwnProcess<PipelineBenchReport>(['pipeline', ...options.args, '--pipeline', name]),
    });
  }
  return { cpu: { ...cpuInfo(), cores: os.availableParallelism(), onnxruntime: options.onnxruntimeVersion }, runs };
}

export function formatPipelineModeComparison(c: PipelineModeComparison): string {
  const first = c.runs[0]?.report;
  return [
    first ? describeRun(first) : '',
    formatCpu(c.cpu),
    first
      ? `CPU settings: detector ${describeCpuTuning(first.cpu.detector)}; embedder ${describeCpuTuning(first.cpu.embedder)}`
      : '',
    "facegate: motion gate, decide-once following, parallel stages, camera detector at the camera's size; baseline: all off (every frame on the fixed 640x640 detector). Each in a process of its own.",
    formatTable(c.runs),
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
