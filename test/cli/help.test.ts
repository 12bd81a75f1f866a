// `--help` on every command and subcommand of the compiled CLI (issue 14, item 9): it prints the
// command's usage and exits 0, and never runs the command (`serve --help` must not start serving,
// `restore --help` must not touch the data root). The commands and subcommands are read from the
// top-level usage, so a command added later is walked too.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { embeddedFacegate } from '../helpers/cli.js';

let dir: string;
const dataDir = () => path.join(dir, 'data');
const facegate = embeddedFacegate(dataDir);

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'facegate-help-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Each `facegate <command> [<subcommand>]` the top-level usage lists: `users show|disable|enable` gives three. */
function commandLines(usage: string): string[][] {
  const found = new Map<string, string[]>();
  for (const line of usage.split('\n')) {
    const m = /^facegate ([a-z-]+)(?: ([a-z-]+(?:\|[a-z-]+)*))?(?: |$)/.exec(line);
    if (!m) continue;
    const [, command, subs] = m as unknown as [string, string, string | undefined];
    found.set(command, [command]);
    for (const sub of subs?.split('|') ?? []) found.set(`${command} ${sub}`, [command, sub]);
  }
  return [...found.values()];
}

describe('facegate --help', () => {
  it('the top level lists every command and exits 0', () => {
    const r = facegate('--help');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Usage: facegate <command>/);
    expect(commandLines(r.stdout).length).toBeGreaterThan(30);
  });

  it('every command and subcommand answers --help (and each command -h) with its usage and exit 0, running nothing', async () => {
    const all = commandLines(facegate('--help').stdout);
    for (const words of all) {
      // -h on each command (a subcommand's -h takes the same path; every process costs a second here).
      for (const flag of words.length === 1 ? ['--help', '-h'] : ['--help']) {
        const r = facegate(...words, flag);
        const said = `facegate ${words.join(' ')} ${flag}: exit ${r.status}\n${r.stdout}${r.stderr}`;
        expect(r.status, said).toBe(0);
        expect(r.stdout, said).toContain(`facegate ${words[0]}`);
        expect(r.stderr, said).toBe('');
      }
    }
    // Nothing ran: no data root was made (every command that opens the site creates it).
    await expect(readdir(dataDir())).rejects.toMatchObject({ code: 'ENOENT' });
  }, 300_000);

  it('--help wins over bad arguments, and with --json the usage is the one JSON object', () => {
    const r = facegate('users', 'show', '--no-such-flag', '--help');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('facegate users list');
    const j = facegate('config', 'check', '--help', '--json');
    expect(j.status, j.stderr).toBe(0);
    expect((JSON.parse(j.stdout) as { usage: string }).usage).toContain('facegate config check');
  });

  it('an argument after -- is not a help flag', () => {
    const r = facegate('config', 'check', '--', '--help');
    expect(r.status).not.toBe(0);
  });

  it('`facegate help <command>` is `facegate <command> --help`', () => {
    const r = facegate('help', 'index');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('facegate index stats|verify|rebuild');
    expect(r.stdout).not.toContain('facegate users list');
  });
});
