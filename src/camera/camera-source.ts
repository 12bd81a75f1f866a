// A camera as the pipeline sees it: whole RGB frames at a limited rate, and its connection state.
// rtsp-source.ts implements it with one ffmpeg child per camera.
import type { RgbImage } from '../vision/types.js';

export interface Frame {
  cameraId: string;
  /** Wall-clock time the frame's last byte arrived from ffmpeg. */
  receivedAt: Date;
  /** performance.now() at the same moment, for latency measurements. */
  receivedMs: number;
  /** Frames received so far by this source (0-based), across reconnects: a gap is a dropped frame. */
  sequence: number;
  image: RgbImage;
}

export type CameraState = 'connecting' | 'online' | 'offline';

export interface CameraStatusChange {
  cameraId: string;
  state: CameraState;
  at: Date;
  /** Why: "first frame", "ffmpeg exited with code 0", "no frame for 5000 ms (watchdog)", ... */
  reason: string;
}

export interface CameraStats {
  cameraId: string;
  state: CameraState;
  framesReceived: number;
  /** Frames thrown away because the pipeline was still busy with an earlier one. */
  framesDropped: number;
  reconnects: number;
  lastFrameAt: Date | null;
}

export interface CameraSource {
  readonly cameraId: string;
  /** Starts pulling frames; reconnects by itself until stop(). */
  start(): void;
  /** Stops the ffmpeg child and the reconnect loop; resolves when the child has exited. */
  stop(): Promise<void>;
  stats(): CameraStats;
}

export interface CameraCallbacks {
  /**
   * A new frame. The source holds at most one undelivered frame: while onFrame's promise is
   * pending, newer frames replace the waiting one (counted as dropped), so a slow pipeline never
   * makes ffmpeg's pipe stall or memory grow.
   */
  onFrame(frame: Frame): Promise<void>;
  onStatus(change: CameraStatusChange): void;
}
