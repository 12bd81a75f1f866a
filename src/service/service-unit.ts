// The files that make `facegate serve` a background service: a systemd unit on Linux and a WinSW
// 2.12 XML on Windows (TOOLING.md "Services": node.exe cannot be a Windows service by itself).
// Pure text generators: `facegate service print|install` decides where they go.
import { quoteReceived } from '../../storage/checks.js';

export interface SystemdUnitOptions {
  /** The node binary (absolute). */
  execPath: string;
  /** dist/src/cli/main.js (absolute). */
  cliPath: string;
  /** FACEGATE_CONFIG for the service; absent: the CLI's own defaults. */
  configFile?: string | undefined;
  /** The account the service runs as; absent: root. */
  user?: string | undefined;
  /** The data root (FACEGATE_DATA_DIR): the one place the service writes. */
  dataDir: string;
  description?: string | undefined;
}

function refuseControlCharacters(name: string, value: string): string {
  // A newline would end the directive and start another one of the caller's choosing.
  if ([...value].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) {
    throw new RangeError(
      `Expected ${name} without control characters (newline, tab...) but received ${quoteReceived(value)}`,
    );
  }
  return value;
}

/** systemd expands %-specifiers in almost every setting; a literal % is written %%. */
const escapeSpecifiers = (value: string): string => value.replace(/%/g, '%%');

/**
 * One word of a systemd command line or list setting: double-quoted (C-style escapes) when it holds
 * whitespace, quotes or backslashes, with %-specifiers escaped, and `$` doubled when `dollar`
 * (ExecStart= substitutes $VAR).
 */
function systemdWord(name: string, value: string, dollar = false): string {
  let word = escapeSpecifiers(refuseControlCharacters(name, value));
  if (dollar) word = word.replace(/\$/g, '$$$$');
  return /[\s"'\\]/.test(word) || word === '' ? `"${word.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` : word;
}

function requireAbsolute(name: string, value: string): string {
  if (!value.startsWith('/'))
    throw new RangeError(`Expected ${name} to be an absolute path but received ${quoteReceived(value)}`);
  return value;
}

/** `/var/lib/x/y` -> `x/y` when systemd can manage it as StateDirectory= (a plain relative path). */
function stateDirectoryOf(dataDir: string): string | undefined {
  const match = /^\/var\/lib\/+(.+?)\/*$/.exec(dataDir);
  const relative = match?.[1];
  if (relative === undefined || !/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(relative)) return undefined;
  return relative.split('/').some((part) => part === '.' || part === '..') ? undefined : relative;
}

/** The text of /etc/systemd/system/facegate.service. */
export function systemdUnit(opts: SystemdUnitOptions): string {
  const execPath = requireAbsolute('execPath', opts.execPath);
  const cliPath = requireAbsolute('cliPath', opts.cliPath);
  const dataDir = requireAbsolute('dataDir', opts.dataDir).replace(/(.)\/+$/, '$1');
  const description = refuseControlCharacters('description', opts.description ?? 'facegate face-recognition appliance');
  const stateDirectory = stateDirectoryOf(dataDir);
  const env = (name: string, value: string): string => `Environment=${systemdWord(name, `${name}=${value}`)}`;

  const lines = [
    '[Unit]',
    `Description=${escapeSpecifiers(description)}`,
    // The servers it may use start first when they run on this machine; absent units are ignored.
    'After=network-online.target postgresql.service redis-server.service',
    'Wants=network-online.target',
    // Never give up restarting: an appliance left alone for months must come back by itself.
    'StartLimitIntervalSec=0',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${systemdWord('execPath', execPath, true)} ${systemdWord('cliPath', cliPath, true)} serve`,
    ...(opts.configFile !== undefined ? [env('FACEGATE_CONFIG', requireAbsolute('configFile', opts.configFile))] : []),
    env('FACEGATE_DATA_DIR', dataDir),
    'Environment=NODE_ENV=production',
    ...(opts.user !== undefined ? [`User=${systemdWord('user', opts.user)}`] : []),
    'Restart=always',
    'RestartSec=5',
    // SIGTERM goes to node and its ffmpeg children alike; serve drains and flushes within the timeout.
    'KillMode=control-group',
    'TimeoutStopSec=30',
    // Logs are JSON lines on stdout/stderr: the journal keeps and rotates them.
    'StandardOutput=journal',
    'StandardError=journal',
    'UMask=0027',
    // Hardening that leaves the data root writable (StateDirectory= or ReadWritePaths=) and everything
    // else read-only. No MemoryDenyWriteExecute (V8's JIT needs it) and no PrivateDevices (GPU inference).
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'ProtectHome=read-only',
    'PrivateTmp=yes',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectKernelLogs=yes',
    'ProtectControlGroups=yes',
    'ProtectClock=yes',
    'RestrictSUIDSGID=yes',
    'RestrictRealtime=yes',
    'RestrictNamespaces=yes',
    'LockPersonality=yes',
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK',
    ...(stateDirectory !== undefined
      ? [`StateDirectory=${stateDirectory}`, 'StateDirectoryMode=0750']
      : [`ReadWritePaths=${systemdWord('dataDir', dataDir)}`]),
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ];
  return lines.join('\n');
}

export interface WinswOptions {
  /** The Windows service name (no spaces). */
  id: string;
  /** The display name. */
  name: string;
  /** node.exe (absolute). */
  execPath: string;
  /** dist\src\cli\main.js (absolute). */
  cliPath: string;
  configFile?: string | undefined;
  /** FACEGATE_DATA_DIR for the service; absent: the CLI's own default. */
  dataDir?: string | undefined;
  /** Where WinSW writes the service's stdout/stderr logs (WinSW expands %BASE%, %ProgramData%...). */
  logDir: string;
  /** How long serve gets to drain and flush after Ctrl+C before WinSW kills it; default 30. */
  stopTimeoutSeconds?: number | undefined;
  description?: string | undefined;
}

/** Escapes text for an XML element or a double-quoted attribute. */
export function xmlEscape(value: string): string {
  // XML 1.0 forbids most control characters even as references.
  if ([...value].some((c) => c.charCodeAt(0) < 0x20 && c !== '\t' && c !== '\n' && c !== '\r')) {
    throw new RangeError(`Expected text without control characters but received ${quoteReceived(value)}`);
  }
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** Log files roll at 10 MiB (WinSW counts sizeThreshold in KB), 8 kept: at most about 90 MB of logs. */
const LOG_ROLL_KB = 10 * 1024;
const LOG_KEEP_FILES = 8;

/** The text of facegate-service.xml, WinSW 2.12's configuration beside facegate-service.exe. */
export function winswXml(opts: WinswOptions): string {
  const stop = opts.stopTimeoutSeconds ?? 30;
  if (!(Number.isInteger(stop) && stop >= 1 && stop <= 3600)) {
    throw new RangeError(
      `Expected stopTimeoutSeconds to be an integer from 1 to 3600 but received ${String(opts.stopTimeoutSeconds)}`,
    );
  }
  if (!/^[A-Za-z0-9._-]+$/.test(opts.id)) {
    throw new RangeError(
      `Expected a service id of letters, digits, ".", "_" or "-" but received ${quoteReceived(opts.id)}`,
    );
  }
  const x = xmlEscape;
  const env = (name: string, value: string | undefined): string[] =>
    value !== undefined ? [`  <env name="${x(name)}" value="${x(value)}"/>`] : [];
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!-- Generated by `facegate service print|install`: WinSW 2.12 configuration. -->',
    '<service>',
    `  <id>${x(opts.id)}</id>`,
    `  <name>${x(opts.name)}</name>`,
    `  <description>${x(opts.description ?? 'facegate face-recognition appliance')}</description>`,
    `  <executable>${x(opts.execPath)}</executable>`,
    `  <arguments>${x(`"${opts.cliPath}" serve`)}</arguments>`,
    ...env('FACEGATE_CONFIG', opts.configFile),
    ...env('FACEGATE_DATA_DIR', opts.dataDir),
    '  <env name="NODE_ENV" value="production"/>',
    '  <startmode>Automatic</startmode>',
    // Starts after the boot rush, when the network and a local PostgreSQL are more likely up.
    '  <delayedAutoStart>true</delayedAutoStart>',
    '  <onfailure action="restart" delay="10 sec"/>',
    '  <onfailure action="restart" delay="10 sec"/>',
    '  <onfailure action="restart" delay="60 sec"/>',
    '  <resetfailure>1 hour</resetfailure>',
    // Ctrl+C reaches node first, so serve drains and flushes before its ffmpeg children go.
    '  <stopparentprocessfirst>true</stopparentprocessfirst>',
    `  <stoptimeout>${stop} sec</stoptimeout>`,
    `  <logpath>${x(opts.logDir)}</logpath>`,
    '  <log mode="roll-by-size">',
    `    <sizeThreshold>${LOG_ROLL_KB}</sizeThreshold>`,
    `    <keepFiles>${LOG_KEEP_FILES}</keepFiles>`,
    '  </log>',
    '</service>',
    '',
  ].join('\r\n');
}
