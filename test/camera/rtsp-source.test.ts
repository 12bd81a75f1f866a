// Camera ingest against a real RTSP server (GStreamer's, test/helpers/rtsp-server.ts) and the real
// ffmpeg: whole frames at the configured rate, drops under a slow pipeline, and the two camera
// faults TOOLING.md describes (a dead camera: ffmpeg exits 0; a silent one: ffmpeg hangs).
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import type { CameraStatusChange, Frame } from '../../src/camera/camera-source.js';
import {
  assertSupportedFfmpeg,
  buildFfmpegArgs,
  parseFfmpegVersion,
  probeFfmpegVersion,
  UnsupportedFfmpegError,
  validateCameraUrl,
} from '../../src/camera/ffmpeg-args.js';
import { redactCredentials, redactUrl } from '../../storage/redact.js';
import { RtspSource, type RtspSourceOptions } from '../../src/camera/rtsp-source.js';
import type { RgbImage } from '../../src/vision/types.js';
import { freePort } from '../helpers/free-port.js';
import { startRtspServer, type RtspTestServer } from '../helpers/rtsp-server.js';
import { FACES_DIR } from '../helpers/shared-data.js';
import { until } from '../helpers/until.js';

const OBAMA = path.join(FACES_DIR, 'obama', 'obama.jpg');
const BIDEN = path.join(FACES_DIR, 'biden', 'biden.jpg');

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Mean of all channels over columns [x0, x1) of every row. */
function meanLevel(image: RgbImage, x0 = 0, x1 = image.width): number {
  let sum = 0;
  for (let y = 0; y < image.height; y++) {
    const row = y * image.width * 3;
    for (let i = row + x0 * 3; i < row + x1 * 3; i++) sum += image.data[i] ?? 0;
  }
  return sum / (image.height * (x1 - x0) * 3);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('ffmpeg arguments', () => {
  const url = 'rtsp://127.0.0.1:8554/test';

  it("uses TOOLING.md's tested arguments with fps, size and timeout from the options", () => {
    const args = buildFfmpegArgs({ url, fps: 2, width: 320, height: 240, ioTimeoutMs: 1500 });
    expect(args.join(' ')).toContain(
      '-nostdin -rtsp_transport tcp -timeout 1500000 -xerror -fflags nobuffer -analyzeduration 500000 -probesize 200000 -threads 1 -i rtsp://127.0.0.1:8554/test -filter_threads 1 -an -vf fps=2,scale=320:240',
    );
    expect(args.slice(-5)).toEqual(['-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1']);
  });

  it('decodes on one thread (at 8+ cameras on 2 cores every ffmpeg thread competes with the models)', () => {
    for (const input of [url, 'slideshow:list.txt', 'replay:scene.mp4']) {
      const args = buildFfmpegArgs({ url: input, ioTimeoutMs: 1000 });
      const i = args.indexOf('-i');
      expect(args.slice(0, i).join(' ')).toContain('-threads 1');
      expect(args.slice(i).join(' ')).toContain('-filter_threads 1 -an');
    }
  });

  it('replays a recorded video file in real time, in a loop, without re-encoding (replay:<file>)', () => {
    const args = buildFfmpegArgs({ url: 'replay:/tmp/scene one.mp4', ioTimeoutMs: 1000 });
    expect(args.join(' ')).toContain('-re -threads 1 -stream_loop -1 -i /tmp/scene one.mp4');
    expect(args).not.toContain('-rtsp_transport');
    expect(() => buildFfmpegArgs({ url: 'replay: ', ioTimeoutMs: 1000 })).toThrow(/replay:<path of a video file>/);
  });

  it('defaults to 5 fps at 1280x720 (what the configuration gives serve), letterboxed so faces keep their proportions', () => {
    const vf = buildFfmpegArgs({ url, ioTimeoutMs: 1000 }).at(-6);
    expect(vf).toBe(
      'fps=5,scale=1280:720:force_original_aspect_ratio=decrease,pad=1280:720:(ow-iw)/2:(oh-ih)/2,setsar=1',
    );
    expect(buildFfmpegArgs({ url, ioTimeoutMs: 1000, fit: 'stretch' }).at(-6)).toBe('fps=5,scale=1280:720,setsar=1');
  });

  it('refuses odd, zero or absurd frame sizes and rates', () => {
    expect(() => buildFfmpegArgs({ url, width: 641, ioTimeoutMs: 1000 })).toThrow(
      /even integer .* width but received 641/,
    );
    expect(() => buildFfmpegArgs({ url, height: 0, ioTimeoutMs: 1000 })).toThrow(/height but received 0/);
    expect(() => buildFfmpegArgs({ url, fps: 0, ioTimeoutMs: 1000 })).toThrow(/fps but received 0/);
    expect(() => buildFfmpegArgs({ url, fps: Number.NaN, ioTimeoutMs: 1000 })).toThrow(/fps/);
  });

  it('accepts only rtsp:// and rtsps:// URLs with a host', () => {
    expect(validateCameraUrl('rtsp://admin:pw@10.0.0.5:554/Streaming/Channels/101').hostname).toBe('10.0.0.5');
    expect(validateCameraUrl('rtsps://cam.example/stream').protocol).toBe('rtsps:');
    for (const bad of [
      '',
      'http://cam/stream',
      'file:///etc/passwd',
      '/tmp/video.mp4',
      'concat:a|b',
      'rtsp://',
      ' rtsp://cam/x',
      'rtsp://cam/x\ny',
    ]) {
      expect(() => validateCameraUrl(bad), bad).toThrow(/Expected an rtsp:\/\/ or rtsps:\/\/ camera URL/);
    }
  });

  it('hides user:pass@ and password parameters in URLs and in free text', () => {
    expect(redactUrl('rtsp://admin:s3cret@10.0.0.5:554/live')).toBe('rtsp://***@10.0.0.5:554/live');
    expect(redactUrl('rtsp://10.0.0.5/live?user=admin&password=s3cret')).toBe(
      'rtsp://10.0.0.5/live?user=admin&password=***',
    );
    expect(redactUrl('rtsp://cam/x')).toBe('rtsp://cam/x');
    expect(redactUrl('rtsp://admin:s3cret@[bad')).not.toContain('s3cret');
    const stderr =
      '[rtsp @ 0x55] method DESCRIBE failed: 401 Unauthorized\nrtsp://admin:s3cret@10.0.0.5/live: Server returned 401';
    expect(redactCredentials(stderr)).toBe(
      '[rtsp @ 0x55] method DESCRIBE failed: 401 Unauthorized\nrtsp://***@10.0.0.5/live: Server returned 401',
    );
  });

  it('keeps credentials out of the error for a refused URL', () => {
    expect(() => validateCameraUrl('http://admin:s3cret@cam/x')).toThrow(/http:\/\/\*\*\*@cam\/x/);
    expect(() => validateCameraUrl('http://admin:s3cret@cam/x')).not.toThrow(/s3cret/);
  });

  it('reads the major version of release and git builds, and refuses ffmpeg 4', () => {
    expect(parseFfmpegVersion('ffmpeg version 5.1.9-0+deb12u1 Copyright (c) 2000-2026').major).toBe(5);
    expect(parseFfmpegVersion('ffmpeg version n6.1.1 Copyright').major).toBe(6);
    expect(
      parseFfmpegVersion('ffmpeg version 2024-03-04-git-e30369bc1c-full_build-www.gyan.dev\nlibavformat    61.  1.100')
        .major,
    ).toBe(7);
    const old = parseFfmpegVersion('ffmpeg version 4.4.2-0ubuntu0.22.04.1 Copyright');
    expect(() => assertSupportedFfmpeg(old)).toThrow(UnsupportedFfmpegError);
    expect(() => assertSupportedFfmpeg(old)).toThrow(/Expected ffmpeg 5 or later but ffmpeg is version 4.4.2/);
    expect(() => parseFfmpegVersion('command not found')).toThrow(UnsupportedFfmpegError);
  });

  it('finds ffmpeg 5 or later installed', async () => {
    const found = await probeFfmpegVersion();
    expect(found.major).toBeGreaterThanOrEqual(5);
  });
});

describe('RtspSource against a real RTSP server', () => {
  let photo: RtspTestServer;
  const sources: RtspSource[] = [];

  beforeAll(async () => {
    photo = await startRtspServer({ image: OBAMA });
  });

  afterAll(async () => {
    await photo?.stop();
  });

  afterEach(async () => {
    await Promise.all(sources.splice(0).map((source) => source.stop()));
  });

  /** A started source that records what it reports. */
  function open(options: Partial<RtspSourceOptions> & { url: string }, onFrame?: (frame: Frame) => Promise<void>) {
    const statuses: CameraStatusChange[] = [];
    const frames: Frame[] = [];
    const source = new RtspSource(
      // 640x360 frames: the pictures these tests measure were laid out at that size (a quarter of the default's pixels).
      {
        cameraId: 'cam-1',
        watchdogMs: 1500,
        firstFrameTimeoutMs: 8000,
        backoff: { initialMs: 250, maxMs: 1000 },
        width: 640,
        height: 360,
        ...options,
      },
      {
        onFrame: async (frame) => {
          frames.push(frame);
          if (frames.length > 50) frames.shift();
          await onFrame?.(frame);
        },
        onStatus: (change) => statuses.push(change),
      },
    );
    sources.push(source);
    const startedMs = performance.now();
    source.start();
    const states = (): string => statuses.map((s) => s.state).join(',');
    const last = (): CameraStatusChange | undefined => statuses.at(-1);
    return { source, statuses, frames, startedMs, states, last };
  }

  it('goes connecting -> online on the first frame and delivers whole, plausible RGB frames at the configured rate', async () => {
    const cam = open({ url: photo.url, fps: 5 });
    await until('the first frame', () => cam.frames.length > 0, 15_000);
    const firstFrameMs = cam.frames[0]!.receivedMs - cam.startedMs;
    console.info(`[timing] first frame ${Math.round(firstFrameMs)} ms after start()`);
    expect(cam.states()).toBe('connecting,online');
    expect(cam.last()?.reason).toMatch(/^first frame after \d+ ms$/);

    const frame = cam.frames[0]!;
    expect(frame.image.width).toBe(640);
    expect(frame.image.height).toBe(360);
    expect(frame.image.data.length).toBe(640 * 360 * 3);
    expect(frame.cameraId).toBe('cam-1');
    // obama.jpg is portrait: letterboxed into 640x360 it has black bars left and right and the
    // photo in the middle.
    expect(meanLevel(frame.image, 0, 40)).toBeLessThan(20);
    expect(meanLevel(frame.image, 200, 440)).toBeGreaterThan(40);

    // The rate, counted over 3 s once the stream has settled (ffmpeg's fps filter may emit a burst
    // at the start).
    const from = frame.receivedMs + 1000;
    await sleep(4200);
    const inWindow = cam.frames.filter((f) => f.receivedMs >= from && f.receivedMs < from + 3000).length;
    console.info(`[timing] ${inWindow} frames in 3 s at fps=5`);
    expect(inWindow).toBeGreaterThanOrEqual(12);
    expect(inWindow).toBeLessThanOrEqual(18);
    const sequences = cam.frames.map((f) => f.sequence);
    expect(sequences).toEqual(sequences.map((_, i) => sequences[0]! + i));
    expect(cam.source.stats()).toMatchObject({ cameraId: 'cam-1', state: 'online', framesDropped: 0, reconnects: 0 });
  });

  it('drops frames for a slow pipeline and never holds more than one frame waiting', async () => {
    let running = 0;
    let maxRunning = 0;
    let delivered = 0;
    const cam = open({ url: photo.url, fps: 5 }, async () => {
      delivered++;
      running++;
      maxRunning = Math.max(maxRunning, running);
      await sleep(1000);
      running--;
    });
    await until('online', () => cam.source.stats().state === 'online', 15_000);
    const baseline = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 8; i++) {
      await sleep(500);
      const { framesReceived, framesDropped } = cam.source.stats();
      // Each received frame was delivered, dropped, or is the one waiting.
      expect(framesReceived - framesDropped - delivered).toBeGreaterThanOrEqual(0);
      expect(framesReceived - framesDropped - delivered).toBeLessThanOrEqual(1);
    }
    const stats = cam.source.stats();
    console.info(
      `[drops] slow onFrame (1 s): received ${stats.framesReceived}, delivered ${delivered}, dropped ${stats.framesDropped}`,
    );
    expect(maxRunning).toBe(1);
    expect(stats.framesDropped).toBeGreaterThanOrEqual(8);
    expect(delivered).toBeLessThanOrEqual(6);
    // Dropped frames reuse their buffer: 4 s at 5 fps of 691 kB frames must not pile up.
    expect(process.memoryUsage().arrayBuffers - baseline).toBeLessThan(30 * 1024 * 1024);
  });

  it('stop() ends ffmpeg, reports offline and delivers nothing more', async () => {
    const cam = open({ url: photo.url });
    await until('online', () => cam.source.stats().state === 'online', 15_000);
    const pid = cam.source.pid;
    expect(pid).toBeDefined();
    expect(pidAlive(pid!)).toBe(true);
    const stoppingMs = performance.now();
    await cam.source.stop();
    console.info(`[timing] stop() resolved ${Math.round(performance.now() - stoppingMs)} ms after it was called`);
    expect(pidAlive(pid!)).toBe(false);
    expect(cam.source.pid).toBeUndefined();
    expect(cam.last()).toMatchObject({ state: 'offline', reason: 'stopped' });
    const count = cam.frames.length;
    await sleep(600);
    expect(cam.frames.length).toBe(count);
    expect(() => cam.source.start()).toThrow(/was stopped/);
  });

  it('refuses a URL that is not RTSP with a clear error, before starting anything', () => {
    const callbacks = { onFrame: async () => {}, onStatus: () => {} };
    expect(() => new RtspSource({ cameraId: 'c', url: 'http://admin:pw@cam/video' }, callbacks)).toThrow(
      'Expected an rtsp:// or rtsps:// camera URL with a host but received "http://***@cam/video": the scheme is http',
    );
    expect(() => new RtspSource({ cameraId: 'c', url: OBAMA }, callbacks)).toThrow(/rtsp:\/\//);
    expect(() => new RtspSource({ cameraId: 'c', url: 'rtsp://cam/x', width: 639 }, callbacks)).toThrow(/width/);
    expect(() => new RtspSource({ cameraId: '', url: 'rtsp://cam/x' }, callbacks)).toThrow(/cameraId/);
  });

  it('backs off exponentially up to maxMs while the camera is unreachable', async () => {
    const cam = open({ url: `rtsp://127.0.0.1:${await freePort()}/test`, backoff: { initialMs: 100, maxMs: 400 } });
    await until('six failed attempts', () => cam.statuses.filter((s) => s.state === 'offline').length >= 6, 10_000);
    expect(cam.statuses.slice(0, 12).map((s) => s.state)).toEqual(Array(6).fill(['connecting', 'offline']).flat());
    expect(cam.statuses[1]?.reason).toMatch(/^ffmpeg exited with code [1-9]/);
    const delays = cam.statuses
      .filter((s) => s.state === 'connecting')
      .slice(1, 6)
      .map((s) => Number(/after (\d+) ms/.exec(s.reason)?.[1]));
    expect(delays).toEqual([100, 200, 400, 400, 400]);
    const gaps = cam.statuses
      .slice(1, 11)
      .flatMap((s, i, all) => (s.state === 'offline' && all[i + 1] ? [all[i + 1]!.at.getTime() - s.at.getTime()] : []));
    gaps.forEach((gap, i) => expect(gap).toBeGreaterThanOrEqual((delays[i] ?? 0) - 2));
    expect(cam.source.stats()).toMatchObject({ framesReceived: 0, lastFrameAt: null });
  });

  it('reports an ffmpeg that cannot be run as offline and keeps retrying', async () => {
    const cam = open({
      url: photo.url,
      ffmpegPath: path.join(os.tmpdir(), 'no-such-dir', 'ffmpeg'),
      backoff: { initialMs: 100, maxMs: 200 },
    });
    await until('a retry', () => cam.source.stats().reconnects >= 2, 5_000);
    expect(cam.statuses.find((s) => s.state === 'offline')?.reason).toMatch(/Could not run .*ffmpeg/);
  });

  it.skipIf(process.platform === 'win32')('refuses ffmpeg 4 once, clearly, without retrying', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'facegate-old-ffmpeg-'));
    try {
      const fake = path.join(dir, 'ffmpeg');
      writeFileSync(fake, '#!/bin/sh\necho "ffmpeg version 4.4.2-0ubuntu0.22.04.1 Copyright (c) 2000-2021"\n');
      chmodSync(fake, 0o755);
      const cam = open({ url: photo.url, ffmpegPath: fake, backoff: { initialMs: 50, maxMs: 50 } });
      await until('offline', () => cam.last()?.state === 'offline', 5_000);
      await sleep(300);
      expect(cam.last()?.reason).toMatch(/Expected ffmpeg 5 or later .* version 4\.4\.2/);
      expect(cam.source.stats().reconnects).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('camera faults', () => {
    let camera: RtspTestServer;

    beforeAll(async () => {
      camera = await startRtspServer({ image: OBAMA });
    });

    afterAll(async () => {
      await camera?.stop();
    });

    it('goes offline when the camera dies and comes back by itself when it returns on the same port', async () => {
      const cam = open({ url: camera.url, backoff: { initialMs: 250, maxMs: 1000, resetAfterMs: 1000 } });
      await until('online', () => cam.last()?.state === 'online', 15_000);

      const killedMs = performance.now();
      await camera.kill();
      await until('offline', () => cam.last()?.state === 'offline', 5_000);
      const offlineMs = performance.now() - killedMs;
      console.info(`[timing] offline ${Math.round(offlineMs)} ms after SIGKILL of the server: ${cam.last()?.reason}`);
      expect(cam.last()?.reason).toMatch(/^ffmpeg exited with code \d+$/);
      expect(offlineMs).toBeLessThan(1500);

      // While the camera is gone every attempt fails at once: connecting -> offline, backing off.
      await sleep(1500);
      expect(cam.source.stats().reconnects).toBeGreaterThanOrEqual(1);
      expect(cam.source.stats().state).not.toBe('online');

      const restartMs = performance.now();
      await camera.restart();
      await until('online again', () => cam.last()?.state === 'online', 20_000);
      console.info(
        `[timing] online ${Math.round(performance.now() - restartMs)} ms after the server restarted (backoff max 1000 ms)`,
      );
      const states = cam.states();
      expect(states.startsWith('connecting,online,offline,connecting')).toBe(true);
      expect(states.endsWith('connecting,online')).toBe(true);
      const framesBefore = cam.source.stats().framesReceived;
      await until('frames after the reconnect', () => cam.source.stats().framesReceived > framesBefore + 2, 5_000);

      // Online longer than resetAfterMs: the backoff starts over at initialMs on the next failure.
      await sleep(1200);
      const seen = cam.statuses.length;
      await camera.kill();
      await until('a retry', () => cam.statuses.slice(seen).some((s) => s.state === 'connecting'), 5_000);
      expect(cam.statuses.slice(seen).find((s) => s.state === 'connecting')?.reason).toMatch(
        /^reconnecting after 250 ms/,
      );
      await camera.restart();
    });

    it('kills a silent ffmpeg with the watchdog and comes back when the camera speaks again', async () => {
      const cam = open({ url: camera.url });
      await until('online', () => cam.last()?.state === 'online', 15_000);

      const pausedMs = performance.now();
      camera.pause();
      try {
        await until('offline', () => cam.last()?.state === 'offline', 10_000);
        const offlineMs = performance.now() - pausedMs;
        console.info(
          `[timing] offline ${Math.round(offlineMs)} ms after SIGSTOP of the server (watchdog 1500 ms): ${cam.last()?.reason}`,
        );
        expect(cam.last()?.reason).toBe('no frame for 1500 ms (watchdog)');
        expect(offlineMs).toBeGreaterThan(1000);
        expect(offlineMs).toBeLessThan(1500 + 1000);
      } finally {
        camera.resume();
      }
      const resumedMs = performance.now();
      await until('online again', () => cam.last()?.state === 'online', 20_000);
      console.info(`[timing] online ${Math.round(performance.now() - resumedMs)} ms after SIGCONT`);
    });
  });

  it('serves a slideshow of several photos, each for its seconds', async () => {
    const show = await startRtspServer({ images: [OBAMA, BIDEN], secondsPerImage: 1.5 });
    try {
      const levels: number[] = [];
      const cam = open({ url: show.url, fps: 4, width: 160, height: 90 }, (frame) => {
        levels.push(meanLevel(frame.image));
        return Promise.resolve();
      });
      await until('frames over two slide changes', () => levels.length >= 20, 20_000);
      expect(cam.source.stats().framesDropped).toBe(0);
      // The two photos differ clearly in brightness (about 54 against 31 here): both must appear,
      // and the stream must switch between them more than once.
      const bright = levels.map((level) => level > (Math.max(...levels) + Math.min(...levels)) / 2);
      const switches = bright.slice(1).filter((b, i) => b !== bright[i]).length;
      expect(Math.max(...levels) - Math.min(...levels)).toBeGreaterThan(10);
      expect(switches).toBeGreaterThanOrEqual(2);
    } finally {
      await show.stop();
    }
  });
});
