// Decide once, then follow: a face track that has its decision (known after its votes, unknown
// after its frames) needs no new embedding for every frame the person stays in view; the tracker
// can follow it on the detector's boxes alone. This module says which of a frame's detections are
// followed that way. Every other detection is examined as before (aligned, gated, embedded,
// searched), and so is a followed track's face whenever there is a doubt:
// - the track was not seen by the last detection (its person may have left, and someone else
//   stepped into the spot: the tailgater at a door), or was seen more than MAX_FOLLOWED_GAP_MS
//   ago (a pipeline behind its cameras sees each one seldom, and a place can change hands between
//   two of its looks);
// - the box jumped: its overlap with the track's last box is under minIou, or its size changed by
//   more than MAX_FOLLOWED_SIZE_CHANGE (a person behind stepping into view as the one in front
//   steps aside), or the pairing is not one-to-one (another box or another track overlaps: two
//   people crossing);
// - too long without a look: reembedAfterMs since the track's last embedding, which is the track's
//   embedding budget while it is followed (one embedding per reembedAfterMs; an undecided track
//   embeds every frame, as its votes need). It bounds how long a swap no rule above sees (a
//   different face in the same box between two frames) can pass as the decided person.
// A re-embedded face goes through the tracker's appearance gate again, so a different person who
// took the spot starts a track (and a decision) of their own.
import { describeTyped, isPositiveNumber } from '../../storage/checks.js';
import { type Box, iou } from '../recognition/tracker.js';

export interface FollowOptions {
  /**
   * A detection follows a decided track only when its box overlaps the track's last box at least
   * this much (IoU). Default 0.5: at 5 fps a walking face keeps 0.5-0.8 of its box from frame to
   * frame; the tracker's own threshold (0.3) and its centre fallback are for the jumps, which are
   * examined.
   */
  minIou?: number;
  /**
   * A followed track's face is embedded again after this long without an embedding (ms). Default
   * 2000: one embedding in 10 frames at 5 fps while followed, and at most 2 s for a swap no other
   * rule sees.
   */
  reembedAfterMs?: number;
}

export const DEFAULT_FOLLOW: Required<FollowOptions> = { minIou: 0.5, reembedAfterMs: 2_000 };

/**
 * A box whose side (sqrt of its area) differs from the track's last by more than this share is
 * examined: walking towards the camera changes a face's size by a few per cent a frame at 5 fps,
 * a different person's face at another distance by more.
 */
export const MAX_FOLLOWED_SIZE_CHANGE = 0.2;

/** A track seen longer ago than this (two frames at 5 fps, and some) is examined, not followed. */
export const MAX_FOLLOWED_GAP_MS = 500;

export function followOptions(options: FollowOptions = {}): Required<FollowOptions> {
  const o = { ...DEFAULT_FOLLOW, ...options };
  if (!isPositiveNumber(o.minIou) || o.minIou > 1)
    throw new TypeError(`Expected a number in (0, 1] for follow.minIou but received ${describeTyped(o.minIou)}`);
  if (!isPositiveNumber(o.reembedAfterMs))
    throw new TypeError(
      `Expected a positive number for follow.reembedAfterMs but received ${describeTyped(o.reembedAfterMs)}`,
    );
  return o;
}

export interface FollowableTrack {
  id: string;
  lastBox: Readonly<Box>;
  /** Whether the track's event is written (its decision made). */
  decided: boolean;
  /** When the track's face was last embedded (ms, the frames' clock). */
  lastEmbeddedMs: number;
  /** Whether the last detection saw the track (FaceTracker.seenAtLastDetection). */
  seenAtLastDetection: boolean;
  /** When the track was last seen (or kept alive by a still frame), the frames' clock. */
  lastSeenMs: number;
}

/**
 * The detections (by index) that follow a decided track without an embedding, and the track each
 * follows. `pairIou` is the tracker's own IoU threshold: an overlap at or above it with any other
 * live track or box makes the pairing ambiguous.
 */
export function followedDetections(
  tracks: readonly FollowableTrack[],
  boxes: readonly Readonly<Box>[],
  atMs: number,
  options: Required<FollowOptions>,
  pairIou: number,
): Map<number, string> {
  const followed = new Map<number, string>();
  const overlaps = tracks.map((t) => boxes.map((b) => iou(t.lastBox, b)));
  boxes.forEach((_, d) => {
    const candidates = tracks.flatMap((t, ti) => ((overlaps[ti]?.[d] ?? 0) >= pairIou ? [ti] : []));
    if (candidates.length !== 1) return;
    const ti = candidates[0] as number;
    const track = tracks[ti] as FollowableTrack;
    const row = overlaps[ti] as number[];
    if (!track.decided || !track.seenAtLastDetection || (row[d] as number) < options.minIou) return;
    if (atMs - track.lastSeenMs > MAX_FOLLOWED_GAP_MS) return;
    const box = boxes[d] as Readonly<Box>;
    const side = Math.sqrt((box[2] * box[3]) / (track.lastBox[2] * track.lastBox[3]));
    if (Math.abs(side - 1) > MAX_FOLLOWED_SIZE_CHANGE) return;
    if (row.filter((v) => v >= pairIou).length !== 1) return;
    if (atMs - track.lastEmbeddedMs >= options.reembedAfterMs) return;
    followed.set(d, track.id);
  });
  return followed;
}
