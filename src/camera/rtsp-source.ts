// One RTSP camera as a CameraSource: one ffmpeg child writing rgb24 frames to its stdout, cut into
// whole frames here and handed to the pipeline one at a time, newest first.
//
// Faults (TOOLING.md, measured with ffmpeg 5.1): a camera that goes away makes ffmpeg exit, even
// with code 0, so every exit is a disconnect; a camera that goes silent can hang ffmpeg for good,
// so a no-frame watchdog SIGKILLs it. Either way the source goes offline and reconnects with
// exponential backoff until stop().
//
// States: connecting (ffmpeg started, no frame yet) -> online (first frame) -> offline (ffmpeg
// gone); offline -> connecting on every retry. onStatus sees each transition with its reason.
import { spawn, type ChildProcess, type ChildProcessByStdio } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';

import { describeTyped, isPositiveNumber, quoteReceived } from '../../storage/checks.js';
import { redactCredentials, redactUrl } from '../../storage/redact.js';
import { silentLogger, type Logger } from '../../storage/logger.js';
import type { CameraCallbacks, CameraSource, CameraState, CameraStats } from './camera-source.js';
import { FrameSlot } from './frame-slot.js';
import {
  assertSupportedFfmpeg,
  buildFfmpegArgs,
  frameFormat,
  probeFfmpegVersion,
  UnsupportedFfmpegError,
  type FfmpegVersion,
  type FrameFit,
} from './ffmpeg-args.js';

export interface RtspSourceOptions {
  cameraId: string;
  /** rtsp:// or rtsps://, credentials allowed (they never reach a log line). */
  url: string;
  /** Frames per second delivered (ffmpeg drops the rest); default 5. */
  fps?: number | undefined;
  /** Frame size, even; default 1280 x 720 (ffmpeg-args.ts says why). */
  width?: number | undefined;
  height?: number | undefined;
  /** How the camera picture fits the frame; default letterbox (aspect ratio kept). */
  fit?: FrameFit | undefined;
  /** A connection with no frame for this long is killed; default 5000 ms. */
  watchdogMs?: number | undefined;
  /**
   * The limit for the first frame of each connection; default 2 x watchdogMs. The first frame
   * takes longer: RTSP handshake, stream probing and waiting for a key frame (2-3 s measured
   * against a camera with a key frame every 10 frames; a real camera's GOP can be 2-4 s).
   */
  firstFrameTimeoutMs?: number | undefined;
  backoff?:
    | {
        /** First retry delay, doubled per failed attempt; default 1000 ms. */
        initialMs?: number | undefined;
        /** Cap on the delay; default 30000 ms. */
        maxMs?: number | undefined;
        /** A connection online this long counts as stable: the next retry starts from initialMs again. Default 10000 ms. */
        resetAfterMs?: number | undefined;
      }
    | undefined;
  /** The ffmpeg executable; default "ffmpeg" from PATH (ffmpeg.exe on Windows). */
  ffmpegPath?: string | undefined;
  logger?: Logger | undefined;
}

/** A camera silent this long has stalled: 25 frames missed at the default 5 fps. The config's default too. */
export const DEFAULT_WATCHDOG_MS = 5_000;
const DEFAULT_BACKOFF_INITIAL_MS = 1_000;
const DEFAULT_BACKOFF_MAX_MS = 30_000;
const DEFAULT_BACKOFF_RESET_MS = 10_000;
/** Time ffmpeg gets after SIGTERM on stop() to send RTSP TEARDOWN (cameras limit their sessions) before SIGKILL. */
const STOP_GRACE_MS = 1_500;
/** How much of ffmpeg's stderr is kept for the log line when it exits. */
const STDERR_TAIL_CHARS = 2_048;

/** One ffmpeg run. */
interface Connection {
  readonly child: ChildProcess;
  readonly attempt: number;
  /** performance.now() at spawn. */
  readonly spawnedMs: number;
  frames: number;
  lastFrameMs: number;
  /** performance.now() of this connection's first frame. */
  onlineMs: number | undefined;
  /** Set when we kill the child: the reason reported instead of "exited with signal SIGKILL". */
  killReason: string | undefined;
  stderrTail: string;
  watchdog: NodeJS.Timeout | undefined;
  finished: boolean;
  readonly exited: Promise<void>;
  markExited(): void;
}

/** One successful version check per ffmpeg path and process; failures are retried (ffmpeg may get installed). */
const versionChecks = new Map<string, Promise<FfmpegVersion>>();

function checkFfmpeg(ffmpegPath: string): Promise<FfmpegVersion> {
  let check = versionChecks.get(ffmpegPath);
  if (!check) {
    check = probeFfmpegVersion(ffmpegPath).then((found) => {
      assertSupportedFfmpeg(found, ffmpegPath);
      return found;
    });
    versionChecks.set(ffmpegPath, check);
    check.catch((error: unknown) => {
      if (!(error instanceof UnsupportedFfmpegError)) versionChecks.delete(ffmpegPath);
    });
  }
  return check;
}

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return code !== null ? `ffmpeg exited with code ${code}` : `ffmpeg was ended by signal ${signal ?? 'unknown'}`;
}

function positiveMs(name: string, value: number): number {
  if (!isPositiveNumber(value)) {
    throw new Error(`Expected a positive number of milliseconds for ${name} but received ${describeTyped(value)}`);
  }
  return value;
}

export class RtspSource implements CameraSource {
  readonly cameraId: string;

  /** The URL as logs may show it. */
  private readonly shownUrl: string;
  private readonly args: string[];
  private readonly width: number;
  private readonly height: number;
  private readonly frameBytes: number;
  private readonly watchdogMs: number;
  private readonly firstFrameTimeoutMs: number;
  private readonly backoffInitialMs: number;
  private readonly backoffMaxMs: number;
  private readonly backoffResetMs: number;
  private readonly ffmpegPath: string;
  private readonly log: Logger;

  private state: CameraState = 'offline';
  private started = false;
  private stopping: Promise<void> | undefined;
  private connection: Connection | undefined;
  private attempts = 0;
  /** Failed attempts since the last stable connection: the backoff exponent. */
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private ffmpegLogged = false;

  // Frame assembly. ffmpeg's stdout arrives in pipe-sized chunks (64 kB on Linux) that do not line
  // up with frames; bytes are copied into `assembly` until it holds exactly one frame.
  private assembly: Buffer;
  private filled = 0;
  /** The buffer of a dropped frame, reused for the next assembly: a busy pipeline costs no allocation. */
  private spare: Buffer | undefined;
  private readonly slot: FrameSlot;

  private framesReceived = 0;
  private reconnects = 0;
  private lastFrameAt: Date | null = null;

  constructor(
    options: RtspSourceOptions,
    private readonly callbacks: CameraCallbacks,
  ) {
    if (typeof options.cameraId !== 'string' || options.cameraId.trim() === '') {
      throw new Error(`Expected a non-empty cameraId but received ${quoteReceived(options.cameraId)}`);
    }
    this.cameraId = options.cameraId;
    this.watchdogMs = positiveMs('watchdogMs', options.watchdogMs ?? DEFAULT_WATCHDOG_MS);
    this.firstFrameTimeoutMs = positiveMs('firstFrameTimeoutMs', options.firstFrameTimeoutMs ?? 2 * this.watchdogMs);
    this.backoffInitialMs = positiveMs('backoff.initialMs', options.backoff?.initialMs ?? DEFAULT_BACKOFF_INITIAL_MS);
    this.backoffMaxMs = Math.max(
      this.backoffInitialMs,
      positiveMs('backoff.maxMs', options.backoff?.maxMs ?? DEFAULT_BACKOFF_MAX_MS),
    );
    this.backoffResetMs = positiveMs('backoff.resetAfterMs', options.backoff?.resetAfterMs ?? DEFAULT_BACKOFF_RESET_MS);
    const format = frameFormat(options);
    this.width = format.width;
    this.height = format.height;
    this.frameBytes = format.frameBytes;
    // Validates the URL too; the error message shows it redacted.
    this.args = buildFfmpegArgs({
      url: options.url,
      fps: format.fps,
      width: format.width,
      height: format.height,
      fit: options.fit,
      // ffmpeg's own I/O timeout stays behind the watchdog, so the watchdog's reason is the one
      // reported; it still ends an ffmpeg whose parent died while the camera was silent.
      ioTimeoutMs: 2 * Math.max(this.watchdogMs, this.firstFrameTimeoutMs),
    });
    this.shownUrl = redactUrl(options.url);
    this.ffmpegPath = options.ffmpegPath ?? 'ffmpeg';
    this.log = options.logger ?? silentLogger;
    this.assembly = Buffer.allocUnsafe(this.frameBytes);
    // A delivered frame's buffer is the pipeline's for good (it may keep the image, e.g. for the
    // best crop of a track); a dropped frame's buffer is reused for the next assembly.
    this.slot = new FrameSlot(
      (frame) =>
        this.stopping
          ? Promise.resolve()
          : this.callbacks.onFrame(frame).catch((error: unknown) => {
              this.log.warn(
                {
                  cameraId: this.cameraId,
                  sequence: frame.sequence,
                  err: error instanceof Error ? error.message : String(error),
                },
                'camera: onFrame failed',
              );
            }),
      (dropped) => {
        this.spare = dropped.image.data as Buffer;
      },
    );
  }

  /** The running ffmpeg's process id, if any (for health and diagnostics). */
  get pid(): number | undefined {
    const child = this.connection?.child;
    return child && !this.connection?.finished ? child.pid : undefined;
  }

  start(): void {
    if (this.stopping)
      throw new Error(`Camera ${this.cameraId} was stopped; create a new RtspSource to start it again`);
    if (this.started) return;
    this.started = true;
    void this.connect('starting');
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      this.slot.clear();
      const connection = this.connection;
      if (connection && !connection.finished) {
        connection.killReason = 'stopped';
        // SIGTERM first: ffmpeg then closes the RTSP session (TEARDOWN) instead of leaving it to
        // time out on the camera. On Windows kill() terminates at once whatever the signal.
        connection.child.kill('SIGTERM');
        const force = setTimeout(() => connection.child.kill('SIGKILL'), STOP_GRACE_MS);
        await connection.exited;
        clearTimeout(force);
      }
      this.setState('offline', 'stopped');
    })();
    return this.stopping;
  }

  stats(): CameraStats {
    return {
      cameraId: this.cameraId,
      state: this.state,
      framesReceived: this.framesReceived,
      framesDropped: this.slot.droppedCount(),
      reconnects: this.reconnects,
      lastFrameAt: this.lastFrameAt,
    };
  }

  // -------------------------------------------------------------------------------------------
  // Connecting and reconnecting

  private async connect(why: string): Promise<void> {
    if (this.stopping) return;
    const attempt = ++this.attempts;
    this.setState('connecting', why);
    try {
      const found = await checkFfmpeg(this.ffmpegPath);
      if (!this.ffmpegLogged) this.log.info({ cameraId: this.cameraId, ffmpeg: found.version }, 'camera: using ffmpeg');
      this.ffmpegLogged = true;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.log.error({ cameraId: this.cameraId, err: message }, 'camera: ffmpeg unusable');
      if (this.stopping) return;
      this.setState('offline', message);
      // An old ffmpeg stays old: retrying would only repeat the error every 30 s.
      if (!(error instanceof UnsupportedFfmpegError)) this.scheduleRetry();
      return;
    }
    if (this.stopping) return;
    this.spawnFfmpeg(attempt);
  }

  private spawnFfmpeg(attempt: number): void {
    let child: ChildProcessByStdio<null, Readable, Readable>;
    try {
      child = spawn(this.ffmpegPath, this.args, { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
    } catch (error) {
      this.setState('offline', `could not start ffmpeg: ${error instanceof Error ? error.message : String(error)}`);
      this.scheduleRetry();
      return;
    }
    let markExited = (): void => {};
    const exited = new Promise<void>((resolve) => {
      markExited = resolve;
    });
    const now = performance.now();
    const connection: Connection = {
      child,
      attempt,
      spawnedMs: now,
      frames: 0,
      lastFrameMs: now,
      onlineMs: undefined,
      killReason: undefined,
      stderrTail: '',
      watchdog: undefined,
      finished: false,
      exited,
      markExited,
    };
    this.connection = connection;
    // A partial frame of an earlier connection is garbage for this one.
    this.filled = 0;
    this.log.debug({ cameraId: this.cameraId, url: this.shownUrl, pid: child.pid, attempt }, 'camera: ffmpeg started');

    const { stdout, stderr } = child;
    // Read as fast as ffmpeg writes, always: a paused pipe would stall ffmpeg's camera read
    // (TOOLING.md). Frames the pipeline has no time for are dropped in onFrameComplete().
    stdout.on('data', (chunk: Buffer) => this.onData(connection, chunk));
    stdout.on('error', (error) =>
      this.log.debug({ cameraId: this.cameraId, err: error.message }, 'camera: ffmpeg stdout error'),
    );
    stderr.setEncoding('utf8');
    stderr.on('data', (text: string) => {
      connection.stderrTail = (connection.stderrTail + text).slice(-STDERR_TAIL_CHARS);
    });
    stderr.on('error', () => {});
    child.once('error', (error) => this.onExit(connection, `could not run ffmpeg: ${error.message}`, null, null));
    child.once('close', (code, signal) => this.onExit(connection, describeExit(code, signal), code, signal));

    const tick = Math.min(1_000, Math.max(50, Math.round(this.watchdogMs / 10)));
    connection.watchdog = setInterval(() => this.checkWatchdog(connection), tick);
  }

  private checkWatchdog(connection: Connection): void {
    if (connection.finished || connection.killReason !== undefined) return;
    const now = performance.now();
    const limit = connection.frames === 0 ? this.firstFrameTimeoutMs : this.watchdogMs;
    if (now - connection.lastFrameMs <= limit) return;
    connection.killReason =
      connection.frames === 0 ? `no first frame within ${limit} ms (watchdog)` : `no frame for ${limit} ms (watchdog)`;
    this.log.warn(
      { cameraId: this.cameraId, url: this.shownUrl, pid: connection.child.pid },
      `camera: ${connection.killReason}; killing ffmpeg`,
    );
    // SIGKILL: a hung ffmpeg ignores SIGTERM (TOOLING.md).
    connection.child.kill('SIGKILL');
  }

  private onExit(connection: Connection, how: string, code: number | null, signal: NodeJS.Signals | null): void {
    if (connection.finished) return;
    connection.finished = true;
    clearInterval(connection.watchdog);
    if (this.connection === connection) this.connection = undefined;
    connection.markExited();

    const reason = connection.killReason ?? how;
    const onlineFor = connection.onlineMs === undefined ? 0 : performance.now() - connection.onlineMs;
    const details = {
      cameraId: this.cameraId,
      url: this.shownUrl,
      pid: connection.child.pid,
      code,
      signal,
      frames: connection.frames,
      onlineMs: Math.round(onlineFor),
      stderr: redactCredentials(connection.stderrTail),
    };
    if (this.stopping) {
      this.log.info(details, 'camera: ffmpeg stopped');
      return;
    }
    this.log.warn(details, `camera: disconnected: ${reason}`);
    if (onlineFor >= this.backoffResetMs) this.failures = 0;
    this.setState('offline', reason);
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.stopping) return;
    const delay = Math.min(this.backoffMaxMs, this.backoffInitialMs * 2 ** Math.min(this.failures, 30));
    this.failures++;
    this.log.info({ cameraId: this.cameraId, delayMs: delay }, 'camera: reconnecting after backoff');
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.reconnects++;
      void this.connect(`reconnecting after ${delay} ms (attempt ${this.attempts + 1})`);
    }, delay);
  }

  private setState(state: CameraState, reason: string): void {
    if (state === this.state) return;
    this.state = state;
    this.log.info({ cameraId: this.cameraId, state, reason }, `camera: ${state}`);
    try {
      this.callbacks.onStatus({ cameraId: this.cameraId, state, at: new Date(), reason });
    } catch (error) {
      this.log.error(
        { cameraId: this.cameraId, err: error instanceof Error ? error.message : String(error) },
        'camera: onStatus threw',
      );
    }
  }

  // -------------------------------------------------------------------------------------------
  // Frames

  private onData(connection: Connection, chunk: Buffer): void {
    if (connection !== this.connection || this.stopping) return;
    let offset = 0;
    while (offset < chunk.length) {
      const copied = chunk.copy(this.assembly, this.filled, offset);
      this.filled += copied;
      offset += copied;
      if (this.filled === this.frameBytes) this.onFrameComplete(connection);
    }
  }

  private onFrameComplete(connection: Connection): void {
    const receivedMs = performance.now();
    const receivedAt = new Date();
    const data = this.assembly;
    this.assembly = this.spare ?? Buffer.allocUnsafe(this.frameBytes);
    this.spare = undefined;
    this.filled = 0;

    this.framesReceived++;
    this.lastFrameAt = receivedAt;
    connection.frames++;
    connection.lastFrameMs = receivedMs;
    if (connection.frames === 1) {
      connection.onlineMs = receivedMs;
      this.setState('online', `first frame after ${Math.round(receivedMs - connection.spawnedMs)} ms`);
    }

    this.slot.offer({
      cameraId: this.cameraId,
      receivedAt,
      receivedMs,
      sequence: this.framesReceived - 1,
      image: { width: this.width, height: this.height, data },
    });
  }

  /** For messages that must name the camera without its credentials. */
  toString(): string {
    return `RtspSource(${this.cameraId}, ${this.shownUrl})`;
  }
}
