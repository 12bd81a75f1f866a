// The live recognition pipeline: camera frames -> detect, quality, align, embed (vision) ->
// search -> track -> decide -> one recognition event per face track, the best crop of each
// unknown track kept for review (grouped with earlier sightings, src/unknown-faces/), health
// kept. Work per frame is cut where nothing can change: a motion gate per camera lets only frames
// that changed reach the detector (motion-gate.ts), and a track that has its decision is followed
// on the detector's boxes without embedding its face again (follow.ts). Two stages run side by
// side, each one frame at a time: detection (motion gate, detector) and decision (align, quality,
// embed, search, track, events), so one frame's waits (the detector's resize on libuv's threads,
// event writes, crops) overlap another frame's work. The models themselves do not run at the same
// time: onnxruntime-node runs a session synchronously on the JavaScript thread (its run() is a
// setImmediate around the native call), so the next step for the second core is the detector in a
// worker thread. Each camera has at most one frame in the stages and one waiting (newer frames
// replace it: back-pressure drops frames, never grows memory).
import type { Storage } from '../../storage/index.js';
import type { EventAccess, EventWrite } from '../../storage/db/db-store.js';
import { type AccessRules, accessVerdict } from '../access/rules.js';
import { type MessageSink, type OutputMessage, recognitionMessage, unknownFaceCropPath } from '../outputs/message.js';
import type { Logger } from '../../storage/logger.js';
import type { CameraCallbacks, CameraSource, CameraStatusChange, Frame } from '../camera/camera-source.js';
import {
  DEFAULT_DECISION_THRESHOLDS,
  DEFAULT_UNKNOWN_AFTER_FRAMES,
  type DecisionThresholds,
  decideTrack,
  type FaceDecision,
} from '../recognition/decision.js';
import { considerLearning, DEFAULT_LEARNING_POLICY, type LearningPolicy } from '../recognition/auto-learning.js';
import { decideAnalysis } from '../recognition/identify.js';
import { cosine } from '../recognition/similarity.js';
import { SerialQueue } from '../../core/serial-queue.js';
import { FaceTracker, type Track, type TrackerOptions } from '../recognition/tracker.js';
import type { UserDirectory } from '../recognition/user-directory.js';
import type { UnknownFaceGrouping } from '../unknown-faces/grouping.js';
import type { FaceAnalysis, FaceAnalyzer } from '../vision/face-analyzer.js';
import { pictureArea } from '../vision/align.js';
import { encodePng } from '../vision/image-input.js';
import type { DetectOptions, FaceDetector } from '../vision/detector.js';
import type { DetectedFace } from '../vision/types.js';
import { renderView } from './snapshot.js';
import { followedDetections, type FollowOptions, followOptions } from './follow.js';
import { mergeMotionGate, MotionGate, type MotionGateOptions, motionGateOptions } from './motion-gate.js';

export interface PipelineOptions {
  thresholds?: DecisionThresholds;
  tracker?: Omit<TrackerOptions<Observed>, 'cameraId' | 'sameFace' | 'confirmsFace'>;
  /** An unknown track is decided after this many decided frames (or when it ends). Default: decision.ts. */
  unknownAfterFrames?: number;
  workerId?: string;
  heartbeatMs?: number;
  /** Off unless asked (see recognition/auto-learning.ts). */
  learning?: LearningPolicy;
  /** Every camera's motion gate (motion-gate.ts; a camera may have its own); false: every frame is detected. */
  motion?: MotionGateOptions | false;
  /** Decided tracks followed without embedding (follow.ts); false: every face is embedded. */
  follow?: FollowOptions | false;
  /**
   * Detection and decision side by side (default true; what overlaps: see the header); false: one
   * frame at a time through both, as before the stages were split (`bench pipeline`'s baseline).
   */
  parallelStages?: boolean;
}

/** What a camera may set for itself (the config's cameras[].motion). */
export interface CameraPipelineOptions {
  /** The camera's own motion gate, over the pipeline's; false: every frame of this camera is detected. */
  motion?: MotionGateOptions | false | undefined;
  /**
   * The detector's input size for this camera's frames (a multiple of 32; vision/detector.ts
   * cameraDetectorSize says what a frame size needs); needs a detector whose size is free.
   * Default: the detector's own.
   */
  detectorSize?: number;
}

export interface PipelineDeps {
  analyzer: FaceAnalyzer;
  /** The detector for camera frames (Vision.camera.detector); default the analyzer's. */
  detector?: FaceDetector;
  storage: Storage;
  users: UserDirectory;
  /** Where unknown tracks' best faces are kept and grouped for review. */
  grouping: UnknownFaceGrouping;
  /** The doors' access rules (config `access`); absent: no access control, events carry no verdict. */
  access?: AccessRules | undefined;
  /**
   * Where each decision and camera status change is published (src/outputs/, the dispatcher);
   * absent: nowhere. `publicUrl` makes an unknown face's crop URL (absent: the messages carry none).
   */
  outputs?: { sink: MessageSink; publicUrl?: string | undefined } | undefined;
  logger: Logger;
}

interface Observed {
  face: DetectedFace;
  /** null when the face was only followed (a decided track's face, not examined again). */
  analysis: FaceAnalysis | null;
  decision: FaceDecision | null;
  frame: { receivedAt: Date; receivedMs: number };
}

interface CameraState {
  tracker: FaceTracker<Observed>;
  /** The ids of the tracks whose event is written (one event per track). */
  decided: Set<string>;
  /** null: every frame is detected. */
  gate: MotionGate | null;
  /** When each live track's face was last embedded (the frames' clock). */
  lastEmbeddedMs: Map<string, number>;
  detect: DetectOptions;
  /** The latest frame and the tracked faces in it, for snapshot(). */
  view: { frame: Frame; boxes: { box: [number, number, number, number]; trackId: string }[] } | null;
  /** What each decided track was decided as (a name, or "unknown"), for the snapshot's labels. */
  labels: Map<string, { text: string; known: boolean }>;
}

/** A frame after the detection stage: its faces, or null when the gate skipped the detector. */
interface Detected {
  frame: Frame;
  faces: DetectedFace[] | null;
}

export interface PipelineStats {
  frames: number;
  faces: number;
  decisions: { known: number; unknown: number };
  /** Frames waiting for the worker now (at most one per camera). */
  queued: number;
  /** Milliseconds from the frame that settled a track's decision to its event being written. */
  decisionLatencyMs: number[];
  /** Milliseconds from a track's first frame to its event. */
  trackLatencyMs: number[];
  /** Frames the detector looked at (the rest were skipped by the motion gate). */
  framesDetected: number;
  /** Faces aligned, judged and (when the gate accepted them) embedded. */
  facesExamined: number;
  /** Faces embedded. */
  facesEmbedded: number;
  /** Faces of decided tracks followed on their box alone. */
  facesFollowed: number;
  /**
   * Where the stages' time went, in total milliseconds: gate and detect in the detection stage,
   * the rest in the decision stage (the two stages overlap in time).
   */
  busyMs: { gate: number; detect: number; examine: number; search: number; events: number };
}

const LATENCY_SAMPLES = 2_000;
/** Frames an undecided track forces a detection for (5 s at 5 fps: a decision takes 3-5 usable frames). */
const MAX_FORCED_FRAMES = 25;
/** Unknown faces waiting to be kept: a few seconds of strangers, while a review holds the grouping. */
const MAX_PENDING_KEEPS = 32;

export class Pipeline {
  private readonly cameras = new Map<string, CameraState>();
  private readonly lastCameraState = new Map<string, 'online' | 'offline'>();
  private readonly sources: CameraSource[] = [];
  private readonly thresholds: Readonly<DecisionThresholds>;
  private readonly unknownAfterFrames: number;
  private readonly workerId: string;
  /** The detection stage: frames of every camera, in turn. */
  private readonly detectStage = new SerialQueue();
  /** The decision stage: frames after their detection, in the same order, and the stop. */
  private readonly decideStage = new SerialQueue();
  /** Frames in either stage, for stop() to wait on. */
  private readonly inFlight = new Set<Promise<void>>();
  private readonly motion: MotionGateOptions | false;
  private readonly follow: ReturnType<typeof followOptions> | null;
  private readonly detector: FaceDetector;
  private heartbeat: NodeJS.Timeout | null = null;
  private readonly runId = Date.now().toString(36);
  /** Unknown faces being kept for review (beside the worker). */
  private readonly keeping = new Set<Promise<{ groupId: bigint; faceId: bigint } | null>>();
  /** Messages on their way to the outputs' outboxes (beside the worker). */
  private readonly sending = new Set<Promise<void>>();
  private readonly counters: PipelineStats = {
    frames: 0,
    faces: 0,
    decisions: { known: 0, unknown: 0 },
    queued: 0,
    decisionLatencyMs: [],
    trackLatencyMs: [],
    framesDetected: 0,
    facesExamined: 0,
    facesEmbedded: 0,
    facesFollowed: 0,
    busyMs: { gate: 0, detect: 0, examine: 0, search: 0, events: 0 },
  };

  constructor(
    private readonly deps: PipelineDeps,
    private readonly options: PipelineOptions = {},
  ) {
    this.thresholds = options.thresholds ?? DEFAULT_DECISION_THRESHOLDS;
    this.unknownAfterFrames = options.unknownAfterFrames ?? DEFAULT_UNKNOWN_AFTER_FRAMES;
    this.workerId = options.workerId ?? 'pipeline-1';
    this.motion = options.motion === false ? false : motionGateOptions(options.motion);
    this.follow = options.follow === false ? null : followOptions(options.follow);
    this.detector = deps.detector ?? deps.analyzer.detector;
  }

  /** Adds a camera (its own face tracker and motion gate) and returns the callbacks its source reports to. */
  addCamera(cameraId: string, camera: CameraPipelineOptions = {}): CameraCallbacks {
    const motion = mergeMotionGate(this.motion, camera.motion);
    if (camera.detectorSize !== undefined && !this.detector.sizeIsFree) {
      throw new RangeError(
        `Expected a detector whose input size is free for camera ${cameraId}'s detectorSize ${camera.detectorSize} but ${this.detector.modelId} has a fixed input`,
      );
    }
    this.cameras.set(cameraId, {
      tracker: new FaceTracker<Observed>({
        ...this.options.tracker,
        cameraId,
        runId: this.runId,
        sameFace,
        confirmsFace,
      }),
      decided: new Set(),
      gate: motion === false ? null : new MotionGate(motion),
      lastEmbeddedMs: new Map(),
      detect: camera.detectorSize === undefined ? {} : { size: camera.detectorSize },
      view: null,
      labels: new Map(),
    });
    return { onFrame: (frame) => this.enqueue(frame), onStatus: (change) => this.onStatus(change) };
  }

  /** Starts the sources (each made with the callbacks of addCamera) and the worker heartbeat. */
  start(sources: CameraSource[]): void {
    this.sources.push(...sources);
    for (const s of sources) s.start();
    const beat = () => {
      void this.deps.storage.cache.workerHeartbeat(this.workerId).catch(() => undefined);
    };
    beat();
    this.heartbeat = setInterval(beat, this.options.heartbeatMs ?? 5_000);
    this.heartbeat.unref();
  }

  /** Stops the cameras, finishes the frames in hand, and decides every open track. */
  async stop(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    await Promise.all(this.sources.map((s) => s.stop()));
    await Promise.all(this.inFlight);
    await this.decideStage.run(async () => {
      for (const [cameraId, state] of this.cameras) {
        for (const track of state.tracker.endAll()) {
          // One track that cannot be written (its event still goes to the spool if the
          // database is down) must not cost the others theirs.
          await this.finish(cameraId, state, track).catch((error: unknown) => {
            this.deps.logger.error(
              { err: error, camera: cameraId, track: track.id },
              'pipeline: open track lost at stop',
            );
          });
        }
      }
    });
    // The stores close after this: the unknown faces on their way are kept first, and their
    // messages (which wait for the crops) handed to the outputs.
    await Promise.all(this.keeping);
    await Promise.all(this.sending);
  }

  stats(): PipelineStats {
    return {
      ...this.counters,
      decisions: { ...this.counters.decisions },
      decisionLatencyMs: [...this.counters.decisionLatencyMs],
      trackLatencyMs: [...this.counters.trackLatencyMs],
      busyMs: { ...this.counters.busyMs },
    };
  }

  /** A camera's latest frame as JPEG with its tracked faces boxed and named (null: no frame yet, or no such camera). */
  async snapshot(cameraId: string): Promise<Buffer | null> {
    const state = this.cameras.get(cameraId);
    const view = state?.view;
    if (!state || !view) return null;
    const faces = view.boxes.map(({ box, trackId }) => {
      const label = state.labels.get(trackId);
      return { box, label: label?.text ?? null, known: label?.known ?? false };
    });
    return renderView({ image: view.frame.image, at: view.frame.receivedAt, faces });
  }

  /** Processes one frame: its detection in turn with every other camera's, then its decision. */
  enqueue(frame: Frame): Promise<void> {
    this.counters.queued++;
    void this.deps.storage.cache.setQueueSize(this.counters.queued).catch(() => undefined);
    const staged =
      this.options.parallelStages === false
        ? this.detectStage.run(async () => this.decide(await this.detect(frame)))
        : this.detectStage
            .run(() => this.detect(frame))
            .then((detected) => this.decideStage.run(() => this.decide(detected)));
    const work = staged
      .catch((error: unknown) => {
        // A frame that cannot be processed is lost, the pipeline is not.
        this.deps.logger.error({ err: error, camera: frame.cameraId }, 'pipeline: frame failed');
      })
      .finally(() => {
        this.counters.queued--;
        this.inFlight.delete(work);
        void this.deps.storage.cache.setQueueSize(this.counters.queued).catch(() => undefined);
      });
    this.inFlight.add(work);
    return work;
  }

  private state(cameraId: string): CameraState {
    const state = this.cameras.get(cameraId);
    if (!state) throw new Error(`frame from unregistered camera ${cameraId}`);
    return state;
  }

  /** The detection stage: the motion gate, then the detector when the frame changed (or must be looked at). */
  private async detect(frame: Frame): Promise<Detected> {
    const state = this.state(frame.cameraId);
    void this.deps.storage.cache.cameraSeen(frame.cameraId, frame.receivedAt).catch(() => undefined);
    this.counters.frames++;
    const t0 = performance.now();
    if (state.gate) {
      // A track still collecting its votes is looked at every frame, moving or not, for its first
      // MAX_FORCED_FRAMES: a face the quality gate never accepts (a poster, a profile at a desk)
      // would otherwise keep the gate open all day; the periodic look goes on covering it.
      const waiting = state.tracker.tracks().some((t) => !state.decided.has(t.id) && t.frames < MAX_FORCED_FRAMES);
      const { verdict } = state.gate.check(frame.image, frame.receivedMs, waiting);
      this.counters.busyMs.gate += performance.now() - t0;
      if (verdict === 'still') return { frame, faces: null };
    }
    const t1 = performance.now();
    const faces = await this.detector.detect(frame.image, state.detect);
    this.counters.busyMs.detect += performance.now() - t1;
    this.counters.framesDetected++;
    return { frame, faces };
  }

  /** The decision stage: examine the faces not followed, search, track, decide, write events. */
  private async decide({ frame, faces }: Detected): Promise<void> {
    const state = this.state(frame.cameraId);
    if (faces === null) {
      // Nothing moved: the people in view are where they were.
      state.tracker.keepAlive(frame.receivedMs);
      state.view = { frame, boxes: state.view?.boxes ?? [] };
      return;
    }
    this.counters.faces += faces.length;
    const t0 = performance.now();
    const followed = this.follow
      ? followedDetections(
          state.tracker.tracks().map((t) => ({
            id: t.id,
            lastBox: t.lastBox,
            decided: state.decided.has(t.id),
            lastEmbeddedMs: state.lastEmbeddedMs.get(t.id) ?? -Infinity,
            seenAtLastDetection: state.tracker.seenAtLastDetection(t),
            lastSeenMs: t.lastSeenMs,
          })),
          faces.map((f) => f.box),
          frame.receivedMs,
          this.follow,
          state.tracker.iouThreshold,
        )
      : new Map<number, string>();
    const picture = faces.length > followed.size ? pictureArea(frame.image) : undefined;
    const analyses: (FaceAnalysis | null)[] = [];
    for (const [i, face] of faces.entries()) {
      if (followed.has(i)) {
        analyses.push(null);
        continue;
      }
      const analysis = await this.deps.analyzer.examine(frame.image, face, { picture });
      this.counters.facesExamined++;
      if (analysis.embedding) this.counters.facesEmbedded++;
      analyses.push(analysis);
    }
    this.counters.facesFollowed += followed.size;
    const t1 = performance.now();
    const observed: Observed[] = [];
    for (const [i, face] of faces.entries()) {
      const analysis = analyses[i] ?? null;
      const decision = analysis?.embedding
        ? await decideAnalysis(
            analysis,
            this.deps.storage.embeddings,
            this.deps.users.statusOf,
            this.thresholds,
            this.deps.users.thresholdOf,
          )
        : null;
      observed.push({
        face,
        analysis,
        decision,
        frame: { receivedAt: frame.receivedAt, receivedMs: frame.receivedMs },
      });
    }
    const t2 = performance.now();
    this.counters.busyMs.examine += t1 - t0;
    this.counters.busyMs.search += t2 - t1;
    const update = state.tracker.update(
      frame.receivedMs,
      // A followed face ranks lowest: the observations a track keeps are its examined faces.
      observed.map((o) => ({ box: o.face.box, payload: o, rank: o.analysis?.quality.score ?? 0 })),
    );
    const t3 = performance.now();
    state.view = {
      frame,
      boxes: update.assignments.flatMap(({ trackId, index }) => {
        const face = observed[index]?.face;
        return face ? [{ box: face.box, trackId }] : [];
      }),
    };
    for (const track of update.ended) {
      state.labels.delete(track.id);
      await this.finish(frame.cameraId, state, track);
    }
    const live = new Map(state.tracker.tracks().map((t) => [t.id, t]));
    for (const { trackId, index } of update.assignments) {
      if (observed[index]?.analysis?.embedding) state.lastEmbeddedMs.set(trackId, frame.receivedMs);
      const track = live.get(trackId);
      if (!track || state.decided.has(trackId)) continue;
      const frames = decisions(track);
      const verdict = decideTrack(frames, this.thresholds);
      if (verdict.decision === 'known' || frames.length >= this.unknownAfterFrames) {
        await this.emit(frame.cameraId, state, track, verdict, frame.receivedMs);
      }
    }
    this.counters.busyMs.events += performance.now() - t3;
  }

  // A track that ends undecided gets its decision now, if it ever had a usable frame.
  private async finish(cameraId: string, state: CameraState, track: Readonly<Track<Observed>>): Promise<void> {
    state.lastEmbeddedMs.delete(track.id);
    if (state.decided.delete(track.id)) return;
    const frames = decisions(track);
    if (frames.length === 0) return;
    const last = track.observations.at(-1)?.payload.frame.receivedMs ?? performance.now();
    await this.emit(cameraId, state, track, decideTrack(frames, this.thresholds), last, true);
  }

  private async emit(
    cameraId: string,
    state: CameraState,
    track: Readonly<Track<Observed>>,
    verdict: FaceDecision,
    decidingFrameMs: number,
    ended = false,
  ): Promise<void> {
    if (!ended) state.decided.add(track.id);
    state.labels.set(
      track.id,
      verdict.decision === 'known'
        ? {
            text: (verdict.userId && this.deps.users.nameOf(verdict.userId)) || (verdict.userId ?? 'known'),
            known: true,
          }
        : { text: 'unknown', known: false },
    );
    const { storage, logger } = this.deps;
    // The track's best face with an embedding (a face the quality gate rejected has none).
    const best = [...track.observations].filter((o) => o.payload.analysis?.embedding).sort((a, b) => b.rank - a.rank)[0]
      ?.payload.analysis;
    const at = new Date();
    const access = this.accessOf(cameraId, verdict, at);
    const event = {
      timestamp: at,
      cameraId,
      matchedUserId: verdict.decision === 'known' ? verdict.userId : null,
      confidence: verdict.score,
      trackId: track.id,
      modelId: best?.embedding?.modelId ?? null,
      threshold: this.thresholds.match,
      access,
    };
    const written = await storage.db.recordRecognition(event);
    const now = performance.now();
    push(this.counters.decisionLatencyMs, now - decidingFrameMs);
    push(this.counters.trackLatencyMs, now - track.firstSeenMs);
    this.counters.decisions[verdict.decision]++;
    // An unknown face's message waits for its crop to be kept, so that its crop URL answers.
    const kept =
      verdict.decision === 'unknown' && best?.embedding ? this.keepUnknown(cameraId, written, at, best) : null;
    const userName = event.matchedUserId === null ? null : (this.deps.users.nameOf(event.matchedUserId) ?? null);
    const message = (crop: { groupId: bigint; faceId: bigint } | null) =>
      recognitionMessage(
        { ...event, id: written.id },
        {
          applianceId: storage.db.applianceId,
          userName,
          cropUrl:
            crop && this.deps.outputs?.publicUrl
              ? `${this.deps.outputs.publicUrl}${unknownFaceCropPath(crop.groupId, crop.faceId)}`
              : null,
        },
      );
    if (kept === null) this.publish(message(null));
    else this.track(kept.then((crop) => this.publish(message(crop))));
    const policy = this.options.learning ?? DEFAULT_LEARNING_POLICY;
    if (verdict.decision === 'known' && best && policy.enabled) {
      await considerLearning({ storage, logger, policy }, verdict, best, cameraId).catch((error: unknown) => {
        logger.warn({ err: error, camera: cameraId }, 'auto-learning failed');
      });
    }
    logger.info(
      {
        camera: cameraId,
        track: track.id,
        decision: verdict.decision,
        userId: verdict.userId,
        score: verdict.score,
        reason: verdict.reason,
        ...(access ? { access: access.verdict, accessReason: access.reason } : {}),
      },
      verdict.decision === 'known' ? `recognised ${verdict.userId ?? ''}` : 'unknown face',
    );
  }

  /** The access verdict for a decision, from the users as the directory knows them (null: no access control). */
  private accessOf(cameraId: string, verdict: FaceDecision, at: Date): EventAccess | null {
    const rules = this.deps.access;
    if (!rules) return null;
    const { users } = this.deps;
    const id = verdict.decision === 'known' ? verdict.userId : null;
    // A user the directory no longer knows (deleted since the decision) is never granted.
    const user =
      id === null ? null : { id, status: users.statusOf(id) ?? ('disabled' as const), roles: users.rolesOf(id) ?? [] };
    return accessVerdict(rules, { cameraId, at, user });
  }

  // The crop is kept only linked to its event: while the database is down (the event went to the
  // spool) the face is not kept, and says so. Kept beside the frame worker, not in its way: a
  // review or a retention purge holding the grouping never stalls recognition. At most
  // MAX_PENDING_KEEPS wait; beyond that a face is not kept (logged), so memory stays bounded.
  private keepUnknown(
    cameraId: string,
    written: EventWrite,
    at: Date,
    face: FaceAnalysis,
  ): Promise<{ groupId: bigint; faceId: bigint } | null> {
    const { logger, grouping } = this.deps;
    if (written.stored !== 'database' || !face.embedding) {
      logger.warn(
        { camera: cameraId, event: written.id },
        'pipeline: unknown face not kept for review (database read-only)',
      );
      return Promise.resolve(null);
    }
    if (this.keeping.size >= MAX_PENDING_KEEPS) {
      logger.warn(
        { camera: cameraId, event: written.id, pending: this.keeping.size },
        'pipeline: unknown face not kept for review (too many waiting)',
      );
      return Promise.resolve(null);
    }
    const embedding = face.embedding;
    const keep = encodePng(face.aligned)
      .then((png) =>
        grouping.keep({ eventId: written.id, cameraId, seenAt: at, quality: face.quality.score, embedding, png }),
      )
      .then((kept) => {
        logger.info(
          {
            camera: cameraId,
            event: written.id,
            group: kept.face.groupId.toString(),
            similarity: kept.joinedAt,
            image: kept.face.image,
          },
          kept.joinedAt === null ? 'unknown face: new group' : 'unknown face: joined its group',
        );
        return { groupId: kept.face.groupId, faceId: kept.face.id };
      })
      .catch((error: unknown) => {
        logger.warn(
          { err: error, camera: cameraId, event: written.id },
          'pipeline: could not keep an unknown face for review',
        );
        return null;
      })
      .finally(() => this.keeping.delete(keep));
    this.keeping.add(keep);
    return keep;
  }

  /**
   * Hands a message to the outputs (journaled in their outboxes), beside the frame worker. A
   * message that cannot be journaled (a full disk) is logged; its event is in the event log.
   */
  private publish(message: OutputMessage): void {
    const outputs = this.deps.outputs;
    if (!outputs) return;
    this.track(
      outputs.sink
        .publish(message)
        .catch((error: unknown) =>
          this.deps.logger.error({ err: error, message: message.id }, 'pipeline: message not handed to the outputs'),
        ),
    );
  }

  /** Work beside the frame worker that stop() waits for (the outputs' messages). */
  private track(work: Promise<unknown>): void {
    const done = work.then(() => undefined).finally(() => this.sending.delete(done));
    this.sending.add(done);
  }

  // Only transitions are events: a camera that stays unreachable retries (connecting, offline,
  // connecting, offline ...) but is written down as disconnected once.
  private onStatus(change: CameraStatusChange): void {
    const { storage, logger } = this.deps;
    logger.info({ camera: change.cameraId, state: change.state, reason: change.reason }, 'camera');
    if (change.state === 'connecting' || this.lastCameraState.get(change.cameraId) === change.state) return;
    this.lastCameraState.set(change.cameraId, change.state);
    void storage.cache.setCameraStatus(change.cameraId, change.state).catch(() => undefined);
    const state = change.state;
    const recorded = storage.db
      .recordCameraEvent({
        timestamp: change.at,
        cameraId: change.cameraId,
        eventType: state === 'online' ? 'connected' : 'disconnected',
        details: { reason: change.reason },
      })
      .then((written) =>
        this.publish({
          type: 'status',
          id: written.id,
          applianceId: storage.db.applianceId,
          timestamp: change.at.toISOString(),
          cameraId: change.cameraId,
          state,
          reason: state === 'online' ? null : change.reason,
        }),
      )
      .catch((error: unknown) =>
        logger.error({ err: error, camera: change.cameraId }, 'pipeline: camera event not recorded'),
      );
    this.track(recorded);
  }
}

/**
 * Cosine below which two embeddings are taken for two people: between the highest
 * different-person score measured (0.15-0.19) and the lowest same-person one (0.53), so a face
 * that turns or blurs a little keeps its track but someone else stepping into the spot does not.
 */
const SAME_FACE_MIN_COSINE = 0.35;

/**
 * Cosine at or above which two embeddings confirm one face, so the tracker may pair boxes further
 * apart (tracker.ts maxConfirmedShift): above every different-person score measured on the
 * labelled sets (lfw10's highest 0.340, bbt's 0.240: README, Evaluation) with room to spare, and
 * below most same-person scores (lfw10's median 0.691).
 */
const CONFIRMED_FACE_MIN_COSINE = 0.5;

/** The detection's embedding and the track's latest one, when both exist: their cosine. */
function appearance(track: Readonly<Track<Observed>>, detection: { payload: Observed }): number | null {
  const next = detection.payload.analysis?.embedding?.vector;
  const last = [...track.observations].reverse().find((o) => o.payload.analysis?.embedding)?.payload.analysis
    ?.embedding?.vector;
  return next && last ? cosine(next, last) : null;
}

/** The tracker's appearance gate: the detection's embedding must agree with the track's latest one. */
function sameFace(track: Readonly<Track<Observed>>, detection: { payload: Observed }): boolean {
  const c = appearance(track, detection);
  return c === null || c >= SAME_FACE_MIN_COSINE;
}

/** Appearance that confirms the pair (not only fails to refuse it). */
function confirmsFace(track: Readonly<Track<Observed>>, detection: { payload: Observed }): boolean {
  const c = appearance(track, detection);
  return c !== null && c >= CONFIRMED_FACE_MIN_COSINE;
}

function decisions(track: Readonly<Track<Observed>>): FaceDecision[] {
  return track.observations.flatMap((o) => (o.payload.decision ? [o.payload.decision] : []));
}

function push(list: number[], value: number): void {
  list.push(value);
  if (list.length > LATENCY_SAMPLES) list.shift();
}
