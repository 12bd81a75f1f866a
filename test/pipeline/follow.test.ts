// Which detections a decided track follows without an embedding, and every doubt that makes the
// pipeline look again.
import { describe, expect, it } from 'vitest';

import {
  DEFAULT_FOLLOW,
  followedDetections,
  followOptions,
  type FollowableTrack,
  MAX_FOLLOWED_GAP_MS,
} from '../../src/pipeline/follow.js';
import type { Box } from '../../src/recognition/tracker.js';

const PAIR_IOU = 0.3;
const track = (over: Partial<FollowableTrack> = {}): FollowableTrack => ({
  id: 't1',
  lastBox: [100, 100, 100, 100],
  decided: true,
  lastEmbeddedMs: 0,
  seenAtLastDetection: true,
  lastSeenMs: 800,
  ...over,
});
const follow = (tracks: FollowableTrack[], boxes: Box[], atMs = 1_000) =>
  followedDetections(tracks, boxes, atMs, DEFAULT_FOLLOW, PAIR_IOU);

describe('followedDetections', () => {
  it('follows a decided track whose face moved a little', () => {
    expect(follow([track()], [[110, 105, 100, 100]])).toEqual(new Map([[0, 't1']]));
  });

  it('examines the face of a track still waiting for its decision', () => {
    expect(follow([track({ decided: false })], [[110, 105, 100, 100]]).size).toBe(0);
  });

  it('examines a face at the spot of a track the last detection missed: its person may have left (the tailgater)', () => {
    expect(follow([track({ seenAtLastDetection: false })], [[100, 100, 100, 100]]).size).toBe(0);
  });

  it('examines the face of a track last seen more than two frames ago: a place can change hands unseen', () => {
    expect(follow([track({ lastSeenMs: 1_000 - MAX_FOLLOWED_GAP_MS })], [[100, 100, 100, 100]]).size).toBe(1);
    expect(follow([track({ lastSeenMs: 999 - MAX_FOLLOWED_GAP_MS })], [[100, 100, 100, 100]]).size).toBe(0);
  });

  it('examines a face whose size changed by more than a fifth: someone behind stepping into view', () => {
    // Same centre, 0.75 x the side: IoU 0.56, over minIou, but a different distance from the camera.
    expect(follow([track()], [[112.5, 112.5, 75, 75]]).size).toBe(0);
    expect(follow([track()], [[105, 105, 90, 90]]).size).toBe(1);
  });

  it('examines a face that jumped (overlap under minIou), leaving it to the tracker and its appearance gate', () => {
    // IoU of [100,100,100,100] and [140,100,100,100] is 60/140 = 0.43: the tracker pairs it, follow does not.
    expect(follow([track()], [[140, 100, 100, 100]]).size).toBe(0);
  });

  it('examines both faces when two people are close: no one-to-one pairing', () => {
    expect(
      follow(
        [track()],
        [
          [105, 100, 100, 100],
          [130, 100, 100, 100],
        ],
      ).size,
    ).toBe(0);
    expect(follow([track(), track({ id: 't2', lastBox: [130, 100, 100, 100] })], [[110, 100, 100, 100]]).size).toBe(0);
  });

  it("looks again after reembedAfterMs without an embedding (the track's embedding budget)", () => {
    expect(
      follow(
        [track({ lastEmbeddedMs: 0, lastSeenMs: DEFAULT_FOLLOW.reembedAfterMs - 100 })],
        [[100, 100, 100, 100]],
        DEFAULT_FOLLOW.reembedAfterMs - 1,
      ).size,
    ).toBe(1);
    expect(
      follow(
        [track({ lastEmbeddedMs: 0, lastSeenMs: DEFAULT_FOLLOW.reembedAfterMs - 100 })],
        [[100, 100, 100, 100]],
        DEFAULT_FOLLOW.reembedAfterMs,
      ).size,
    ).toBe(0);
  });

  it('follows each of two separate decided tracks', () => {
    const far = track({ id: 't2', lastBox: [600, 100, 100, 100] });
    expect(
      follow(
        [track(), far],
        [
          [605, 100, 100, 100],
          [102, 100, 100, 100],
        ],
      ),
    ).toEqual(
      new Map([
        [0, 't2'],
        [1, 't1'],
      ]),
    );
  });

  it('refuses bad options, naming the key', () => {
    expect(() => followOptions({ minIou: 0 })).toThrow(/follow\.minIou but received 0/);
    expect(() => followOptions({ minIou: 1.5 })).toThrow(/follow\.minIou/);
    expect(() => followOptions({ reembedAfterMs: Number.NaN })).toThrow(/follow\.reembedAfterMs/);
  });
});
