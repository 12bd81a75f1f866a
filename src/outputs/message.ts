// What facegate tells the outside world (MQTT, webhooks): one JSON message per recognition event
// and per camera status change, with the event log's own fields (storage/db/db-store.ts) plus the
// access verdict, the user's name and a crop URL. The message id is the event's id: every output
// delivers at least once, and a receiver drops a repeated id (the idempotency key).
import type { EventAccess } from '../../storage/index.js';

export interface RecognitionMessage {
  type: 'recognition';
  /** The recognition event's id (UUIDv7): the idempotency key. */
  id: string;
  /** The appliance that saw it (config applianceId, issue 18). */
  applianceId: string;
  /** ISO 8601, UTC. */
  timestamp: string;
  cameraId: string;
  /** null when unknown. */
  matchedUserId: string | null;
  /** The matched user's name as the directory knew it (null when unknown). */
  userName: string | null;
  isUnknown: boolean;
  confidence: number;
  trackId: string | null;
  modelId: string | null;
  threshold: number | null;
  /** null: no access control configured. */
  access: EventAccess | null;
  /** The face crop kept for review (unknown faces kept while the database was reachable), else null. */
  cropUrl: string | null;
}

export interface StatusMessage {
  type: 'status';
  /** The camera event's id (UUIDv7). */
  id: string;
  applianceId: string;
  timestamp: string;
  cameraId: string;
  state: 'online' | 'offline';
  /** Why it went offline, when known (redacted of credentials). */
  reason: string | null;
}

/** `facegate outputs test`: proves the path, never stored. */
export interface TestMessage {
  type: 'test';
  id: string;
  timestamp: string;
  text: string;
}

export type OutputMessage = RecognitionMessage | StatusMessage | TestMessage;

export const MESSAGE_TYPES = ['recognition', 'status', 'test'] as const;

/** Where the pipeline hands its messages (the dispatcher, outputs.ts); absent: no outputs configured. */
export interface MessageSink {
  publish(message: OutputMessage): Promise<void>;
}

/** The API path of one kept unknown face's crop (src/api/unknown-routes.ts serves it, with the bearer token). */
export function unknownFaceCropPath(groupId: bigint, faceId: bigint): string {
  return `/unknown/${groupId}/faces/${faceId}/crop`;
}

/** A recognition event as written (its id, time and fields), as a message. */
export function recognitionMessage(
  event: {
    id: string;
    timestamp: Date;
    cameraId: string;
    matchedUserId: string | null;
    confidence: number;
    trackId: string | null;
    modelId: string | null;
    threshold: number | null;
    access: EventAccess | null;
  },
  extra: { applianceId: string; userName: string | null; cropUrl: string | null },
): RecognitionMessage {
  return {
    type: 'recognition',
    id: event.id,
    applianceId: extra.applianceId,
    timestamp: event.timestamp.toISOString(),
    cameraId: event.cameraId,
    matchedUserId: event.matchedUserId,
    userName: event.matchedUserId === null ? null : extra.userName,
    isUnknown: event.matchedUserId === null,
    confidence: event.confidence,
    trackId: event.trackId,
    modelId: event.modelId,
    threshold: event.threshold,
    access: event.access,
    cropUrl: extra.cropUrl,
  };
}
