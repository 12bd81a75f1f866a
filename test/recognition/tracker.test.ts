// The face tracker: the same face over consecutive frames is one track (so one decision and one
// event), two faces never share or swap a track, tracks end when the face is gone, and memory
// stays bounded however many faces or frames come.
import { describe, expect, it } from 'vitest';

import { FaceTracker, iou, type Box, type Detection, type Track } from '../../src/recognition/tracker.js';

const FRAME_MS = 200; // 5 fps, the pipeline's default rate

function det<T>(box: Box, payload: T, rank = 1): Detection<T> {
  return { box, payload, rank };
}

/** The track id each detection of one update went to (undefined: untracked). */
function trackOf(assignments: { trackId: string; index: number }[], count: number): (string | undefined)[] {
  const out = new Array<string | undefined>(count).fill(undefined);
  for (const a of assignments) out[a.index] = a.trackId;
  return out;
}

describe('iou', () => {
  it('is 1 for the same box, 0 apart, and 1/3 for a box shifted by half its width', () => {
    expect(iou([10, 10, 100, 100], [10, 10, 100, 100])).toBe(1);
    expect(iou([0, 0, 100, 100], [100, 0, 100, 100])).toBe(0);
    expect(iou([0, 0, 100, 100], [50, 0, 100, 100])).toBeCloseTo(1 / 3, 12);
  });
});

describe('FaceTracker', () => {
  it('follows one face moving across the frame as one track', () => {
    const tracker = new FaceTracker<number>({ cameraId: 'cam1' });
    const ids = new Set<string>();
    for (let i = 0; i < 12; i++) {
      // 40 px per frame on a 100 px face, with a little vertical jitter: IoU about 0.4.
      const { assignments, ended } = tracker.update(i * FRAME_MS, [
        det([100 + 40 * i, 200 + (i % 2) * 6, 100, 100], i),
      ]);
      expect(ended).toEqual([]);
      expect(assignments).toHaveLength(1);
      ids.add(assignments[0]!.trackId);
    }
    expect(ids.size).toBe(1);
    const [track] = tracker.endAll();
    expect(track?.frames).toBe(12);
    expect(track?.observations.map((o) => o.payload)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(track?.firstSeenMs).toBe(0);
    expect(track?.lastSeenMs).toBe(11 * FRAME_MS);
    expect(track?.lastBox).toEqual([100 + 40 * 11, 206, 100, 100]);
  });

  it('keeps a fast diagonal move in one track by the centre fallback, and only by it', () => {
    // 35 px right and 35 px down per frame on a 100 px face: IoU 0.27 (< 0.3), centre shift 0.49 x size.
    const boxes: Box[] = [0, 1, 2, 3].map((i) => [35 * i, 35 * i, 100, 100]);
    expect(iou(boxes[0]!, boxes[1]!)).toBeLessThan(0.3);
    const run = (options: { maxCentreShift?: number }) => {
      const tracker = new FaceTracker<null>({ cameraId: 'cam1', ...options });
      return new Set(boxes.map((b, i) => tracker.update(i * FRAME_MS, [det(b, null)]).assignments[0]!.trackId)).size;
    };
    expect(run({})).toBe(1);
    expect(run({ maxCentreShift: 0 })).toBe(4);
  });

  it('reaches further when appearance confirms the face: a corridor crossing stays one track, a neighbour does not join', () => {
    // 80 px right per frame on a 100 px face: a centre shift of 0.8 x size, beyond the 0.5 of geometry alone.
    const boxes: Box[] = [0, 1, 2, 3].map((i) => [80 * i, 0, 100, 100]);
    const run = (confirmsFace?: () => boolean) => {
      const tracker = new FaceTracker<null>({ cameraId: 'cam1', ...(confirmsFace ? { confirmsFace } : {}) });
      return new Set(boxes.map((b, i) => tracker.update(i * FRAME_MS, [det(b, null)]).assignments[0]!.trackId)).size;
    };
    expect(run()).toBe(4);
    expect(run(() => true)).toBe(1);
    expect(run(() => false)).toBe(4);
    // Confirmed or not, the size ratio still holds and 1.5 x size is the limit.
    const tracker = new FaceTracker<null>({ cameraId: 'cam1', confirmsFace: () => true });
    const first = tracker.update(0, [det([0, 0, 100, 100], null)]).assignments[0]!.trackId;
    expect(tracker.update(FRAME_MS, [det([160, 0, 100, 100], null)]).assignments[0]!.trackId).not.toBe(first);
    expect(() => new FaceTracker({ cameraId: 'c', maxConfirmedShift: 0 })).toThrow(/maxConfirmedShift/);
  });

  it('keeps alive on still frames only the tracks the last detection saw: a person who left is not revived', () => {
    const tracker = new FaceTracker<string>({ cameraId: 'cam1', maxMissedMs: 1_000 });
    const stays = tracker.update(0, [det([0, 0, 100, 100], 'a'), det([500, 0, 100, 100], 'b')]).assignments;
    // b left: the next detection sees only a; then nothing moves for 3 s.
    tracker.update(200, [det([0, 0, 100, 100], 'a')]);
    for (let t = 400; t <= 3_000; t += 200) tracker.keepAlive(t);
    const ended = tracker.update(3_200, [det([0, 0, 100, 100], 'a'), det([500, 0, 100, 100], 'c')]);
    expect(ended.ended.map((t) => t.id)).toEqual([stays[1]!.trackId]);
    // a stayed one track; the newcomer at b's spot got a track of its own.
    expect(ended.assignments.map((x) => x.trackId)).toEqual([
      stays[0]!.trackId,
      expect.not.stringMatching(stays[1]!.trackId),
    ]);
  });

  it('refuses the centre fallback when the size changes by more than the ratio', () => {
    // A 160 px face, then a 100 px one whose centre moved 40 px on both axes: IoU 0.29, centre
    // shift 0.44 x size, sizes 1.6 apart: a different (farther) face, not the same one.
    const a: Box = [0, 0, 160, 160],
      b: Box = [70, 70, 100, 100];
    expect(iou(a, b)).toBeLessThan(0.3);
    const ids = (maxSizeRatio?: number) => {
      const tracker = new FaceTracker<null>({ cameraId: 'cam1', ...(maxSizeRatio ? { maxSizeRatio } : {}) });
      const first = tracker.update(0, [det(a, null)]).assignments[0]!.trackId;
      const second = tracker.update(FRAME_MS, [det(b, null)]).assignments[0]!.trackId;
      return new Set([first, second]).size;
    };
    expect(ids()).toBe(2);
    expect(ids(2)).toBe(1); // the same boxes with a looser ratio: the rule above is what separated them
  });

  it('keeps two faces side by side as two tracks that never swap, whatever the detection order', () => {
    const tracker = new FaceTracker<'left' | 'right'>({ cameraId: 'cam1' });
    for (let i = 0; i < 30; i++) {
      // Two 100 px faces 30 px apart, walking together 20 px per frame, each with its own jitter.
      const left = det<'left' | 'right'>([100 + 20 * i, 200 + ((i * 7) % 11), 100, 100], 'left');
      const right = det<'left' | 'right'>([230 + 20 * i, 200 - ((i * 5) % 9), 100, 100], 'right');
      // The detector's order changes from frame to frame; every third frame one face is missed.
      const frame = i % 3 === 2 ? [i % 2 ? left : right] : i % 2 ? [left, right] : [right, left];
      const { assignments, ended } = tracker.update(i * FRAME_MS, frame);
      expect(ended).toEqual([]);
      expect(assignments).toHaveLength(frame.length);
    }
    const tracks = tracker.endAll();
    expect(tracks).toHaveLength(2);
    for (const t of tracks) expect(new Set(t.observations.map((o) => o.payload)).size).toBe(1);
    expect(tracks.map((t) => t.observations[0]!.payload).sort()).toEqual(['left', 'right']);
  });

  it("does not hand a missed face's track to its neighbour", () => {
    const tracker = new FaceTracker<string>({ cameraId: 'cam1' });
    const first = tracker.update(0, [det([100, 100, 100, 100], 'A'), det([210, 100, 100, 100], 'B')]);
    const [idA, idB] = trackOf(first.assignments, 2);
    // A is not detected; B moved 40 px towards where A was (still nearer its own last box).
    const second = tracker.update(FRAME_MS, [det([170, 100, 100, 100], 'B')]);
    expect(trackOf(second.assignments, 1)).toEqual([idB]);
    const third = tracker.update(2 * FRAME_MS, [det([170, 100, 100, 100], 'B'), det([100, 100, 100, 100], 'A')]);
    expect(trackOf(third.assignments, 2)).toEqual([idB, idA]);
  });

  it('pairs the highest overlaps first, not the first track with the first detection that fits', () => {
    const tracker = new FaceTracker<string>({ cameraId: 'cam1' });
    // Two faces overlapping (one behind the other), then both move.
    const t0 = tracker.update(0, [det([0, 0, 100, 100], 'A'), det([60, 0, 100, 100], 'B')]);
    const [idA, idB] = trackOf(t0.assignments, 2);
    // The first detection overlaps A at 0.43 and B at 0.67; the second overlaps A at 0.82.
    // Taking A's first fit would give A the wrong face and leave B without one.
    const t1 = tracker.update(FRAME_MS, [det([40, 0, 100, 100], 'B'), det([-10, 0, 100, 100], 'A')]);
    expect(trackOf(t1.assignments, 2)).toEqual([idB, idA]);
  });

  it('lets an overlap win over a centre-distance guess', () => {
    const tracker = new FaceTracker<string>({ cameraId: 'cam1' });
    const t0 = tracker.update(0, [det([0, 0, 100, 100], 'A'), det([60, 60, 100, 100], 'B')]);
    const [, idB] = trackOf(t0.assignments, 2);
    // This box is within the fallback's reach of A (centre shift 0.49, IoU 0.27) and overlaps B at 0.39.
    const d: Box = [35, 35, 100, 100];
    expect(iou([0, 0, 100, 100], d)).toBeLessThan(0.3);
    expect(trackOf(tracker.update(FRAME_MS, [det(d, 'B')]).assignments, 1)).toEqual([idB]);
  });

  it('ends a face that is gone for longer than maxMissedMs, returns it once with all its observations', () => {
    const tracker = new FaceTracker<number>({ cameraId: 'cam1', maxMissedMs: 1500 });
    for (let i = 0; i < 3; i++) tracker.update(i * FRAME_MS, [det([100, 100, 80, 80], i)]);
    const lastSeen = 2 * FRAME_MS;
    const endedAt: { atMs: number; tracks: Track<number>[] }[] = [];
    for (let t = lastSeen + FRAME_MS; t <= lastSeen + 3000; t += 100) {
      const { ended } = tracker.update(t, []);
      if (ended.length) endedAt.push({ atMs: t, tracks: ended });
    }
    expect(endedAt).toHaveLength(1);
    expect(endedAt[0]!.atMs).toBe(lastSeen + 1600); // 1500 ms missed still lives; 1600 does not
    expect(endedAt[0]!.tracks).toHaveLength(1);
    expect(endedAt[0]!.tracks[0]!.observations.map((o) => o.payload)).toEqual([0, 1, 2]);
    expect(endedAt[0]!.tracks[0]!.lastSeenMs).toBe(lastSeen);
    expect(tracker.endAll()).toEqual([]);
  });

  it('gives a face appearing where an ended track was a new track, not the old one', () => {
    const tracker = new FaceTracker<string>({ cameraId: 'cam1', maxMissedMs: 1500 });
    const old = tracker.update(0, [det([100, 100, 80, 80], 'first person')]).assignments[0]!.trackId;
    const { assignments, ended } = tracker.update(2000, [det([100, 100, 80, 80], 'second person')]);
    expect(ended.map((t) => t.id)).toEqual([old]);
    expect(assignments[0]!.trackId).not.toBe(old);
    expect(tracker.tracks().map((t) => t.observations.map((o) => o.payload))).toEqual([['second person']]);
  });

  it('caps the observations of a track, keeping the best ranks in time order', () => {
    const tracker = new FaceTracker<number>({ cameraId: 'cam1', maxObservations: 5 });
    const ranks = [3, 9, 1, 7, 5, 8, 2, 6, 4, 10];
    ranks.forEach((rank, i) => tracker.update(i * FRAME_MS, [det([100, 100, 80, 80], i, rank)]));
    const [track] = tracker.endAll();
    expect(track?.observations.map((o) => o.rank)).toEqual([9, 7, 8, 6, 10]);
    expect(track?.observations.map((o) => o.atMs)).toEqual([1, 3, 5, 7, 9].map((i) => i * FRAME_MS));
    expect(track?.frames).toBe(10);
  });

  it('drops the newest of equally ranked observations, so the kept ones do not churn', () => {
    const tracker = new FaceTracker<number>({ cameraId: 'cam1', maxObservations: 3 });
    for (let i = 0; i < 6; i++) tracker.update(i * FRAME_MS, [det([100, 100, 80, 80], i, 0.5)]);
    expect(tracker.endAll()[0]?.observations.map((o) => o.payload)).toEqual([0, 1, 2]);
  });

  it('at maxTracks ends the track seen least recently, and leaves extra faces untracked when all are in the frame', () => {
    const tracker = new FaceTracker<string>({ cameraId: 'cam1', maxTracks: 3 });
    const at = (x: number): Box => [x, 100, 50, 50];
    const t0 = tracker.update(0, [det(at(0), 'A'), det(at(100), 'B'), det(at(200), 'C')]);
    const [, , idC] = trackOf(t0.assignments, 3);
    tracker.update(FRAME_MS, [det(at(0), 'A'), det(at(100), 'B')]); // C not seen
    // D arrives: the tracker is full; C, seen least recently, makes room and is returned.
    const t2 = tracker.update(2 * FRAME_MS, [det(at(0), 'A'), det(at(100), 'B'), det(at(300), 'D')]);
    expect(t2.ended.map((t) => t.id)).toEqual([idC]);
    expect(t2.ended[0]!.observations.map((o) => o.payload)).toEqual(['C']);
    expect(t2.assignments).toHaveLength(3);
    expect(tracker.tracks()).toHaveLength(3);
    // A, B and D all in the frame plus two newcomers: no live track may go, the newcomers get none.
    const t3 = tracker.update(3 * FRAME_MS, [
      det(at(0), 'A'),
      det(at(100), 'B'),
      det(at(300), 'D'),
      det(at(400), 'E'),
      det(at(500), 'F'),
    ]);
    expect(t3.ended).toEqual([]);
    expect(trackOf(t3.assignments, 5).slice(3)).toEqual([undefined, undefined]);
    expect(tracker.tracks().map((t) => t.observations.at(-1)!.payload)).toEqual(['A', 'B', 'D']);
    // With room for one, the better-ranked newcomer gets it.
    tracker.update(4 * FRAME_MS, [det(at(0), 'A'), det(at(100), 'B')]);
    const t5 = tracker.update(5 * FRAME_MS, [
      det(at(0), 'A'),
      det(at(100), 'B'),
      det(at(400), 'E', 0.2),
      det(at(500), 'F', 0.9),
    ]);
    expect(t5.ended.map((t) => t.observations.at(-1)!.payload)).toEqual(['D']);
    expect(trackOf(t5.assignments, 4).map((id) => id !== undefined)).toEqual([true, true, false, true]);
    expect(tracker.tracks()).toHaveLength(3);
  });

  it('at maxTracks evicts the track seen least recently, not the oldest', () => {
    const tracker = new FaceTracker<string>({ cameraId: 'cam1', maxTracks: 3, maxMissedMs: 1000 });
    const at = (x: number): Box => [x, 100, 50, 50];
    const [idA, idB, idC] = trackOf(
      tracker.update(0, [det(at(0), 'A'), det(at(100), 'B'), det(at(200), 'C')]).assignments,
      3,
    );
    tracker.update(300, [det(at(0), 'A'), det(at(200), 'C')]); // B missed
    tracker.update(600, [det(at(200), 'C')]); // A missed too, but seen after B
    // C is in the frame and D is new: B (last seen at 0) makes room; A, older but seen at 300, stays.
    const { ended, assignments } = tracker.update(900, [det(at(200), 'C'), det(at(300), 'D')]);
    expect(ended.map((t) => t.id)).toEqual([idB]);
    const [, idD] = trackOf(assignments, 2);
    expect(tracker.tracks().map((t) => t.id)).toEqual([idA, idC, idD]);
  });

  it('returns the tracks ended in one update oldest first, whether missed or evicted', () => {
    const tracker = new FaceTracker<string>({ cameraId: 'cam1', maxTracks: 2, maxMissedMs: 1000 });
    const idA = tracker.update(0, [det([0, 0, 50, 50], 'A')]).assignments[0]!.trackId;
    const idB = tracker.update(100, [det([0, 0, 50, 50], 'A'), det([300, 0, 50, 50], 'B')]).assignments[1]!.trackId;
    tracker.update(900, [det([0, 0, 50, 50], 'A')]);
    // At 1200 B has been missed for 1100 ms and ends; two newcomers need both slots, so A is evicted.
    const { ended } = tracker.update(1200, [det([600, 0, 50, 50], 'D'), det([900, 0, 50, 50], 'E')]);
    expect(ended.map((t) => t.id)).toEqual([idA, idB]);
  });

  it('makes unique, path-safe ids that start with the camera id', () => {
    const a = new FaceTracker<null>({ cameraId: 'gate_1', runId: 'lq3x9k' });
    const b = new FaceTracker<null>({ cameraId: 'gate-2', runId: 'lq3x9k' });
    const ids: string[] = [];
    for (let i = 0; i < 100; i++) {
      // A new face far from the last every frame, on both cameras: 200 tracks.
      const atMs = 1_700_000_000_000 + i * FRAME_MS;
      for (const tracker of [a, b]) {
        const { assignments, ended } = tracker.update(atMs, [det([i * 100, 0, 50, 50], null)]);
        ids.push(...assignments.map((x) => x.trackId), ...ended.map((t) => t.id));
      }
    }
    ids.push(...a.endAll().map((t) => t.id), ...b.endAll().map((t) => t.id));
    const unique = new Set(ids);
    // Each id appears once as a new assignment and once as an ended track.
    expect(unique.size).toBe(200);
    for (const id of unique) {
      expect(id).toMatch(/^gate(_1|-2)-lq3x9k-[0-9]+$/);
    }
    // A restart counts from 1 again: a new run id keeps its ids apart from the last run's.
    const restarted = new FaceTracker<null>({ cameraId: 'gate_1', runId: 'lq3xzz' });
    expect(restarted.update(0, [det([0, 0, 50, 50], null)]).assignments[0]!.trackId).toBe('gate_1-lq3xzz-1');
    expect(unique.has('gate_1-lq3x9k-1')).toBe(true);
    // Without a run id: camera id and sequence.
    expect(
      new FaceTracker<null>({ cameraId: 'cam1' }).update(0, [det([0, 0, 50, 50], null)]).assignments[0]!.trackId,
    ).toBe('cam1-1');
  });

  it('refuses a camera id or run id that is not safe in a file name', () => {
    for (const bad of ['', 'gate:1', 'a/b', 'a\\b', 'gate 1', 'x'.repeat(65)]) {
      expect(() => new FaceTracker({ cameraId: bad })).toThrow(
        /Expected 1-64 letters, digits, '-' or '_' for cameraId/,
      );
      expect(() => new FaceTracker({ cameraId: 'cam1', runId: bad })).toThrow(/for runId/);
    }
  });

  it('endAll returns every live track, oldest first, and leaves the tracker empty', () => {
    const tracker = new FaceTracker<string>({ cameraId: 'cam1' });
    const first = tracker.update(0, [det([0, 0, 50, 50], 'A')]).assignments[0]!.trackId;
    const second = tracker.update(FRAME_MS, [det([0, 0, 50, 50], 'A'), det([500, 0, 50, 50], 'B')]);
    const idB = trackOf(second.assignments, 2)[1];
    const all = tracker.endAll();
    expect(all.map((t) => t.id)).toEqual([first, idB]);
    expect(all.map((t) => t.observations.length)).toEqual([2, 1]);
    expect(tracker.tracks()).toEqual([]);
    expect(tracker.endAll()).toEqual([]);
    const after = tracker.update(2 * FRAME_MS, [det([0, 0, 50, 50], 'A')]);
    expect(after.ended).toEqual([]);
    expect(after.assignments[0]!.trackId).not.toBe(first);
  });

  it('holds its clock when the time steps back, so a track never looks seen before it began', () => {
    const tracker = new FaceTracker<number>({ cameraId: 'cam1', maxMissedMs: 1500 });
    tracker.update(10_000, [det([0, 0, 50, 50], 0)]);
    // The clock is set back 5 s: the face is still the same track, seen at the latest time known.
    const back = tracker.update(5_000, [det([0, 0, 50, 50], 1)]);
    expect(back.ended).toEqual([]);
    const [track] = tracker.tracks();
    expect(track?.firstSeenMs).toBe(10_000);
    expect(track?.lastSeenMs).toBe(10_000);
    expect(track?.observations.map((o) => o.atMs)).toEqual([10_000, 10_000]);
    expect(tracker.update(11_500, []).ended).toEqual([]);
    expect(tracker.update(11_600, []).ended).toHaveLength(1);
  });

  it('refuses bad input with what it expected and what it got', () => {
    const tracker = new FaceTracker<null>({ cameraId: 'cam1' });
    expect(() => tracker.update(Number.NaN, [])).toThrow('Expected finite number for atMs but received NaN');
    expect(() => tracker.update(0, [det([0, 0, 0, 10], null)])).toThrow('detections[0].box');
    expect(() => tracker.update(0, [det([0, Number.NaN, 10, 10], null)])).toThrow('detections[0].box');
    expect(() => tracker.update(0, [det([0, 0, 10, 10], null, Number.NaN)])).toThrow('detections[0].rank');
    expect(() => new FaceTracker({ cameraId: 'c', maxObservations: 2.5 })).toThrow(
      'Expected positive integer for maxObservations but received 2.5',
    );
    expect(() => new FaceTracker({ cameraId: 'c', iouThreshold: 1.5 })).toThrow('iouThreshold');
    expect(tracker.tracks()).toEqual([]); // a refused frame changes nothing
  });
});

describe('the appearance gate', () => {
  it('starts a new track when a different face steps into the same spot', () => {
    const tracker = new FaceTracker<string>({
      cameraId: 'cam',
      sameFace: (track, d) => track.observations.at(-1)?.payload === d.payload,
    });
    const box: [number, number, number, number] = [100, 100, 80, 100];
    const first = tracker.update(0, [{ box, payload: 'alice', rank: 1 }]);
    const same = tracker.update(200, [{ box, payload: 'alice', rank: 1 }]);
    expect(same.assignments[0]?.trackId).toBe(first.assignments[0]?.trackId);
    const other = tracker.update(400, [{ box, payload: 'bob', rank: 1 }]);
    expect(other.assignments[0]?.trackId).not.toBe(first.assignments[0]?.trackId);
  });
});
