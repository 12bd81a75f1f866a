// `facegate bench vision`: per-stage latency of the vision pipeline (decode, detect, align, embed)
// and faces per second, on real photos, with the models and provider the appliance would use, for
// facegate's CPU settings beside ONNX Runtime's defaults, each measured in a process of its own
// (ONNX Runtime sets the flush-to-zero flag of the JavaScript thread once per process, from the
// first session: two settings in one process would not be two measurements).
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { cpuInfo, type CpuInfo } from '../../core/native/index.js';
import { nearestRank } from '../percentile.js';
import { alignFace } from '../vision/align.js';
import { type CpuTuning, facegateCpuTuning, ORT_DEFAULT_CPU } from '../vision/inference.js';
import { decodeImage, openVision, type VisionOptions } from '../vision/index.js';
import { benchInOwnProcess } from './own-process.js';

export interface VisionBenchOptions extends VisionOptions {
  photosDir: string;
  /** Passes over the photos (after one warm-up pass). */
  repeat: number;
  progress?: (message: string) => void;
}

export interface StageStats {
  samples: number;
  meanMs: number;
  p50Ms: number;
  p95Ms: number;
}

export interface VisionBenchReport {
  photos: number;
  faces: number;
  repeat: number;
  detector: { name: string; provider: string; cpu: CpuTuning };
  embedder: { name: string; provider: string; dim: number; cpu: CpuTuning };
  /** decode and detect are per image; align and embed per face. */
  stages: Record<'decode' | 'detect' | 'align' | 'embed', StageStats>;
  /** Faces through the whole pipeline (decode to embedding) per second of wall time. */
  facesPerSecond: number;
  imagesPerSecond: number;
}

const IMAGE_FILE = /\.(jpe?g|png|webp)$/i;

async function listPhotos(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listPhotos(full)));
    else if (IMAGE_FILE.test(entry.name)) out.push(full);
  }
  return out.sort();
}

function stats(ms: number[]): StageStats {
  const sorted = [...ms].sort((a, b) => a - b);
  return {
    samples: ms.length,
    meanMs: ms.reduce((s, v) => s + v, 0) / Math.max(1, ms.length),
    p50Ms: nearestRank(sorted, 0.5),
    p95Ms: nearestRank(sorted, 0.95),
  };
}

export async function runVisionBench(options: VisionBenchOptions): Promise<VisionBenchReport> {
  const progress = options.progress ?? (() => {});
  const photos = await listPhotos(options.photosDir);
  if (photos.length === 0)
    throw new Error(`Expected photos (.jpg, .png, .webp) in ${options.photosDir} but found none`);
  const vision = await openVision(options);
  const { detector, embedder } = vision.analyzer;
  const times = { decode: [] as number[], detect: [] as number[], align: [] as number[], embed: [] as number[] };
  let faces = 0;
  let wallMs = 0;
  for (let pass = -1; pass < options.repeat; pass++) {
    const measure = pass >= 0; // pass -1 warms caches and the sessions
    progress(measure ? `pass ${pass + 1}/${options.repeat} over ${photos.length} photos` : 'warm-up pass');
    for (const file of photos) {
      const bytes = await fs.readFile(file);
      const t0 = performance.now();
      const image = await decodeImage(bytes);
      const t1 = performance.now();
      const found = await detector.detect(image);
      const t2 = performance.now();
      let last = t2;
      for (const face of found) {
        const a0 = performance.now();
        const aligned = alignFace(image, face.landmarks);
        const a1 = performance.now();
        await embedder.embed(aligned);
        last = performance.now();
        if (measure) {
          times.align.push(a1 - a0);
          times.embed.push(last - a1);
        }
      }
      if (measure) {
        times.decode.push(t1 - t0);
        times.detect.push(t2 - t1);
        faces += found.length;
        wallMs += last - t0;
      }
    }
  }
  return {
    photos: photos.length,
    faces,
    repeat: options.repeat,
    detector: { name: vision.detector.name, provider: vision.detector.provider, cpu: vision.detector.cpu },
    embedder: {
      name: vision.embedder.name,
      provider: vision.embedder.provider,
      dim: vision.embedder.dim,
      cpu: vision.embedder.cpu,
    },
    stages: {
      decode: stats(times.decode),
      detect: stats(times.detect),
      align: stats(times.align),
      embed: stats(times.embed),
    },
    facesPerSecond: (faces * 1000) / wallMs,
    imagesPerSecond: (photos.length * options.repeat * 1000) / wallMs,
  };
}

/** One set of CPU settings a comparison measures, in a process of its own. */
export interface VisionSettings {
  name: string;
  detector: CpuTuning;
  embedder: CpuTuning;
}

/**
 * What `bench vision` compares: ONNX Runtime's defaults (the baseline), each of facegate's two
 * switches alone, and facegate's settings. `sweep` adds facegate's settings at every thread count
 * from 1 to the cores for each model, the measurement the per-model defaults come from.
 */
export function visionSettings(options: { sweep: boolean; cores: number; intraOpThreads?: number }): VisionSettings[] {
  const ours = (role: 'detector' | 'embedder') => facegateCpuTuning(role, options.intraOpThreads);
  const list: VisionSettings[] = [
    { name: 'onnxruntime defaults', detector: ORT_DEFAULT_CPU, embedder: ORT_DEFAULT_CPU },
    {
      name: 'flush denormals only',
      detector: { ...ORT_DEFAULT_CPU, flushDenormals: true },
      embedder: { ...ORT_DEFAULT_CPU, flushDenormals: true },
    },
    {
      name: 'no spinning only',
      detector: { ...ORT_DEFAULT_CPU, spinning: false },
      embedder: { ...ORT_DEFAULT_CPU, spinning: false },
    },
    { name: 'facegate', detector: ours('detector'), embedder: ours('embedder') },
  ];
  if (options.sweep) {
    for (let t = 1; t <= options.cores; t++) {
      list.push({
        name: `facegate, detector ${t} thread(s)`,
        detector: { ...ours('detector'), intraOpThreads: t },
        embedder: ours('embedder'),
      });
      list.push({
        name: `facegate, embedder ${t} thread(s)`,
        detector: ours('detector'),
        embedder: { ...ours('embedder'), intraOpThreads: t },
      });
    }
  }
  return list;
}

export interface VisionComparison {
  cpu: CpuInfo & { cores: number; onnxruntime: string };
  runs: (VisionSettings & { report: VisionBenchReport })[];
}

/** Runs each settings in a process of its own (own-process.ts), one after another. */
export async function compareVisionSettings(options: {
  args: string[];
  settings: VisionSettings[];
  onnxruntimeVersion: string;
  progress?: (message: string) => void;
}): Promise<VisionComparison> {
  const runs: VisionComparison['runs'] = [];
  for (const settings of options.settings) {
    options.progress?.(`settings "${settings.name}" in a process of its own`);
    const report = await benchInOwnProcess<VisionBenchReport>([
      'vision',
      ...options.args,
      '--settings',
      JSON.stringify(settings),
    ]);
    runs.push({ ...settings, report });
  }
  return { cpu: { ...cpuInfo(), cores: os.availableParallelism(), onnxruntime: options.onnxruntimeVersion }, runs };
}

/** Reads `--settings` back (it comes from compareVisionSettings, but is checked like any input). */
export function parseVisionSettings(raw: string): VisionSettings {
  const value = JSON.parse(raw) as Partial<VisionSettings>;
  const tuning = (t: unknown): t is CpuTuning => {
    const c = t as Partial<CpuTuning> | null;
    return (
      typeof c === 'object' &&
      c !== null &&
      typeof c.flushDenormals === 'boolean' &&
      typeof c.spinning === 'boolean' &&
      (c.intraOpThreads === undefined || (Number.isInteger(c.intraOpThreads) && c.intraOpThreads >= 1))
    );
  };
  if (typeof value.name !== 'string' || !tuning(value.detector) || !tuning(value.embedder)) {
    throw new TypeError(
      `Expected --settings {"name", "detector", "embedder"} with flushDenormals, spinning, intraOpThreads but received ${raw}`,
    );
  }
  return value as VisionSettings;
}

const threads = (t: CpuTuning) => (t.intraOpThreads === undefined ? 'auto' : String(t.intraOpThreads));
const onOff = (b: boolean) => (b ? 'on' : 'off');

export function formatCpu(cpu: VisionComparison['cpu']): string {
  return `CPU: ${cpu.model || '(no brand string)'} (${cpu.vendor}), ${cpu.cores} cores; ${cpu.features.join(' ')}; onnxruntime-node ${cpu.onnxruntime}`;
}

export function formatVisionComparison(c: VisionComparison): string {
  const first = c.runs[0]?.report;
  const lines = [
    `vision benchmark: ${first?.photos ?? 0} photos x ${first?.repeat ?? 0} passes, ${first?.faces ?? 0} faces per settings, each settings in its own process`,
    formatCpu(c.cpu),
    first
      ? `detector ${first.detector.name} on ${first.detector.provider}, embedder ${first.embedder.name} (${first.embedder.dim}-d) on ${first.embedder.provider}`
      : '',
    '',
    'settings                        flush  spin  det thr  emb thr  detect p50/p95 ms   embed p50/p95 ms  faces/s',
  ];
  for (const r of c.runs) {
    const s = r.report.stages;
    lines.push(
      `${r.name.padEnd(31)} ${onOff(r.embedder.flushDenormals).padEnd(6)} ${onOff(r.embedder.spinning).padEnd(5)} ${threads(r.detector).padStart(7)}  ${threads(r.embedder).padStart(7)}  ` +
        `${`${s.detect.p50Ms.toFixed(1)} / ${s.detect.p95Ms.toFixed(1)}`.padStart(17)}  ${`${s.embed.p50Ms.toFixed(1)} / ${s.embed.p95Ms.toFixed(1)}`.padStart(17)}  ${r.report.facesPerSecond.toFixed(1).padStart(7)}`,
    );
  }
  return lines.join('\n');
}

export function formatVisionBench(r: VisionBenchReport): string {
  const row = (name: string, s: StageStats, per: string) =>
    `${name.padEnd(8)} ${per.padEnd(6)} ${String(s.samples).padStart(7)} ${s.meanMs.toFixed(2).padStart(9)} ${s.p50Ms.toFixed(2).padStart(8)} ${s.p95Ms.toFixed(2).padStart(8)}`;
  return [
    `vision benchmark: ${r.photos} photos x ${r.repeat} passes, ${r.faces} faces`,
    `detector ${r.detector.name} on ${r.detector.provider}, embedder ${r.embedder.name} (${r.embedder.dim}-d) on ${r.embedder.provider}`,
    `CPU settings: detector threads ${threads(r.detector.cpu)}, embedder threads ${threads(r.embedder.cpu)}, flush denormals ${onOff(r.embedder.cpu.flushDenormals)}, spinning ${onOff(r.embedder.cpu.spinning)}`,
    '',
    'stage    per    samples   mean ms   p50 ms   p95 ms',
    row('decode', r.stages.decode, 'image'),
    row('detect', r.stages.detect, 'image'),
    row('align', r.stages.align, 'face'),
    row('embed', r.stages.embed, 'face'),
    '',
    `whole pipeline: ${r.facesPerSecond.toFixed(1)} faces/s, ${r.imagesPerSecond.toFixed(1)} images/s`,
  ].join('\n');
}
