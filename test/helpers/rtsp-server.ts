// A real RTSP camera for tests: GStreamer's RTSP server (rtsp-server.py, TOOLING.md "A real RTSP
// server for tests") on a loopback port, serving rtsp://127.0.0.1:PORT/test as H.264 from a test
// pattern, a still photo, or a slideshow of photos.
//
// Faults: kill() (SIGKILL) is a dead camera, pause() (SIGSTOP) a silent one that still accepts TCP,
// restart() brings it back on the same port. Lifetime as the other disposable servers
// (disposable-process.ts): its own process group, setpriv --pdeathsig, a process 'exit' hook.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  DisposableProcess,
  dyingWithUs,
  launchOnFreePort,
  runDir,
  sweepStaleDirs,
  type DisposableServer,
} from './disposable-process.js';

export interface RtspServerOptions {
  /** A still photo (JPEG or PNG), served as a live stream. */
  image?: string;
  /** A slideshow: each photo for secondsPerImage, in order, looping (starts when the first client connects). */
  images?: string[];
  /** Seconds per photo of a slideshow; default 3. */
  secondsPerImage?: number;
  /** videotestsrc's moving ball. The default when no image is given. */
  pattern?: boolean;
  /** A fixed port (else a free one). */
  port?: number;
  /** Stream size; photos are letterboxed into it. Default 640 x 480 (even). */
  width?: number;
  height?: number;
  /** Stream frame rate; default 15. */
  fps?: number;
}

export interface RtspTestServer extends DisposableServer {
  /** rtsp://127.0.0.1:PORT/test */
  readonly url: string;
  /** SIGKILL: a dead camera. Resolves once the port refuses connections. */
  kill(): Promise<void>;
  /** SIGSTOP: a silent camera (the kernel still accepts TCP connections). */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
  /** Back on the same port (killing it first if it runs); resolves once it answers RTSP OPTIONS. */
  restart(): Promise<void>;
  /** The server's output (slide changes, GStreamer errors). */
  log(): string;
}

const READY_TIMEOUT_MS = 20_000; // GStreamer's first run in a fresh home scans every plugin
const KILL_TIMEOUT_MS = 10_000;
const DIR_PREFIX = 'facegate-rtsp-';
const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'rtsp-server.py');
/** Debian's python3, which has python3-gi; the pyenv python3 first on PATH does not (TOOLING.md). */
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/**
 * The server's Debian packages (TOOLING.md), checked once before the first start so that a
 * machine without them fails with the package to install, not with a Python traceback.
 * scripts/test.sh installs them.
 */
const PACKAGE_CHECKS: readonly { package: string; python: string }[] = [
  { package: 'python3-gi', python: 'import gi' },
  { package: 'gir1.2-gst-rtsp-server-1.0', python: "import gi; gi.require_version('GstRtspServer', '1.0')" },
  {
    package: 'gstreamer1.0-plugins-ugly',
    python:
      "import gi, sys; gi.require_version('Gst', '1.0'); from gi.repository import Gst; Gst.init(None); sys.exit(0 if Gst.ElementFactory.find('x264enc') else 1)",
  },
  {
    package: 'gstreamer1.0-plugins-good',
    python:
      "import gi, sys; gi.require_version('Gst', '1.0'); from gi.repository import Gst; Gst.init(None); sys.exit(0 if Gst.ElementFactory.find('rtph264pay') else 1)",
  },
];
let packagesChecked = false;

function requireServerPackages(): void {
  if (packagesChecked) return;
  const missing = PACKAGE_CHECKS.filter(
    (c) => spawnSync(PYTHON, ['-I', '-c', c.python], { stdio: 'ignore', timeout: 60_000 }).status !== 0,
  );
  if (missing.length > 0) {
    const names = missing.map((c) => c.package).join(' ');
    throw new Error(
      `The RTSP test server needs the Debian packages ${names} (not usable here): install them (scripts/test.sh does) with apt-get install ${names}`,
    );
  }
  packagesChecked = true;
}

/** Sends RTSP OPTIONS over TCP; undefined when the server answers "RTSP/1.0 200", else why not. */
function rtspOptions(port: number, timeoutMs = 1_000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let received = '';
    const done = (failure: string | undefined): void => {
      socket.destroy();
      resolve(failure);
    };
    socket.setTimeout(timeoutMs, () => done('no answer to OPTIONS'));
    socket.once('error', (error) => done(error.message));
    socket.once('connect', () => socket.write(`OPTIONS rtsp://127.0.0.1:${port}/test RTSP/1.0\r\nCSeq: 1\r\n\r\n`));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (received.includes('\r\n'))
        done(received.startsWith('RTSP/1.0 200') ? undefined : `answered "${received.split('\r\n')[0]}"`);
    });
  });
}

function sourceArgs(options: RtspServerOptions): string[] {
  const images = [...(options.image !== undefined ? [options.image] : []), ...(options.images ?? [])];
  if (options.pattern && images.length)
    throw new Error('Expected either pattern or image(s) for the RTSP server but received both');
  for (const image of images) {
    if (!existsSync(image)) throw new Error(`Expected a photo for the RTSP server but ${image} does not exist`);
  }
  const args = images.length ? images.flatMap((image) => ['--image', path.resolve(image)]) : ['--pattern'];
  if (options.secondsPerImage !== undefined) args.push('--seconds', String(options.secondsPerImage));
  if (options.width !== undefined) args.push('--width', String(options.width));
  if (options.height !== undefined) args.push('--height', String(options.height));
  if (options.fps !== undefined) args.push('--fps', String(options.fps));
  return args;
}

// Servers on a caller-chosen port do not go through launchOnFreePort(), whose tracking registers
// the 'exit' hook; they get the same hook here.
const fixedPortServers = new Set<RtspServer>();
let exitHookInstalled = false;

function trackFixedPort(server: RtspServer): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const left of fixedPortServers) left.destroySync();
    });
  }
  fixedPortServers.add(server);
}

class RtspServer extends DisposableProcess implements RtspTestServer {
  readonly url: string;

  constructor(
    readonly port: number,
    dir: string,
    private readonly source: string[],
  ) {
    super(dir, path.join(dir, 'rtsp-server.log'), 4000);
    this.url = `rtsp://127.0.0.1:${port}/test`;
  }

  async launch(): Promise<void> {
    if (this.stopped)
      throw new Error(`The RTSP server at ${this.url} was stopped; start a new one with startRtspServer()`);
    // -I: ignore PYTHON* variables and user site-packages (pyenv's), use Debian's dist-packages only.
    const argv = [PYTHON, '-I', SCRIPT, '--port', String(this.port), ...this.source];
    await this.launchProcess(dyingWithUs(argv), {
      name: `${PYTHON} ${SCRIPT}`,
      timeoutMs: READY_TIMEOUT_MS,
      probe: () => rtspOptions(this.port),
      exitedEarly: (how) =>
        `The RTSP server on 127.0.0.1:${this.port} exited with ${how} before answering; its output:\n${this.launchLog()}`,
      timedOut: (failure) =>
        `The RTSP server on 127.0.0.1:${this.port} did not answer within ${READY_TIMEOUT_MS} ms (${failure}); its output:\n${this.launchLog()}`,
    });
  }

  kill(): Promise<void> {
    return this.killAndWait('The RTSP server', this.port, KILL_TIMEOUT_MS);
  }

  override async stop(): Promise<void> {
    await super.stop();
    fixedPortServers.delete(this);
  }
}

/**
 * Starts GStreamer's RTSP server on 127.0.0.1 and resolves once it answers RTSP OPTIONS (or rejects
 * with its output after ~20 s). Frames reach a client about 1-3 s after it connects. Call stop()
 * when done.
 */
export async function startRtspServer(options: RtspServerOptions = {}): Promise<RtspTestServer> {
  requireServerPackages();
  sweepStaleDirs(DIR_PREFIX);
  const source = sourceArgs(options);
  if (options.port === undefined) {
    return launchOnFreePort({
      create: (port) => new RtspServer(port, runDir(DIR_PREFIX), source),
      bindFailed: /could not bind/i,
      discard: (server) => server.stop(),
    });
  }
  const server = new RtspServer(options.port, runDir(DIR_PREFIX), source);
  trackFixedPort(server);
  try {
    await server.launch();
  } catch (error) {
    await server.stop();
    throw error;
  }
  return server;
}
