// Unknown faces as the live pipeline keeps them, for tests that review them: the track's
// recognition event is written first (the face row refers to it), then the face is kept and
// grouped. And the review JSON as the API and the CLI print it (ids as strings, dates as ISO).
import type { KeptFace, UnknownFaceGrouping } from '../../src/unknown-faces/grouping.js';
import type { FaceAnalysis } from '../../src/vision/face-analyzer.js';
import { encodePng } from '../../src/vision/image-input.js';
import type { Storage } from '../../storage/index.js';

export async function keepUnknownFace(
  storage: Storage,
  grouping: UnknownFaceGrouping,
  face: Pick<FaceAnalysis, 'aligned' | 'quality' | 'embedding'>,
  cameraId: string,
  seenAt = new Date(),
): Promise<KeptFace> {
  if (!face.embedding)
    throw new Error('Expected a face with an embedding (one the quality gate accepted, or embedRejected)');
  const event = await storage.db.recordRecognition({
    timestamp: seenAt,
    cameraId,
    matchedUserId: null,
    confidence: 0.1,
  });
  if (event.stored !== 'database') throw new Error('Expected the event in the database, but it was spooled');
  return grouping.keep({
    eventId: event.id,
    cameraId,
    seenAt,
    quality: face.quality.score,
    embedding: face.embedding,
    png: await encodePng(face.aligned),
  });
}

export interface GroupJson {
  id: string;
  status: string;
  userId: string | null;
  modelId: string;
  createdAt: string;
  resolvedAt: string | null;
  faces: number;
  firstSeen: string | null;
  lastSeen: string | null;
  cameras: string[];
  best: { faceId: string; image: string; quality: number } | null;
}

export interface FaceJson {
  id: string;
  eventId: string;
  cameraId: string;
  seenAt: string;
  image: string;
  quality: number;
}

export interface ActionJson {
  id: string;
  timestamp: string;
  actor: string;
  action: string;
  groupId: string;
  userId: string | null;
  details: Record<string, unknown>;
}
