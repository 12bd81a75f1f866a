// Opening vision: the manifest's models, verified, on the chosen execution provider, warmed up,
// wired into a FaceAnalyzer. Everything above vision (recognition, CLI, service) starts here.
import { readEnvironment } from '../config/environment.js';
import type { Logger } from '../../storage/logger.js';
import type { FaceDetector } from './detector.js';
import { FaceEmbedder } from './embedder.js';
import { FaceAnalyzer } from './face-analyzer.js';
import {
  type ActiveProvider,
  type CpuTuning,
  createSession,
  facegateCpuTuning,
  providerFor,
  type InferenceProvider,
  type ModelRole,
  warmUp,
} from './inference.js';
import {
  defaultModel,
  defaultModelsDir,
  loadManifest,
  type ModelEntry,
  modelEntry,
  modelId,
} from '../models/manifest.js';
import { resolveModelFile } from '../models/verify.js';
import { DEFAULT_QUALITY_THRESHOLDS, type QualityThresholds } from './quality.js';
import { YuNetDetector } from './yunet-detector.js';

export interface VisionOptions {
  modelsDir?: string;
  provider?: InferenceProvider;
  /** Overrides the measured per-model thread counts (config `inference.intraOpThreads`). */
  intraOpThreads?: number;
  /** Whole CPU settings per model, for benchmarks; default: facegateCpuTuning(role, intraOpThreads). */
  cpu?: Partial<Record<ModelRole, CpuTuning>>;
  /** Model names from models/manifest.json; default: the manifest's defaults. */
  detector?: string;
  /** The detector for camera frames; default the manifest's default.cameraDetector, else the detector. */
  cameraDetector?: string;
  embedder?: string;
  quality?: QualityThresholds;
  logger?: Logger;
}

export interface ModelInfo {
  name: string;
  modelId: string;
  provider: ActiveProvider;
  /** Why the requested provider is not the active one, when it is not. */
  fallback: string | null;
  /** The CPU settings the session was created with (they matter when the provider is the CPU). */
  cpu: CpuTuning;
}

export interface Vision {
  analyzer: FaceAnalyzer;
  detector: ModelInfo;
  embedder: ModelInfo & { dim: number };
  /**
   * The detector for camera frames (the manifest's default.cameraDetector, or the cameraDetector
   * option): one whose input size is free, so each camera's frames are detected at their own
   * aspect ratio and at the size the camera needs. The photo detector when none is named.
   */
  camera: { detector: FaceDetector; info: ModelInfo };
}

async function session(
  entry: ModelEntry,
  role: ModelRole,
  modelsDir: string,
  options: VisionOptions,
  dims?: Record<string, number>,
) {
  const resolved = await resolveModelFile(entry.name, modelsDir);
  const cpu = options.cpu?.[role] ?? facegateCpuTuning(role, options.intraOpThreads);
  const s = await createSession(resolved.path, {
    provider: providerFor(role, options.provider ?? 'auto'),
    cpu,
    ...(options.logger ? { logger: options.logger } : {}),
  });
  // Sessions are created once and warmed: the first real frame pays no planning cost.
  await warmUp(s.session, dims ? { dims } : {});
  const info: ModelInfo = {
    name: entry.name,
    modelId: resolved.id,
    provider: s.provider,
    fallback: s.fallback ?? null,
    cpu,
  };
  return { session: s.session, info };
}

/**
 * The embedder's model id and dimension as the manifest declares them, without loading it: what
 * the embedding index needs to open for commands that do not run the models (users, events).
 * openVision checks the loaded model against the same manifest.
 */
export async function embeddingModelOf(
  options: Pick<VisionOptions, 'embedder'> = {},
): Promise<{ id: string; dim: number }> {
  const manifest = await loadManifest();
  const entry = options.embedder ? modelEntry(manifest, options.embedder) : defaultModel(manifest, 'embedder');
  const dim = entry.output[0]?.shape.at(-1);
  if (entry.role !== 'embedder' || typeof dim !== 'number')
    throw new Error(`${entry.name} is not an embedder with a fixed output dimension`);
  return { id: modelId(entry), dim };
}

export async function openVision(options: VisionOptions = {}): Promise<Vision> {
  const manifest = await loadManifest();
  const modelsDir = options.modelsDir ?? defaultModelsDir(readEnvironment());
  const detectorEntry = options.detector ? modelEntry(manifest, options.detector) : defaultModel(manifest, 'detector');
  const embedderEntry = options.embedder ? modelEntry(manifest, options.embedder) : defaultModel(manifest, 'embedder');
  if (detectorEntry.role !== 'detector')
    throw new Error(`Expected a detector model but ${detectorEntry.name} is a ${detectorEntry.role}`);
  if (embedderEntry.role !== 'embedder')
    throw new Error(`Expected an embedder model but ${embedderEntry.name} is a ${embedderEntry.role}`);

  const cameraName = options.cameraDetector ?? manifest.default.cameraDetector ?? detectorEntry.name;
  const cameraEntry = modelEntry(manifest, cameraName);
  if (cameraEntry.role !== 'detector')
    throw new Error(`Expected a detector model for camera frames but ${cameraEntry.name} is a ${cameraEntry.role}`);

  const det = await session(detectorEntry, 'detector', modelsDir, options, { height: 640, width: 640 });
  const emb = await session(embedderEntry, 'embedder', modelsDir, options);
  const detector = new YuNetDetector(det.session, det.info.modelId);
  // The camera detector is warmed at a 16:9 camera's default size; another size plans on its first frame.
  const cam =
    cameraEntry.name === detectorEntry.name
      ? { detector, info: det.info }
      : await session(cameraEntry, 'detector', modelsDir, options, { height: 256, width: 416 }).then((s) => ({
          detector: new YuNetDetector(s.session, s.info.modelId),
          info: s.info,
        }));
  const embedder = new FaceEmbedder(emb.session, emb.info.modelId, embedderEntry.input.normalisation);
  options.logger?.info(
    { detector: det.info, embedder: { ...emb.info, dim: embedder.dim } },
    `vision ready: detection on ${det.info.provider}, embedding on ${emb.info.provider}`,
  );
  return {
    analyzer: new FaceAnalyzer(detector, embedder, options.quality ?? DEFAULT_QUALITY_THRESHOLDS),
    detector: det.info,
    embedder: { ...emb.info, dim: embedder.dim },
    camera: cam,
  };
}

export type { FaceAnalysis } from './face-analyzer.js';
export { decodeImage, encodePng, ImageDecodeError } from './image-input.js';
export type { AlignedFace, DetectedFace, Embedding, QualityVerdict, RgbImage } from './types.js';
