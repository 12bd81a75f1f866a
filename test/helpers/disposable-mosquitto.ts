// A throwaway Mosquitto broker on a free loopback port, for the MQTT fault tests that kill the
// broker mid-run. Never touches the shared Mosquitto on 1883 (it binds only the port it was given).
//
// Each broker runs in its own process group from a temp dir under os.tmpdir() named
// facegate-mosquitto-<our pid>-*, with a generated mosquitto.conf:
//   listener <port> 127.0.0.1, allow_anonymous true, log to stdout (the helper's log file);
//   persistence true in the temp dir with autosave_interval 1 s (and autosave_on_changes false):
//   Mosquitto saves retained messages and persistent sessions (clean: false clients, their
//   subscriptions and queued QoS 1 messages) to mosquitto.db, so a restart after a SIGKILL keeps
//   what was saved up to a second before it. A SIGKILL loses at most that last second.
// kill() is SIGKILL (a crash); restart() starts it again on the same port with the same dir.
// Readiness: an MQTT CONNECT answered by a CONNACK (a raw packet over TCP, no client library).
//
// startMosquitto({ tls, passwordFile }) makes the listener TLS (url mqtts://, the given PEM files)
// and/or asks for a user and password (allow_anonymous false, a mosquitto_passwd file). Mosquitto
// reads its password file after dropping root to its own user, which cannot read a test's 0700
// temp dir, so such a broker keeps its user ('user root'; ignored when not started as root).
// Readiness then is any CONNACK (the probe has no password; "not authorised" means it answers),
// over TLS without verifying the certificate (that is what the tests check, with a real client).
// Cleanup is disposable-process.ts's: stop(), the 'exit' hook, setpriv --pdeathsig, stale-dir sweep.
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';

import {
  DisposableProcess,
  dyingWithUs,
  launchOnFreePort,
  runDir,
  sweepStaleDirs,
  type DisposableServer,
} from './disposable-process.js';

/** A disposable Mosquitto; "answers" means it answers an MQTT CONNECT with a CONNACK. */
export interface DisposableMosquitto extends DisposableServer {
  /** mqtt://127.0.0.1:PORT */
  readonly url: string;
  /** SIGSTOP: the broker keeps its connections but answers nothing (a hung host). */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
}

/** What startMosquitto() may add to the plain anonymous listener. */
export interface MosquittoOptions {
  /** A TLS listener (url mqtts://127.0.0.1:PORT) with these PEM files. */
  tls?: { cafile: string; certfile: string; keyfile: string };
  /** Clients must log in with a user of this mosquitto_passwd file (allow_anonymous false). */
  passwordFile?: string;
}

const READY_TIMEOUT_MS = 10_000;
const KILL_TIMEOUT_MS = 10_000;
const DIR_PREFIX = 'facegate-mosquitto-';

function mosquittoBinary(): string {
  return process.env.FACEGATE_MOSQUITTO ?? '/usr/sbin/mosquitto';
}

// MQTT 3.1.1 CONNECT: protocol "MQTT" level 4, clean session, keepalive 10 s, client id "ready".
const CONNECT = Buffer.from([
  0x10, 0x11, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x0a, 0x00, 0x05, 0x72, 0x65, 0x61, 0x64, 0x79,
]);

/**
 * Sends an MQTT CONNECT (over TLS when `overTls`, the certificate unchecked); resolves undefined on
 * a CONNACK with return code 0 (any return code when `anyCode`), else why not.
 */
function connack(port: number, overTls = false, anyCode = false, timeoutMs = 1_000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = overTls
      ? tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false })
      : net.connect({ host: '127.0.0.1', port });
    let received = Buffer.alloc(0);
    const done = (failure: string | undefined): void => {
      socket.destroy();
      resolve(failure);
    };
    socket.setTimeout(timeoutMs, () => done('no CONNACK in time'));
    socket.once('error', (error: Error) => done(error.message));
    socket.once(overTls ? 'secureConnect' : 'connect', () => socket.write(CONNECT));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 4) return;
      if (received[0] !== 0x20) done(`expected a CONNACK but received packet type 0x${received[0]?.toString(16)}`);
      else done(received[3] === 0 || anyCode ? undefined : `CONNACK return code ${received[3]}`);
    });
  });
}

class MosquittoServer extends DisposableProcess implements DisposableMosquitto {
  readonly url: string;
  private readonly configPath: string;

  constructor(
    readonly port: number,
    dir: string,
    private readonly options: MosquittoOptions = {},
  ) {
    super(dir, path.join(dir, 'mosquitto.log'), 4000);
    const { tls: tlsFiles, passwordFile } = options;
    this.url = `${tlsFiles ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`;
    this.configPath = path.join(dir, 'mosquitto.conf');
    writeFileSync(
      this.configPath,
      [
        `listener ${port} 127.0.0.1`,
        ...(tlsFiles
          ? [`cafile ${tlsFiles.cafile}`, `certfile ${tlsFiles.certfile}`, `keyfile ${tlsFiles.keyfile}`]
          : []),
        ...(passwordFile ? ['allow_anonymous false', `password_file ${passwordFile}`] : ['allow_anonymous true']),
        ...(tlsFiles || passwordFile ? ['user root'] : []),
        'persistence true',
        `persistence_location ${dir}${path.sep}`,
        'persistence_file mosquitto.db',
        'autosave_interval 1',
        'autosave_on_changes false',
        'log_dest stdout',
        'log_type error',
        'log_type warning',
        'log_type notice',
        '',
      ].join('\n'),
    );
  }

  /** Spawns mosquitto and waits until it answers CONNECT; throws with its output otherwise. */
  async launch(): Promise<void> {
    if (this.stopped) throw new Error(`Mosquitto at ${this.url} was stopped; start a new one with startMosquitto()`);
    const binary = mosquittoBinary();
    await this.launchProcess(dyingWithUs([binary, '-c', this.configPath]), {
      name: binary,
      timeoutMs: READY_TIMEOUT_MS,
      probe: () => connack(this.port, this.options.tls !== undefined, this.options.passwordFile !== undefined),
      exitedEarly: (how) =>
        `mosquitto on 127.0.0.1:${this.port} exited with ${how} before answering CONNECT; its output:\n${this.launchLog()}`,
      timedOut: (failure) =>
        `mosquitto on 127.0.0.1:${this.port} did not answer CONNECT within ${READY_TIMEOUT_MS} ms (${failure}); its output:\n${this.launchLog()}`,
    });
  }

  kill(): Promise<void> {
    return this.killAndWait('mosquitto', this.port, KILL_TIMEOUT_MS);
  }
}

/**
 * Starts a disposable Mosquitto on a free 127.0.0.1 port and resolves once it answers CONNECT
 * (or rejects after ~10 s with its output). Call stop() when done. `options`: a TLS listener
 * and/or a password file (see the header).
 */
export async function startMosquitto(options: MosquittoOptions = {}): Promise<DisposableMosquitto> {
  sweepStaleDirs(DIR_PREFIX);
  return launchOnFreePort({
    create: (port) => new MosquittoServer(port, runDir(DIR_PREFIX), options),
    bindFailed: /Address already in use/i,
    discard: (server) => server.stop(),
  });
}
