// The delivery rule every camera source follows: at most one frame in the pipeline's hands and
// one waiting. A newer frame replaces the waiting one (counted as dropped), so a busy pipeline
// costs frames, never memory, and never stalls the source (a paused ffmpeg pipe stalls the
// camera read: TOOLING.md).
import type { Frame } from './camera-source.js';

export class FrameSlot {
  private busy = false;
  private waiting: Frame | null = null;
  private dropped = 0;
  private drained: (() => void)[] = [];

  /**
   * @param deliver hands a frame to the pipeline; the frame (and its buffer) is the pipeline's from then on.
   * @param onDropped gets each frame that was replaced before delivery: its buffer may be reused.
   */
  constructor(
    private readonly deliver: (frame: Frame) => Promise<void>,
    private readonly onDropped: (frame: Frame) => void = () => {},
  ) {}

  offer(frame: Frame): void {
    if (!this.busy) {
      this.run(frame);
      return;
    }
    if (this.waiting) {
      this.dropped++;
      this.onDropped(this.waiting);
    }
    this.waiting = frame;
  }

  /** Frames replaced before the pipeline took them. */
  droppedCount(): number {
    return this.dropped;
  }

  /** Resolves when no frame is in flight or waiting. */
  idle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.drained.push(resolve));
  }

  /** Forgets the waiting frame (a stopping source). */
  clear(): void {
    this.waiting = null;
  }

  private run(frame: Frame): void {
    this.busy = true;
    // The deliverer's own failures are its to report (even a synchronous throw); the slot only
    // keeps frames moving.
    Promise.resolve()
      .then(() => this.deliver(frame))
      .catch(() => undefined)
      .finally(() => {
        const next = this.waiting;
        this.waiting = null;
        if (next) {
          this.run(next);
          return;
        }
        this.busy = false;
        for (const resolve of this.drained.splice(0)) resolve();
      });
  }
}
