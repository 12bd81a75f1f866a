// A camera that shows still images in turn (each for a few seconds) at a fixed frame rate, in
// process: the same frames, timing and drop rule as a live camera without ffmpeg or a network.
// For the pipeline benchmark and for trying the appliance without a camera.
import type { RgbImage } from '../vision/types.js';
import type { CameraCallbacks, CameraSource, CameraStats } from './camera-source.js';
import { FrameSlot } from './frame-slot.js';

export interface StillSourceOptions {
  cameraId: string;
  images: RgbImage[];
  fps: number;
  /** How long each image is shown before the next; default 2 s. */
  secondsPerImage?: number;
}

export class StillSource implements CameraSource {
  readonly cameraId: string;
  private timer: NodeJS.Timeout | null = null;
  private readonly slot: FrameSlot;
  private sequence = 0;
  private startedMs = 0;
  private lastFrameAt: Date | null = null;

  constructor(
    private readonly options: StillSourceOptions,
    private readonly callbacks: CameraCallbacks,
  ) {
    if (options.images.length === 0) throw new RangeError('Expected at least one image for a still source');
    if (!(options.fps > 0 && options.fps <= 120))
      throw new RangeError(`Expected fps in (0, 120] but received ${options.fps}`);
    this.cameraId = options.cameraId;
    this.slot = new FrameSlot((frame) => callbacks.onFrame(frame));
  }

  start(): void {
    if (this.timer) return;
    this.startedMs = performance.now();
    this.callbacks.onStatus({ cameraId: this.cameraId, state: 'online', at: new Date(), reason: 'still images' });
    this.timer = setInterval(() => this.tick(), 1000 / this.options.fps);
  }

  async stop(): Promise<void> {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = null;
    this.slot.clear();
    await this.slot.idle();
    this.callbacks.onStatus({ cameraId: this.cameraId, state: 'offline', at: new Date(), reason: 'stopped' });
  }

  stats(): CameraStats {
    return {
      cameraId: this.cameraId,
      state: this.timer ? 'online' : 'offline',
      framesReceived: this.sequence,
      framesDropped: this.slot.droppedCount(),
      reconnects: 0,
      lastFrameAt: this.lastFrameAt,
    };
  }

  private tick(): void {
    const now = performance.now();
    const shown = Math.floor((now - this.startedMs) / 1000 / (this.options.secondsPerImage ?? 2));
    const image = this.options.images[shown % this.options.images.length] as RgbImage;
    this.lastFrameAt = new Date();
    this.slot.offer({
      cameraId: this.cameraId,
      receivedAt: this.lastFrameAt,
      receivedMs: now,
      sequence: this.sequence++,
      image,
    });
  }
}
