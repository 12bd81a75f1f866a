// Face tracks for one camera: the same face over consecutive frames, so that the pipeline makes
// one decision (and writes one event) per person passing, from the votes of all their frames,
// instead of one per frame. Pure: no I/O, no timers; time comes in with each frame (atMs).
//
// Association, per frame:
// 1. Tracks not seen for more than maxMissedMs are ended first, so a stale track can never take
//    the face of someone who steps into the same spot later (that would mix two people's votes).
// 2. Every (track, detection) pair is scored against the track's LAST box (no motion model):
//    - IoU >= iouThreshold: an IoU pair;
//    - otherwise the centre fallback, for fast motion at low fps: the centres are at most
//      maxCentreShift (0.5) x the boxes' size apart, size = the mean of the two boxes'
//      sqrt(w*h), AND the sizes differ by at most maxSizeRatio (1.5). Why it is needed: at 5 fps
//      a face walking across the frame can move a third to a half of its width per frame (an
//      estimate, not a measurement on site footage); a diagonal move of 0.35 x size on both
//      axes leaves an IoU of only 0.27, under the threshold while plainly the same face. Two faces side by side have centres about one face width
//      apart or more, so 0.5 does not reach the neighbour; the size check keeps a near face
//      and a far one (one behind the other) apart.
// 3. Greedy: all IoU pairs by IoU, highest first, then the fallback pairs by centre distance,
//    nearest first; a pair is taken when neither its track nor its detection is taken yet.
//    A fallback pair never beats an IoU pair, so a neighbour's overlapping box wins over a
//    distant guess.
//    When the faces' appearance confirms the pair (confirmsFace: both embeddings present and
//    agreeing), the centre fallback reaches further, to maxConfirmedShift (1.5): a person crossing
//    a corridor camera at 5 fps moves 0.5-1 face widths per frame (`bench pipeline`'s corridor
//    scene: 2.6-3.4 s to cross 1280 px with 105-175 px boxes), and without it each crossing broke
//    into several tracks, each decided and written on its own. Geometry alone stays at 0.5, since
//    a neighbour is about one face width away; appearance is the evidence that it is not the neighbour.
// 4. Detections left over start new tracks, best rank first. At maxTracks the track seen least
//    recently (and not in this frame) is ended early and returned in `ended`, so its votes
//    still get their decision; when every track was seen in this frame (more faces than
//    maxTracks), the extra detections get no track (no assignment): an untracked face is never
//    named, the safe side of the customer's "false negatives over false positives".
// Observations per track are capped at maxObservations: beyond it the lowest-rank one goes, so
// memory stays bounded however long someone stands in front of the camera.
import { describeTyped, isPositiveNumber } from '../../storage/checks.js';

export type Box = [x: number, y: number, width: number, height: number];

export interface TrackerOptions<T = unknown> {
  /** Part of every track id: letters, digits, '-' and '_' only (ids end up in file names). */
  cameraId: string;
  /**
   * Part of every track id after the camera id, same characters: the sequence restarts at 1 with
   * every tracker, so give something that differs per run (the service's start time in base 36)
   * when ids must stay unique across restarts (an unknown face's crop is kept for days).
   */
  runId?: string;
  /** Minimum IoU with a track's last box to continue it; default 0.3. */
  iouThreshold?: number;
  /** A track ends when not seen for longer than this; default 1500 ms (7 frames at 5 fps). */
  maxMissedMs?: number;
  /** Observations kept per track (the best by rank); default 30 (6 s at 5 fps). */
  maxObservations?: number;
  /** Live tracks per camera; default 32. */
  maxTracks?: number;
  /** Centre fallback: maximum centre distance as a share of the boxes' size; default 0.5, 0 turns the fallback off. */
  maxCentreShift?: number;
  /** Centre fallback: maximum ratio of the larger box size to the smaller; default 1.5. */
  maxSizeRatio?: number;
  /**
   * Appearance gate: a track and a detection are only paired when this says they can be the same
   * face (e.g. their embeddings agree). Geometry alone would hand a track on to a different
   * person who steps into the same spot. Default: any.
   */
  sameFace?: (track: Readonly<Track<T>>, detection: Detection<T>) => boolean;
  /**
   * Whether appearance positively confirms the pair (not merely fails to refuse it): then the
   * centre fallback reaches maxConfirmedShift. Default: never.
   */
  confirmsFace?: (track: Readonly<Track<T>>, detection: Detection<T>) => boolean;
  /** Centre fallback for a confirmed pair: maximum centre distance as a share of the boxes' size; default 1.5. */
  maxConfirmedShift?: number;
}

export interface Detection<T> {
  box: Box;
  payload: T;
  /** Higher is better (for example the quality score): decides which observations are kept. */
  rank: number;
}

export interface Observation<T> {
  atMs: number;
  payload: T;
  rank: number;
}

export interface Track<T> {
  /** `${cameraId}-${runId}-${sequence}` (`${cameraId}-${sequence}` without a runId): unique, path-safe. */
  id: string;
  firstSeenMs: number;
  lastSeenMs: number;
  /** The box of the last frame the track was seen in. */
  lastBox: Box;
  /** Frames the track was seen in, including those whose observation was dropped by the cap. */
  frames: number;
  /** The best maxObservations observations by rank, in time order. */
  observations: Observation<T>[];
}

export interface TrackUpdate<T> {
  /** One per tracked detection; a detection absent here got no track (maxTracks reached). */
  assignments: { trackId: string; index: number }[];
  /** Tracks that ended in this update (missed for too long, or evicted at maxTracks), oldest first. */
  ended: Track<T>[];
}

/** Ids become file-name parts: no NTFS-illegal character, no separator, bounded length. */
const ID_PART = /^[A-Za-z0-9_-]{1,64}$/;

function positive(name: string, value: number | undefined, fallback: number, integer = false): number {
  if (value === undefined) return fallback;
  if (!isPositiveNumber(value) || (integer && !Number.isInteger(value))) {
    throw new TypeError(
      `Expected positive ${integer ? 'integer' : 'number'} for ${name} but received ${describeTyped(value)}`,
    );
  }
  return value;
}

function idPart(name: string, value: unknown): string {
  if (typeof value !== 'string' || !ID_PART.test(value)) {
    throw new TypeError(`Expected 1-64 letters, digits, '-' or '_' for ${name} but received ${describeTyped(value)}`);
  }
  return value;
}

/** Intersection over union of two [x, y, w, h] boxes; 0 when they do not overlap. */
export function iou(a: Readonly<Box>, b: Readonly<Box>): number {
  const w = Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / (a[2] * a[3] + b[2] * b[3] - inter);
}

interface LiveTrack<T> extends Track<T> {
  /** Creation order, for deterministic ties. */
  seq: number;
}

interface Pair {
  track: number;
  detection: number;
  /** 0 for an IoU pair, 1 for a centre-fallback pair: IoU pairs always go first. */
  kind: 0 | 1;
  /** IoU pairs: -IoU; fallback pairs: the normalised centre distance. Lower is better. */
  cost: number;
}

export class FaceTracker<T> {
  readonly cameraId: string;
  private readonly idPrefix: string;
  /** The IoU at or above which a detection continues a track. */
  readonly iouThreshold: number;
  private readonly maxMissedMs: number;
  private readonly maxObservations: number;
  private readonly maxTracks: number;
  private readonly maxCentreShift: number;
  private readonly maxSizeRatio: number;
  private readonly sameFace: TrackerOptions<T>['sameFace'];
  private readonly confirmsFace: TrackerOptions<T>['confirmsFace'];
  private readonly maxConfirmedShift: number;
  private live: LiveTrack<T>[] = [];
  private counter = 0;
  private nowMs = -Infinity;
  /** When update() last ran (a detection): keepAlive keeps only the tracks it saw. */
  private lastUpdateMs = -Infinity;

  constructor(options: TrackerOptions<T>) {
    this.cameraId = idPart('cameraId', options.cameraId);
    this.idPrefix =
      options.runId === undefined ? `${this.cameraId}-` : `${this.cameraId}-${idPart('runId', options.runId)}-`;
    this.iouThreshold = positive('iouThreshold', options.iouThreshold, 0.3);
    if (this.iouThreshold > 1)
      throw new TypeError(`Expected iouThreshold in (0, 1] but received ${describeTyped(this.iouThreshold)}`);
    this.maxMissedMs = positive('maxMissedMs', options.maxMissedMs, 1500);
    this.maxObservations = positive('maxObservations', options.maxObservations, 30, true);
    this.maxTracks = positive('maxTracks', options.maxTracks, 32, true);
    const shift = options.maxCentreShift ?? 0.5;
    if (!Number.isFinite(shift) || shift < 0)
      throw new TypeError(`Expected non-negative number for maxCentreShift but received ${describeTyped(shift)}`);
    this.maxCentreShift = shift;
    this.maxSizeRatio = positive('maxSizeRatio', options.maxSizeRatio, 1.5);
    this.sameFace = options.sameFace;
    this.confirmsFace = options.confirmsFace;
    this.maxConfirmedShift = positive('maxConfirmedShift', options.maxConfirmedShift, 1.5);
    if (this.maxSizeRatio < 1)
      throw new TypeError(`Expected maxSizeRatio >= 1 but received ${describeTyped(this.maxSizeRatio)}`);
  }

  /** Live tracks (read-only views), oldest first: for a decision before a track ends. */
  tracks(): readonly Readonly<Track<T>>[] {
    return this.live;
  }

  /**
   * One frame's detections at atMs, best from a monotonic clock (the frame's receivedMs). A
   * time earlier than one already seen is taken as the latest seen, so first-seen <= last-seen
   * and observations stay in time order even if a wall clock is stepped back.
   */
  update(atMs: number, detections: readonly Detection<T>[]): TrackUpdate<T> {
    if (!Number.isFinite(atMs))
      throw new TypeError(`Expected finite number for atMs but received ${describeTyped(atMs)}`);
    detections.forEach((d, i) => {
      const [x, y, w, h] = d.box;
      if (![x, y, w, h].every(Number.isFinite) || w <= 0 || h <= 0) {
        throw new TypeError(
          `Expected [x, y, w, h] with w, h > 0 for detections[${i}].box but received [${d.box.join(', ')}]`,
        );
      }
      if (!Number.isFinite(d.rank))
        throw new TypeError(`Expected finite number for detections[${i}].rank but received ${describeTyped(d.rank)}`);
    });
    const now = (this.nowMs = Math.max(this.nowMs, atMs));
    this.lastUpdateMs = now;

    const ended: LiveTrack<T>[] = [];
    const kept: LiveTrack<T>[] = [];
    for (const t of this.live) (now - t.lastSeenMs > this.maxMissedMs ? ended : kept).push(t);
    this.live = kept;

    const pairs: Pair[] = [];
    this.live.forEach((t, ti) => {
      detections.forEach((d, di) => {
        if (this.sameFace && !this.sameFace(t, d)) return;
        const overlap = iou(t.lastBox, d.box);
        if (overlap >= this.iouThreshold) pairs.push({ track: ti, detection: di, kind: 0, cost: -overlap });
        else {
          const reach =
            this.maxCentreShift > 0 && this.confirmsFace?.(t, d)
              ? Math.max(this.maxCentreShift, this.maxConfirmedShift)
              : undefined;
          const shift = this.centreShift(t.lastBox, d.box, reach);
          if (shift !== null) pairs.push({ track: ti, detection: di, kind: 1, cost: shift });
        }
      });
    });
    // Ties (equal cost) go to the older track, then the earlier detection: deterministic.
    pairs.sort((a, b) => a.kind - b.kind || a.cost - b.cost || a.track - b.track || a.detection - b.detection);

    const trackTaken = new Array<boolean>(this.live.length).fill(false);
    const detectionTrack = new Array<LiveTrack<T> | undefined>(detections.length);
    for (const p of pairs) {
      if (trackTaken[p.track] || detectionTrack[p.detection]) continue;
      trackTaken[p.track] = true;
      detectionTrack[p.detection] = this.live[p.track];
    }

    const seenNow = new Set<LiveTrack<T>>(detectionTrack.filter((t) => t !== undefined));
    const fresh = detections
      .map((d, index) => ({ index, rank: d.rank }))
      .filter(({ index }) => !detectionTrack[index])
      .sort((a, b) => b.rank - a.rank || a.index - b.index);
    for (const { index } of fresh) {
      if (this.live.length >= this.maxTracks) {
        const victim = this.stalest(seenNow);
        if (!victim) break; // every live track is in this frame: the rest stay untracked
        this.live.splice(this.live.indexOf(victim), 1);
        ended.push(victim);
      }
      const d = detections[index]!;
      const track: LiveTrack<T> = {
        id: `${this.idPrefix}${++this.counter}`,
        seq: this.counter,
        firstSeenMs: now,
        lastSeenMs: now,
        lastBox: [...d.box],
        frames: 0,
        observations: [],
      };
      this.live.push(track);
      seenNow.add(track);
      detectionTrack[index] = track;
    }

    const assignments: TrackUpdate<T>['assignments'] = [];
    detectionTrack.forEach((track, index) => {
      if (!track) return;
      const d = detections[index]!;
      track.lastSeenMs = now;
      track.lastBox = [...d.box];
      track.frames += 1;
      this.observe(track, { atMs: now, payload: d.payload, rank: d.rank });
      assignments.push({ trackId: track.id, index });
    });
    return { assignments, ended: ended.sort((a, b) => a.seq - b.seq).map(publicTrack) };
  }

  /**
   * A frame in which nothing moved (the motion gate skipped its detection): the tracks the last
   * detection saw are where they were, so each counts as seen at atMs (its box, frames and
   * observations unchanged). Without it a person standing still would lose their track after
   * maxMissedMs and be decided again as a new track. A track the last detection missed is not
   * kept: its person left (the frame that showed it was a change the detector looked at), and
   * kept alive it would hand its decision to the next person standing in the same spot.
   */
  keepAlive(atMs: number): void {
    if (!Number.isFinite(atMs))
      throw new TypeError(`Expected finite number for atMs but received ${describeTyped(atMs)}`);
    const now = (this.nowMs = Math.max(this.nowMs, atMs));
    for (const t of this.live) if (this.seenAtLastDetection(t)) t.lastSeenMs = now;
  }

  /**
   * Whether the last detection (update) saw this track, or a still frame since kept it: a track
   * the last detection missed may be a person who left.
   */
  seenAtLastDetection(track: Readonly<Track<T>>): boolean {
    return track.lastSeenMs >= this.lastUpdateMs;
  }

  /** Ends every live track (camera stopped, shutdown), oldest first. */
  endAll(): Track<T>[] {
    const all = this.live.map(publicTrack);
    this.live = [];
    return all;
  }

  /** The normalised centre distance when the fallback rule matches (within `reach`, default maxCentreShift), else null. */
  private centreShift(a: Readonly<Box>, b: Readonly<Box>, reach = this.maxCentreShift): number | null {
    if (reach === 0) return null;
    const sa = Math.sqrt(a[2] * a[3]),
      sb = Math.sqrt(b[2] * b[3]);
    if (Math.max(sa, sb) > this.maxSizeRatio * Math.min(sa, sb)) return null;
    const dx = a[0] + a[2] / 2 - (b[0] + b[2] / 2),
      dy = a[1] + a[3] / 2 - (b[1] + b[3] / 2);
    const shift = Math.hypot(dx, dy) / ((sa + sb) / 2);
    return shift <= reach ? shift : null;
  }

  /** The live track seen least recently and not in `exclude` (ties: the older one). */
  private stalest(exclude: ReadonlySet<LiveTrack<T>>): LiveTrack<T> | undefined {
    let victim: LiveTrack<T> | undefined;
    for (const t of this.live) {
      if (exclude.has(t)) continue;
      if (!victim || t.lastSeenMs < victim.lastSeenMs) victim = t;
    }
    return victim;
  }

  /** Appends, then drops the lowest rank beyond the cap (ties: the newest goes, older evidence stays). */
  private observe(track: LiveTrack<T>, o: Observation<T>): void {
    const obs = track.observations;
    obs.push(o);
    if (obs.length <= this.maxObservations) return;
    let worst = 0;
    for (let i = 1; i < obs.length; i++) if (obs[i]!.rank <= obs[worst]!.rank) worst = i;
    obs.splice(worst, 1);
  }
}

function publicTrack<T>(t: LiveTrack<T>): Track<T> {
  return {
    id: t.id,
    firstSeenMs: t.firstSeenMs,
    lastSeenMs: t.lastSeenMs,
    lastBox: t.lastBox,
    frames: t.frames,
    observations: t.observations,
  };
}
