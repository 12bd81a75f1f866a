// The running appliance: vision, storage (and the sweep of images crashes left), the user
// directory, the unknown-face grouping, the pipeline with one RTSP source per configured camera, and the periodic jobs (retention purge,
// index verification, heartbeat via the pipeline). stop() shuts down in order: cameras, the frames in hand and open tracks,
// then the stores (queued index saves finish, the spool file is closed, the data-root lock freed).
import os from 'node:os';

import type { FastifyInstance } from 'fastify';

import { openStorage, type Storage, sweepLeftoverImages } from '../../storage/index.js';
import { dataPaths } from '../../storage/config.js';
import type { ApiDeps } from '../api/api-deps.js';
import { buildApi } from '../api/server.js';
import { DEFAULT_BODY_LIMIT_BYTES } from '../api/upload.js';
import { registerConsole } from '../console/index.js';
import { loadOrCreateToken } from '../api/token.js';
import type { Logger } from '../../storage/logger.js';
import { RtspSource } from '../camera/rtsp-source.js';
import {
  type AppConfig,
  configWarnings,
  decisionThresholdsOf,
  storageConfigOf,
  visionOptionsOf,
} from '../config/config.js';
import { createOutputs } from '../outputs/index.js';
import { Outputs } from '../outputs/outputs.js';
import { Pipeline } from '../pipeline/pipeline.js';
import { DEFAULT_LEARNING_POLICY } from '../recognition/auto-learning.js';
import { readSiteThreshold, siteThresholdWarnings } from '../recognition/site-threshold.js';
import { UserDirectory } from '../recognition/user-directory.js';
import { UnknownFaceGrouping } from '../unknown-faces/grouping.js';
import { purgeUnknownFaces } from '../unknown-faces/retention.js';
import { cameraDetectorSize } from '../vision/detector.js';
import { openVision, type Vision } from '../vision/index.js';

export interface RunningService {
  storage: Storage;
  vision: Vision;
  pipeline: Pipeline;
  api: FastifyInstance;
  /** Where the API listens, e.g. http://127.0.0.1:8450. */
  apiUrl: string;
  stop(): Promise<void>;
}

const HOUR_MS = 3_600_000;

export async function startService(config: AppConfig, logger: Logger): Promise<RunningService> {
  // Accepted by an explicit override (recognition.allowUnsafeThresholds): said at every start.
  for (const warning of configWarnings(config)) logger.warn(warning);
  const vision = await openVision({ ...visionOptionsOf(config), logger });
  // Checked before any store opens: a size the camera detector cannot take is a configuration error.
  const sized = config.cameras.filter((c) => c.enabled && c.detectorSize !== undefined);
  if (sized.length > 0 && !vision.camera.detector.sizeIsFree) {
    throw new Error(
      `Expected a camera detector whose input size is free for cameras[].detectorSize (${sized.map((c) => c.id).join(', ')}) but inference.cameraDetector ${vision.camera.info.name} has a fixed input`,
    );
  }
  const storage = await openStorage(storageConfigOf(config), {
    embeddingModel: { id: vision.embedder.modelId, dim: vision.embedder.dim },
    logger,
  });
  // Face images a crash left (an enrollment or deletion cut short) go before the API and the
  // pipeline can write images: nothing is in progress yet to be mistaken for a leftover.
  await sweepLeftoverImages(storage.db, storage.images, logger).catch((error: unknown) =>
    logger.error({ err: error }, 'image sweep failed; retried at the next start'),
  );
  const users = new UserDirectory(storage.db, storage.embeddings.modelId);
  const refreshUsers = () =>
    users
      .refresh()
      .catch((error: unknown) => logger.warn({ err: error }, 'users: refresh failed; keeping the last known'));
  await refreshUsers();
  storage.db.onAvailable(() => void refreshUsers());
  // Another appliance on the same database enrolled, disabled or deleted someone (issue 18): the
  // change feed has applied it to the index; the directory learns it at once, not at its next turn.
  storage.changes.onUsersChanged(() => void refreshUsers());

  // The site's match threshold: configured, calibrated for this model, or the default (one rule:
  // src/recognition/site-threshold.ts). Started without the database, the calibration is read
  // when it returns and set on this same object, which the pipeline and the API decide with.
  let site = await readSiteThreshold(config.recognition.match, storage.db, vision.embedder.modelId);
  const thresholds = decisionThresholdsOf(config, site);
  logger.info({ match: site.match, source: site.source }, 'match threshold');
  for (const warning of siteThresholdWarnings(site, users.activeCount)) logger.warn(warning);
  storage.db.onAvailable(() => {
    if (site.unreadable === null) return;
    void readSiteThreshold(config.recognition.match, storage.db, vision.embedder.modelId)
      .then((read) => {
        site = read;
        thresholds.match = read.match;
        logger.info({ match: read.match, source: read.source }, 'match threshold read now that the database is back');
      })
      .catch((error: unknown) =>
        logger.warn({ err: error }, 'match threshold: calibration not read; keeping the current threshold'),
      );
  });

  // Unknown faces kept for review, grouped by the match threshold (src/unknown-faces/grouping.ts):
  // read from the same object the decisions use, so a calibration read later applies to both.
  const grouping = new UnknownFaceGrouping(storage, () => thresholds.match, logger);
  const reloadGroups = () =>
    grouping
      .reload()
      .catch((error: unknown) =>
        logger.warn({ err: error }, 'unknown faces: open groups not loaded; retried when the database returns'),
      );
  await reloadGroups();
  storage.db.onAvailable(() => void reloadGroups());

  // The outputs (issue 17): their outboxes are under the data root this process now holds; what an
  // earlier run left in them is delivered first. Opened before the pipeline, closed after it.
  let outputs: Outputs;
  try {
    outputs = await Outputs.open(
      createOutputs(
        config.outputs,
        config.cameras.filter((c) => c.enabled).map((c) => c.id),
        logger,
      ),
      { dir: dataPaths(config.dataDir).outbox, maxMessages: config.outputs.maxMessages, logger },
    );
  } catch (error) {
    await storage.close();
    throw error;
  }
  // Crop URLs name the API as receivers reach it: outputs.publicUrl, else the address it listens on.
  const outputDeps = { sink: outputs, publicUrl: config.outputs.publicUrl };

  const r = config.recognition;
  const learning = { ...DEFAULT_LEARNING_POLICY, enabled: r.autoLearning };
  const pipeline = new Pipeline(
    {
      analyzer: vision.analyzer,
      detector: vision.camera.detector,
      storage,
      users,
      grouping,
      logger,
      access: config.access,
      outputs: outputs.any ? outputDeps : undefined,
    },
    {
      thresholds,
      unknownAfterFrames: r.unknownAfterFrames,
      learning,
      motion: config.pipeline.motion,
      follow: config.pipeline.follow,
      parallelStages: config.pipeline.parallelStages,
    },
  );
  const sources = config.cameras
    .filter((c) => c.enabled)
    .map(
      (c) =>
        new RtspSource(
          {
            cameraId: c.id,
            url: c.url,
            fps: c.fps,
            width: c.width,
            height: c.height,
            watchdogMs: c.watchdogSeconds * 1000,
            logger,
          },
          pipeline.addCamera(c.id, {
            ...(c.motion !== undefined ? { motion: c.motion } : {}),
            // A detector with a fixed input (inference.cameraDetector naming one) takes frames as
            // they come (a detectorSize written for it was refused above).
            ...(vision.camera.detector.sizeIsFree
              ? { detectorSize: c.detectorSize ?? cameraDetectorSize(c.width, c.height) }
              : {}),
          }),
        ),
    );
  // The HTTP API: the way tools reach a running appliance (the data-root lock keeps the CLI out).
  // It listens before the cameras start: a taken port or a damaged token file fails the start
  // with nothing running yet, and the stores are closed again.
  let api: FastifyInstance;
  let apiUrl: string;
  try {
    const apiDeps: ApiDeps = {
      storage,
      analyzer: vision.analyzer,
      users,
      grouping,
      thresholds,
      siteThreshold: () => site,
      learning,
      logger,
      pipelineStats: () => pipeline.stats(),
      cameraStats: () => sources.map((s) => s.stats()),
      outputStats: () => outputs.stats(),
      inference: { detector: vision.detector, embedder: vision.embedder },
    };
    const token = await loadOrCreateToken(config.dataDir);
    api = buildApi(apiDeps, {
      token,
      dataRoot: config.dataDir,
      // The operator console (src/console/) on the same host and port, signed in with the same token.
      extend: (app) =>
        registerConsole(
          app,
          { ...apiDeps, token, snapshot: (cameraId) => pipeline.snapshot(cameraId) },
          { bodyLimit: DEFAULT_BODY_LIMIT_BYTES, dataRoot: config.dataDir },
        ),
    });
    apiUrl = await api.listen({ host: config.api.host, port: config.api.port });
  } catch (error) {
    await outputs.close();
    await storage.close();
    throw error;
  }
  // An API listening on every interface reports 127.0.0.1 or [::], which no receiver elsewhere can
  // reach: the machine's name is the better guess (outputs.publicUrl says it exactly).
  outputDeps.publicUrl ??= ['0.0.0.0', '::'].includes(config.api.host)
    ? `http://${os.hostname()}:${new URL(apiUrl).port}`
    : apiUrl;
  pipeline.start(sources);

  // Periodic jobs. Each logs its own failure and runs again at its next turn.
  const retention = async () => {
    const purged = await purgeUnknownFaces({ storage, grouping }, config.retention.unknownDays);
    if (purged.removedDates.length || purged.removedFaces || purged.removedGroups.length) {
      logger.info({ ...purged, removedGroups: purged.removedGroups.length }, 'retention: unknown faces purged');
    }
  };
  const timers = [
    setInterval(
      () => void retention().catch((error: unknown) => logger.error({ err: error }, 'retention failed')),
      6 * HOUR_MS,
    ),
    setInterval(() => void refreshUsers(), 30_000),
    setInterval(
      () =>
        void storage.embeddings
          .verify()
          .catch((error: unknown) => logger.error({ err: error }, 'index verification failed')),
      HOUR_MS,
    ),
  ];
  await retention().catch((error: unknown) => logger.error({ err: error }, 'retention failed'));
  logger.info(
    {
      // The id storage stamps on this appliance's events (configured once: storageConfigOf passes it to openStorage).
      appliance: storage.db.applianceId,
      cameras: sources.map((s) => s.cameraId),
      dataDir: config.dataDir,
      users: users.size,
      api: apiUrl,
    },
    'facegate running',
  );

  let stopping: Promise<void> | null = null;
  return {
    storage,
    vision,
    pipeline,
    api,
    apiUrl,
    stop() {
      stopping ??= (async () => {
        for (const t of timers) clearInterval(t);
        try {
          await api.close().catch((error: unknown) => logger.error({ err: error }, 'stopping the API failed'));
          await pipeline.stop();
          // The pipeline's last messages are journaled; what is undelivered waits in the outboxes.
          await outputs.close().catch((error: unknown) => logger.error({ err: error }, 'stopping the outputs failed'));
        } finally {
          // Whatever failed above, the stores close: the spool file, queued index saves, the lock.
          await storage.close();
        }
        logger.info(pipeline.stats().decisions, 'facegate stopped');
      })();
      return stopping;
    },
  };
}
