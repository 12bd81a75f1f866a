import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { systemdUnit, winswXml, xmlEscape } from '../../src/service/service-unit.js';

/**
 * A small well-formedness check (no XML parser in the dependencies): one root, every tag closed in
 * order, attributes quoted, and no raw `<` or stray `&` in text or attribute values.
 */
function assertWellFormedXml(xml: string): void {
  const body = xml.replace(/^<\?xml[^?]*\?>/, '').replace(/<!--[\s\S]*?-->/g, '');
  const stack: string[] = [];
  let roots = 0;
  const token = /<(\/?)([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.-]*="[^"<]*")*)\s*(\/?)>|([^<]+)|(<)/g;
  for (const m of body.matchAll(token)) {
    const [, close, name, attrs, selfClose, text, strayLt] = m;
    if (strayLt !== undefined) throw new Error(`stray "<" at ${m.index}: ${body.slice(m.index, m.index + 40)}`);
    const checkEntities = (s: string) => {
      const bad = /&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.exec(s);
      if (bad) throw new Error(`unescaped "&" in ${JSON.stringify(s)}`);
    };
    if (text !== undefined) {
      if (stack.length === 0 && text.trim() !== '') throw new Error(`text outside the root: ${text}`);
      if (text.includes('>')) throw new Error(`raw ">" in text ${JSON.stringify(text)}`);
      checkEntities(text);
      continue;
    }
    checkEntities(attrs ?? '');
    if (close === '/') {
      if (stack.pop() !== name) throw new Error(`</${name}> closes the wrong element`);
    } else if (selfClose !== '/') {
      if (stack.length === 0) roots++;
      stack.push(name!);
    } else if (stack.length === 0) roots++;
  }
  if (stack.length !== 0) throw new Error(`unclosed: ${stack.join(', ')}`);
  if (roots !== 1) throw new Error(`expected one root element but found ${roots}`);
}

const unescapeXml = (s: string) =>
  s
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

describe('systemdUnit', () => {
  const unit = systemdUnit({
    execPath: '/usr/bin/node',
    cliPath: '/opt/face gate/dist/src/cli/main.js',
    configFile: '/etc/facegate/config.yaml',
    user: 'facegate',
    dataDir: '/var/lib/facegate/storage',
  });
  const lines = unit.split('\n');
  const section = (name: string) => {
    const start = lines.indexOf(`[${name}]`);
    const end = lines.findIndex((l, i) => i > start && l.startsWith('['));
    return lines.slice(start + 1, end === -1 ? undefined : end);
  };

  it('restarts forever, stops the whole control group with a timeout, and starts after the servers it uses', () => {
    expect(section('Unit')).toEqual(
      expect.arrayContaining([
        'After=network-online.target postgresql.service redis-server.service',
        'Wants=network-online.target',
        'StartLimitIntervalSec=0',
      ]),
    );
    expect(section('Service')).toEqual(
      expect.arrayContaining([
        'Restart=always',
        'RestartSec=5',
        'KillMode=control-group',
        'TimeoutStopSec=30',
        'NoNewPrivileges=yes',
        'User=facegate',
        'Environment=FACEGATE_CONFIG=/etc/facegate/config.yaml',
        'StateDirectory=facegate/storage',
      ]),
    );
    expect(section('Install')).toContain('WantedBy=multi-user.target');
  });

  it('quotes paths with spaces in ExecStart and escapes % specifiers and $ substitution', () => {
    expect(unit).toContain('ExecStart=/usr/bin/node "/opt/face gate/dist/src/cli/main.js" serve');
    const odd = systemdUnit({
      execPath: '/usr/bin/node',
      cliPath: '/opt/a$b%c "q"/main.js',
      configFile: '/etc/my conf/c.yaml',
      dataDir: '/srv/face data',
    });
    expect(odd).toContain('ExecStart=/usr/bin/node "/opt/a$$b%%c \\"q\\"/main.js" serve');
    expect(odd).toContain('Environment="FACEGATE_CONFIG=/etc/my conf/c.yaml"');
  });

  it('makes a data root outside /var/lib writable with ReadWritePaths= instead of StateDirectory=', () => {
    const other = systemdUnit({
      execPath: '/usr/bin/node',
      cliPath: '/opt/facegate/dist/src/cli/main.js',
      dataDir: '/srv/face data',
    });
    expect(other).toContain('ReadWritePaths="/srv/face data"');
    expect(other).not.toContain('StateDirectory=');
    expect(other).not.toContain('FACEGATE_CONFIG');
  });

  it('refuses relative paths and newlines that would inject directives', () => {
    expect(() => systemdUnit({ execPath: 'node', cliPath: '/x/main.js', dataDir: '/var/lib/facegate' })).toThrow(
      /absolute/,
    );
    expect(() =>
      systemdUnit({ execPath: '/usr/bin/node', cliPath: '/x/main.js\nExecStartPre=/bin/sh', dataDir: '/var/lib/f' }),
    ).toThrow(/control characters/);
  });
});

describe('systemd-analyze verify', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'facegate unit '));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('accepts a generated unit pointing at real paths with spaces (systemd-analyze verify)', async () => {
    const analyzer = spawnSync('which', ['systemd-analyze'], { encoding: 'utf8' });
    if (analyzer.status !== 0 || analyzer.stdout.trim() === '') {
      throw new Error(
        'Expected systemd-analyze (Debian package systemd; scripts/test.sh installs it) but it is not on PATH',
      );
    }
    const cliPath = path.join(dir, 'main.js');
    await writeFile(cliPath, '');
    const unitFile = path.join(dir, 'facegate.service');
    await writeFile(
      unitFile,
      systemdUnit({ execPath: process.execPath, cliPath, configFile: path.join(dir, 'config.yaml'), dataDir: dir }),
    );
    const r = spawnSync('systemd-analyze', ['verify', unitFile], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('winswXml', () => {
  const xml = winswXml({
    id: 'facegate',
    name: 'facegate <site & "lobby">',
    execPath: 'C:\\Program Files\\nodejs\\node.exe',
    cliPath: 'C:\\Program Files\\face & gate\\dist\\src\\cli\\main.js',
    configFile: 'C:\\ProgramData\\facegate\\config "A" <1>.yaml',
    logDir: '%BASE%\\logs',
  });

  it('is well-formed and escapes & < > " in every interpolated value', () => {
    assertWellFormedXml(xml);
    expect(xml).toContain('<name>facegate &lt;site &amp; &quot;lobby&quot;&gt;</name>');
    expect(xml).toContain(
      '<env name="FACEGATE_CONFIG" value="C:\\ProgramData\\facegate\\config &quot;A&quot; &lt;1&gt;.yaml"/>',
    );
    const args = /<arguments>(.*)<\/arguments>/.exec(xml)?.[1] ?? '';
    expect(unescapeXml(args)).toBe('"C:\\Program Files\\face & gate\\dist\\src\\cli\\main.js" serve');
    expect(xmlEscape(`a&b<c>d"e'f`)).toBe('a&amp;b&lt;c&gt;d&quot;e&apos;f');
  });

  it('the checker itself rejects unescaped text', () => {
    expect(() => assertWellFormedXml('<service><name>a & b</name></service>')).toThrow(/&/);
    expect(() => assertWellFormedXml('<service><name>a</service>')).toThrow(/wrong element/);
  });

  it('restarts on failure, rolls its logs by size, and starts automatically after boot', () => {
    expect(xml).toContain('<executable>C:\\Program Files\\nodejs\\node.exe</executable>');
    expect(xml.match(/<onfailure action="restart" delay="10 sec"\/>/g)).toHaveLength(2);
    expect(xml).toContain('<onfailure action="restart" delay="60 sec"/>');
    expect(xml).toContain('<resetfailure>1 hour</resetfailure>');
    expect(xml).toMatch(
      /<log mode="roll-by-size">\s*<sizeThreshold>\d+<\/sizeThreshold>\s*<keepFiles>\d+<\/keepFiles>\s*<\/log>/,
    );
    expect(xml).toContain('<stoptimeout>30 sec</stoptimeout>');
    expect(xml).toContain('<startmode>Automatic</startmode>');
    expect(xml).toContain('<delayedAutoStart>true</delayedAutoStart>');
    expect(
      winswXml({ id: 'f', name: 'f', execPath: 'node.exe', cliPath: 'm.js', logDir: 'l', stopTimeoutSeconds: 90 }),
    ).toContain('<stoptimeout>90 sec</stoptimeout>');
  });
});

describe('facegate service (compiled CLI)', () => {
  const cli = path.resolve(import.meta.dirname, '..', '..', 'dist', 'src', 'cli', 'main.js');
  const facegate = (...args: string[]) =>
    spawnSync(process.execPath, [cli, 'service', ...args], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, FACEGATE_DATA_DIR: '' },
    });

  it('prints the systemd unit and its target path as one JSON object', () => {
    const r = facegate('print', '--platform', 'linux', '--config', '/etc/facegate/config.yaml', '--json');
    expect(r.status).toBe(0);
    const printed = JSON.parse(r.stdout) as { platform: string; path: string; content: string; commands: string[][] };
    expect(printed).toMatchObject({ platform: 'linux', path: '/etc/systemd/system/facegate.service' });
    expect(printed.content).toContain('Environment=FACEGATE_CONFIG=/etc/facegate/config.yaml');
    expect(printed.content).toContain(`ExecStart=${process.execPath} `);
    expect(printed.commands).toEqual([
      ['systemctl', 'daemon-reload'],
      ['systemctl', 'enable', '--now', 'facegate'],
    ]);
  });

  it('prints the WinSW XML, its path and the WinSW exe beside it', () => {
    const r = facegate('print', '--platform', 'windows', '--json');
    expect(r.status).toBe(0);
    const printed = JSON.parse(r.stdout) as { platform: string; path: string; wrapper: string; content: string };
    expect(printed.platform).toBe('windows');
    expect(printed.path).toMatch(/facegate-service\.xml$/);
    expect(printed.wrapper).toBe(printed.path.replace(/\.xml$/, '.exe'));
    assertWellFormedXml(printed.content);
    expect(printed.content).toContain(' serve</arguments>');
  });

  it('refuses an unknown platform as a usage error', () => {
    expect(facegate('print', '--platform', 'solaris', '--json').status).toBe(2);
  });

  // Never where it could succeed: with no systemctl on PATH on any Linux machine, and with the real
  // PATH only where systemd is not the running init (elsewhere it would really install the service).
  it.skipIf(process.platform !== 'linux')(
    'install fails with a clear message and writes nothing when systemd cannot take the unit',
    () => {
      const unitPath = '/etc/systemd/system/facegate.service';
      const before = spawnSync('test', ['-e', unitPath]).status === 0;
      const emptyPath = mkdtempSync(path.join(os.tmpdir(), 'facegate-no-systemctl-'));
      const noSystemctl = spawnSync(process.execPath, [cli, 'service', 'install', '--platform', 'linux', '--json'], {
        encoding: 'utf8',
        timeout: 30_000,
        env: { ...process.env, FACEGATE_DATA_DIR: '', PATH: emptyPath },
      });
      rmSync(emptyPath, { recursive: true, force: true });
      expect(noSystemctl.status).toBe(1);
      expect((JSON.parse(noSystemctl.stdout) as { error: string }).error).toMatch(
        /cannot install the service: systemctl was not found/,
      );
      if (spawnSync('test', ['-d', '/run/systemd/system']).status !== 0) {
        const r = facegate('install', '--platform', 'linux', '--json');
        expect(r.status).toBe(1);
        expect((JSON.parse(r.stdout) as { error: string }).error).toMatch(
          /cannot install the service: (systemctl was not found|systemd is installed but is not the running init)/,
        );
      }
      expect(spawnSync('test', ['-e', unitPath]).status === 0).toBe(before);
    },
  );
});
