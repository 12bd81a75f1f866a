// CacheStore: system health, the LLD's Redis keys:
//   camera:{id}:last_seen   timestamp (ms), with a TTL: when it expires the camera is offline
//   camera:{id}:status      online | offline
//   worker:{id}:heartbeat   timestamp (ms), with a TTL: when it expires the worker is dead
//   queue:recognition:size  int
// Several appliances on one Redis (issue 18): each appliance's keys are these under
// `appliance:{applianceId}:`, so two appliances' cam_01 never overwrite each other; the appliance
// with the default id (storage/config.ts, DEFAULT_APPLIANCE_ID: a site with one appliance) keeps
// the LLD's names exactly as written above. applianceKeyPrefix() is the one rule.

export type CameraStatus = 'online' | 'offline';

export interface CameraHealth {
  cameraId: string;
  /** True while camera:{id}:last_seen has not expired. */
  online: boolean;
  lastSeen: Date | null;
  /** The last status written (a camera whose last_seen expired reads offline whatever this says). */
  status: CameraStatus | null;
}

export interface CacheHealth {
  /** redis: a Redis server is configured; memory: none is (health lives in this process only). */
  mode: 'redis' | 'memory';
  /** A configured Redis is unreachable: health is kept in memory and written back when it returns. */
  degraded: boolean;
  lastError: string | null;
}

export interface CacheStore {
  health(): CacheHealth;
  /**
   * A frame arrived: last_seen (with the camera TTL). The status is the camera's connection state
   * and changes only with setCameraStatus: a frame still in the queue must not undo an "offline".
   */
  cameraSeen(cameraId: string, at?: Date): Promise<void>;
  setCameraStatus(cameraId: string, status: CameraStatus): Promise<void>;
  cameraHealth(cameraId: string): Promise<CameraHealth>;
  workerHeartbeat(workerId: string, at?: Date): Promise<void>;
  /** The last heartbeat, or null when it expired (the worker is presumed dead). */
  workerLastHeartbeat(workerId: string): Promise<Date | null>;
  setQueueSize(size: number): Promise<void>;
  queueSize(): Promise<number>;
  close(): Promise<void>;
}
