// `facegate service print|install|uninstall`: `facegate serve` as a systemd unit on Linux or a
// WinSW 2.12 service on Windows. `print` shows what install would write, so it can be checked
// anywhere. Nothing is downloaded: on Windows WinSW's exe must already sit beside the XML.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { quoteReceived } from '../../../storage/checks.js';
import { readEnvironment } from '../../config/environment.js';
import { projectRoot } from '../../../core/project-root.js';
import { systemdUnit, winswXml } from '../../service/service-unit.js';
import { UsageError } from '../usage-error.js';

export const serviceUsage = `facegate service print|install|uninstall [--platform linux|windows] [--config FILE] [--user NAME] [--json]
  Runs \`facegate serve\` as a service. print: the file install would write and where.
  Linux: /etc/systemd/system/facegate.service, then systemctl daemon-reload and enable --now (as root).
  Windows: facegate-service.xml in the install folder, run through WinSW 2.12: download WinSW-x64.exe
  yourself, rename it facegate-service.exe and put it beside the XML (facegate downloads nothing).
  The data root is FACEGATE_DATA_DIR, else /var/lib/facegate/storage or %ProgramData%\\facegate\\storage.`;

type Platform = 'linux' | 'windows';

const SERVICE_ID = 'facegate';
const UNIT_PATH = '/etc/systemd/system/facegate.service';
const WINSW_BASENAME = 'facegate-service';

interface Plan {
  platform: Platform;
  /** The file install writes. */
  path: string;
  content: string;
  /** Windows: WinSW's exe, which must be there already. */
  wrapper?: string;
  /** The commands install runs after writing (for the record). */
  install: string[][];
  uninstall: string[][];
}

function plan(platform: Platform, configFile: string | undefined, user: string | undefined): Plan {
  const env = readEnvironment();
  const root = projectRoot();
  const config = configFile ?? env.configFile;
  if (platform === 'linux') {
    const cliPath = path.posix.join(root, 'dist', 'src', 'cli', 'main.js');
    return {
      platform,
      path: UNIT_PATH,
      content: systemdUnit({
        execPath: process.execPath,
        cliPath,
        configFile: config !== undefined ? path.resolve(config) : undefined,
        user,
        dataDir: env.dataDir !== undefined ? path.resolve(env.dataDir) : '/var/lib/facegate/storage',
      }),
      install: [
        ['systemctl', 'daemon-reload'],
        ['systemctl', 'enable', '--now', SERVICE_ID],
      ],
      uninstall: [
        ['systemctl', 'disable', '--now', SERVICE_ID],
        ['systemctl', 'daemon-reload'],
      ],
    };
  }
  // Printed from another OS, the paths are a preview: the project's folder as it is here, and node.exe.
  const onWindows = process.platform === 'win32';
  const join = (...parts: string[]): string => (onWindows ? path.win32.join(...parts) : path.join(...parts));
  const wrapper = join(root, `${WINSW_BASENAME}.exe`);
  return {
    platform,
    path: join(root, `${WINSW_BASENAME}.xml`),
    wrapper,
    content: winswXml({
      id: SERVICE_ID,
      name: 'facegate',
      execPath: onWindows ? process.execPath : 'node.exe',
      cliPath: join(root, 'dist', 'src', 'cli', 'main.js'),
      configFile: config !== undefined ? path.resolve(config) : undefined,
      dataDir: env.dataDir !== undefined ? path.resolve(env.dataDir) : '%ProgramData%\\facegate\\storage',
      // %BASE% is WinSW's own folder.
      logDir: '%BASE%\\logs',
      stopTimeoutSeconds: 30,
    }),
    install: [
      [wrapper, 'install'],
      [wrapper, 'start'],
    ],
    uninstall: [
      [wrapper, 'stop'],
      [wrapper, 'uninstall'],
    ],
  };
}

/** Why this machine cannot take the plan, or undefined when it can. Checked before anything is written. */
function cannotInstall(p: Plan): string | undefined {
  if (p.platform === 'linux') {
    if (process.platform !== 'linux') return 'a systemd unit can only be installed on Linux';
    const systemctl = spawnSync('systemctl', ['--version'], { encoding: 'utf8' });
    if (systemctl.error !== undefined || systemctl.status !== 0)
      return 'systemctl was not found: this machine does not run systemd';
    // sd_booted(3): systemd is the running init exactly when this directory exists.
    if (!existsSync('/run/systemd/system'))
      return 'systemd is installed but is not the running init (no /run/systemd/system): a container?';
    return undefined;
  }
  if (process.platform !== 'win32') return 'a Windows service can only be installed on Windows';
  if (p.wrapper !== undefined && !existsSync(p.wrapper)) {
    return `WinSW is not at ${p.wrapper}: download WinSW 2.12 (WinSW-x64.exe), rename it ${WINSW_BASENAME}.exe and put it there`;
  }
  return undefined;
}

function run(command: string[], tolerateFailure = false): void {
  const [file, ...args] = command as [string, ...string[]];
  const r = spawnSync(file, args, { encoding: 'utf8', windowsHide: true });
  if (!tolerateFailure && (r.error !== undefined || r.status !== 0)) {
    const why = r.error?.message ?? (r.stderr.trim() || `exit code ${String(r.status)}`);
    throw new Error(`${command.join(' ')} failed: ${why}`);
  }
}

export async function serviceCommand(
  argv: string[],
  out: (json: unknown, text: string) => void,
): Promise<number | void> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      platform: { type: 'string' },
      config: { type: 'string' },
      user: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const action = positionals[0];
  if (positionals.length !== 1 || (action !== 'print' && action !== 'install' && action !== 'uninstall')) {
    throw new UsageError('Expected "service print", "service install" or "service uninstall"');
  }
  const platform = values.platform ?? (process.platform === 'win32' ? 'windows' : 'linux');
  if (platform !== 'linux' && platform !== 'windows') {
    throw new UsageError(`Expected --platform linux or windows but received ${quoteReceived(platform)}`);
  }
  const p = plan(platform, values.config, values.user);
  const summary = { platform: p.platform, path: p.path, ...(p.wrapper !== undefined ? { wrapper: p.wrapper } : {}) };

  if (action === 'print') {
    const commands = p.install.map((c) => c.join(' ')).join(' && ');
    out({ ...summary, content: p.content, commands: p.install }, `# ${p.path}\n# then: ${commands}\n${p.content}`);
    return;
  }

  const refusal = cannotInstall(p);
  if (refusal !== undefined) {
    out(
      { ...summary, action, ok: false, error: `cannot ${action} the service: ${refusal}` },
      `facegate: cannot ${action} the service: ${refusal}; nothing was written`,
    );
    return 1;
  }
  if (action === 'install') {
    await fs.writeFile(p.path, p.content, { mode: 0o644 });
    for (const command of p.install) run(command);
  } else {
    // Stopping an already stopped or absent service is not a failure of uninstall.
    for (const command of p.uninstall.slice(0, -1)) run(command, true);
    if (p.platform === 'windows') run(p.uninstall.at(-1) ?? []);
    await fs.rm(p.path, { force: true });
    if (p.platform === 'linux') run(p.uninstall.at(-1) ?? []);
  }
  out(
    { ...summary, action, ok: true },
    `${action === 'install' ? 'installed and started' : 'stopped and removed'} the ${SERVICE_ID} service (${p.path})`,
  );
}
