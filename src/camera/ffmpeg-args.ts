// What rtsp-source.ts runs: ffmpeg's argv for one RTSP camera (rawvideo RGB on stdout, fps and size
// limited), the camera URL check (shown through storage/redact.ts, the one redaction rule), and
// the ffmpeg version check (`-timeout` changed meaning in ffmpeg 5).
import { spawn } from 'node:child_process';

import { describeTyped, isPositiveNumber } from '../../storage/checks.js';
import { redactUrl } from '../../storage/redact.js';

/** Frames per second handed to the pipeline unless configured: enough to track a walking person. */
export const DEFAULT_FPS = 5;
/**
 * 1280x720, the frame size of every camera unless configured (the configuration takes it from here).
 * The detector sees the frame scaled to 640 px wide, but the rest of vision does not: the face is
 * aligned from the frame itself and the quality gate counts the eyes' distance in the frame's pixels
 * (minInterEyePx 32, vision/quality.ts), so halving the frame halves the distance at which a face is
 * still good enough. Measured (issue 14) on the 9 wide photos of ../shared/faces (bbt1-5, two_people,
 * biden, biden2, obama) letterboxed as ffmpeg does: at 1280x720 25 of 28 faces pass the gate (eyes
 * 35-128 px apart); at 640x360 7 do, 21 are 'too-small' (eyes 18-64 px). Detection costs the same
 * (both reach the model at 640 px); a frame is 2.8 MB of RGB instead of 0.7, one per camera.
 */
export const DEFAULT_WIDTH = 1280;
export const DEFAULT_HEIGHT = 720;

/** ffmpeg 5 made `-timeout` the RTSP socket I/O timeout (4.x: a listen timeout; `-stimeout` is gone in 5). */
export const MIN_FFMPEG_MAJOR = 5;

const MAX_FPS = 60;
const MAX_SIDE = 8192;

/**
 * How a camera picture becomes a width x height frame. `letterbox` keeps the aspect ratio and pads
 * with black: faces keep their geometry, which the landmark checks and the embedder rely on.
 * `stretch` scales to the exact size (a 4:3 camera squashed into 16:9 distorts every face).
 */
export type FrameFit = 'letterbox' | 'stretch';

export interface FfmpegArgsOptions {
  /** rtsp:// or rtsps:// (validateCameraUrl()). */
  url: string;
  fps?: number | undefined;
  width?: number | undefined;
  height?: number | undefined;
  fit?: FrameFit | undefined;
  /**
   * ffmpeg's own socket I/O timeout (`-timeout`, in ms here). A backstop: the source's watchdog
   * normally acts first, but this also makes an orphaned ffmpeg on a silent camera exit by itself.
   */
  ioTimeoutMs: number;
}

/** The fps and frame size after defaults and checks. */
export interface FrameFormat {
  fps: number;
  width: number;
  height: number;
  /** width * height * 3: one rgb24 frame on ffmpeg's stdout. */
  frameBytes: number;
}

// ---------------------------------------------------------------------------------------------
// Checks

/**
 * Refuses anything but an rtsp:// or rtsps:// URL with a host. Files, http:// and ffmpeg's other
 * protocols (concat:, subfile:, pipe:...) would let a configuration entry read local files.
 */
export function validateCameraUrl(url: string): URL {
  const shown = typeof url === 'string' ? `"${redactUrl(url)}"` : `${typeof url}`;
  const refuse = (why: string): never => {
    throw new Error(`Expected an rtsp:// or rtsps:// camera URL with a host but received ${shown}: ${why}`);
  };
  if (typeof url !== 'string' || url.trim() === '') return refuse('it is empty');
  // Control characters and spaces have no place in a URL and would garble log lines.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0020\u007f]/.test(url)) return refuse('it contains whitespace or control characters');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return refuse('it is not a URL');
  }
  if (parsed.protocol !== 'rtsp:' && parsed.protocol !== 'rtsps:')
    return refuse(`the scheme is ${parsed.protocol.replace(/:$/, '')}`);
  if (parsed.hostname === '') return refuse('it has no host');
  return parsed;
}

function positiveNumber(name: string, value: number, max: number): number {
  if (!isPositiveNumber(value, max)) {
    throw new Error(`Expected a number in (0, ${max}] for ${name} but received ${describeTyped(value)}`);
  }
  return value;
}

function evenSide(name: string, value: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 2 || value > MAX_SIDE || value % 2 !== 0) {
    throw new Error(
      `Expected an even integer in 2..${MAX_SIDE} for ${name} but received ${String(value)} of type ${typeof value}`,
    );
  }
  return value;
}

/** The frame rate and size with defaults applied; throws on a bad value. W and H must be even (video scalers and encoders downstream assume it). */
export function frameFormat(options: {
  fps?: number | undefined;
  width?: number | undefined;
  height?: number | undefined;
}): FrameFormat {
  const fps = positiveNumber('fps', options.fps ?? DEFAULT_FPS, MAX_FPS);
  const width = evenSide('width', options.width ?? DEFAULT_WIDTH);
  const height = evenSide('height', options.height ?? DEFAULT_HEIGHT);
  return { fps, width, height, frameBytes: width * height * 3 };
}

// ---------------------------------------------------------------------------------------------
// The command line

/**
 * ffmpeg's arguments for one camera (TOOLING.md, "ffmpeg and cameras"): RTSP over TCP (what
 * cameras and NAT allow), fail fast on errors (-xerror), small probe so the first frame comes
 * quickly, then drop to `fps`, fit into width x height and write packed rgb24 to stdout.
 * `-hide_banner -nostats` keep stderr to messages worth keeping (the progress line would fill the
 * stderr tail that is logged when ffmpeg exits).
 */
/**
 * A demo camera: `slideshow:<path>` plays an ffmpeg concat list of photos (`file 'x.jpg'` and
 * `duration 4` lines) in a loop, in real time, through the same decoding, scaling and frame path
 * as a network camera. For trying the appliance without a camera; never for a site.
 */
export const SLIDESHOW_SCHEME = 'slideshow:';
/**
 * A recorded camera: `replay:<path>` plays a video file (H.264 in MP4 or Matroska, say) in a loop,
 * in real time, as it was recorded: no re-encoding, the same decoding and frame path as a network
 * camera. For `bench pipeline`'s site-like scenes and for trying the appliance on footage from a
 * site; never for a live site.
 */
export const REPLAY_SCHEME = 'replay:';

/**
 * Decoding on one thread: at 8-16 cameras on a 2-core PC every ffmpeg child's threads compete with
 * the detector and the embedder, and one thread decodes a 720p H.264 substream at 5 fps with room
 * to spare (`facegate bench pipeline` prints ffmpeg's share of the CPU). The scaler and the fps
 * filter run on one thread too.
 */
const DECODE_THREADS = ['-threads', '1'];
const FILTER_THREADS = ['-filter_threads', '1'];

function inputArgs(url: string, ioTimeoutMs: number): string[] {
  if (url.startsWith(SLIDESHOW_SCHEME)) {
    const list = url.slice(SLIDESHOW_SCHEME.length);
    if (list.trim() === '') throw new Error('Expected slideshow:<path of an ffmpeg concat list> but the path is empty');
    return [
      ...['-hide_banner', '-nostats', '-nostdin'],
      '-re',
      ...DECODE_THREADS,
      ...['-stream_loop', '-1', '-f', 'concat', '-safe', '0', '-i', list],
    ];
  }
  if (url.startsWith(REPLAY_SCHEME)) {
    const file = url.slice(REPLAY_SCHEME.length);
    if (file.trim() === '') throw new Error('Expected replay:<path of a video file> but the path is empty');
    return [
      ...['-hide_banner', '-nostats', '-nostdin'],
      '-re',
      ...DECODE_THREADS,
      ...['-stream_loop', '-1', '-i', file],
    ];
  }
  validateCameraUrl(url);
  return [
    ...['-hide_banner', '-nostats', '-nostdin'],
    ...['-rtsp_transport', 'tcp'],
    ...['-timeout', String(Math.round(ioTimeoutMs * 1000))],
    '-xerror',
    ...['-fflags', 'nobuffer'],
    ...['-analyzeduration', '500000', '-probesize', '200000'],
    ...DECODE_THREADS,
    // As configured, not re-serialised: URL parsing could re-encode characters in a password.
    ...['-i', url],
  ];
}

export function buildFfmpegArgs(options: FfmpegArgsOptions): string[] {
  const { fps, width, height } = frameFormat(options);
  const ioTimeoutMs = positiveNumber('ioTimeoutMs', options.ioTimeoutMs, 3_600_000);
  const fit = options.fit ?? 'letterbox';
  const scale =
    fit === 'letterbox'
      ? `scale=${width}:${height}:force_original_aspect_ratio=decrease,pad=${width}:${height}:(ow-iw)/2:(oh-ih)/2,setsar=1`
      : `scale=${width}:${height},setsar=1`;
  return [
    ...inputArgs(options.url, ioTimeoutMs),
    ...FILTER_THREADS,
    '-an',
    ...['-vf', `fps=${fps},${scale}`],
    ...['-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'],
  ];
}

// ---------------------------------------------------------------------------------------------
// The version check

export interface FfmpegVersion {
  /** What `ffmpeg -version` calls itself: "5.1.9-0+deb12u1", "n6.1", "2024-03-04-git-...". */
  version: string;
  /** The release's major version: from the version string, else from libavformat's (git builds). */
  major: number;
}

/** ffmpeg is there but too old (or unidentifiable): retrying will not help. */
export class UnsupportedFfmpegError extends Error {
  override readonly name = 'UnsupportedFfmpegError';
}

/**
 * Reads `ffmpeg -version` output. Release builds say "ffmpeg version 5.1.9-0+deb12u1" or "n6.1";
 * git snapshots (common on Windows) say "2024-03-04-git-..." or "N-113...", so the libavformat
 * line decides then: libavformat 58 shipped with ffmpeg 4, 59 with 5, 60 with 6, 61 with 7, 62 with 8.
 */
export function parseFfmpegVersion(output: string): FfmpegVersion {
  const version = /ffmpeg version (\S+)/.exec(output)?.[1];
  if (version === undefined) {
    throw new UnsupportedFfmpegError(
      `Expected "ffmpeg version ..." from ffmpeg -version but received "${output.slice(0, 120)}"`,
    );
  }
  const release = /^n?(\d+)\.\d+/.exec(version);
  if (release?.[1] !== undefined) return { version, major: Number(release[1]) };
  const lavf = /libavformat\s+(\d+)\./.exec(output);
  if (lavf?.[1] !== undefined && Number(lavf[1]) >= 58) return { version, major: Number(lavf[1]) - 54 };
  throw new UnsupportedFfmpegError(
    `Could not tell the release of ffmpeg "${version}" from its -version output (no libavformat line)`,
  );
}

/** Throws UnsupportedFfmpegError for ffmpeg before 5, where `-timeout` means something else. */
export function assertSupportedFfmpeg(found: FfmpegVersion, ffmpegPath = 'ffmpeg'): void {
  if (found.major < MIN_FFMPEG_MAJOR) {
    throw new UnsupportedFfmpegError(
      `Expected ffmpeg ${MIN_FFMPEG_MAJOR} or later but ${ffmpegPath} is version ${found.version}: ` +
        'in ffmpeg 4 "-timeout" is a listen timeout, so a silent camera could hang it. Install ffmpeg 5 or later.',
    );
  }
}

/**
 * Runs `ffmpeg -version` and parses it. Rejects when ffmpeg cannot be run (not installed, not on
 * PATH) or does not answer within timeoutMs; callers decide whether that is worth a retry.
 */
export function probeFfmpegVersion(ffmpegPath = 'ffmpeg', timeoutMs = 10_000): Promise<FfmpegVersion> {
  return new Promise((resolve, reject) => {
    let output = '';
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const child = spawn(ffmpegPath, ['-version'], { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(() => reject(new Error(`${ffmpegPath} -version did not finish within ${timeoutMs} ms`)));
    }, timeoutMs);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      if (output.length < 64 * 1024) output += chunk;
    });
    child.stderr.resume();
    child.once('error', (error) =>
      finish(() =>
        reject(
          new Error(
            `Could not run ${ffmpegPath} (is ffmpeg ${MIN_FFMPEG_MAJOR}+ installed and on PATH?): ${error.message}`,
          ),
        ),
      ),
    );
    child.once('close', (code, signal) =>
      finish(() => {
        if (code !== 0) {
          reject(
            new Error(`${ffmpegPath} -version exited with ${code !== null ? `code ${code}` : `signal ${signal}`}`),
          );
          return;
        }
        try {
          resolve(parseFfmpegVersion(output));
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      }),
    );
  });
}
