// `facegate events wrong`, `facegate users not` and `facegate users show` (issue 13, "not this
// person") through the compiled CLI (dist/: `npm run build` first) on an embedded data root.
// The tests run in order: enrol, refusals, a photo marked not the user, show.
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { cliJson, embeddedFacegate } from '../helpers/cli.js';
import { FACES_DIR } from '../helpers/shared-data.js';

let dataDir: string;
const facegate = embeddedFacegate(() => dataDir);

const json = cliJson;
const face = (f: string) => path.join(FACES_DIR, f);

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'facegate-cli-corrections-'));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('facegate events wrong / users not / users show', () => {
  it('enrols obama, and the answer names the nearest other person (none yet)', () => {
    const r = json<{ userId: string; nearest: unknown; lookalikes: unknown[]; threshold: number }>(
      facegate(
        'enroll',
        'obama',
        '--name',
        'Barack Obama',
        face('obama/obama.jpg'),
        face('obama/obama2.jpg'),
        face('obama/obama3.jpg'),
        '--json',
      ),
    );
    expect(r).toMatchObject({ userId: 'obama', nearest: null, lookalikes: [] });
    const text = facegate(
      'enroll',
      'powell',
      '--name',
      'Colin Powell',
      ...['0001', '0002', '0003'].map((n) => face(`lfw10/Colin_Powell/Colin_Powell_${n}.jpg`)),
    );
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/nearest other enrolled person: obama at -?0\.\d{3}/);
  }, 120_000);

  it.each([
    ['an id that is not a UUID', 'ev-1', /Expected an event id \(a UUID like .*\) but received "ev-1"/],
    [
      'an event that does not exist',
      '0190c3d2-7a1b-7c3d-8e4f-0123456789ab',
      /Expected a recognition event but there is no event 0190c3d2-7a1b-7c3d-8e4f-0123456789ab/,
    ],
  ])('events wrong refuses %s clearly (exit 1)', (_what, id, message) => {
    const r = facegate('events', 'wrong', id, '--json');
    expect(r.status, r.stderr).toBe(1);
    expect((JSON.parse(r.stdout) as { error: string }).error).toMatch(message);
  });

  it('events wrong without an id is a usage error (exit 2)', () => {
    const r = facegate('events', 'wrong');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/Expected "events wrong <eventId>"/);
  });

  it('users not records the photo and answers with the raised threshold; users show lists it', () => {
    const r = json<{
      userId: string;
      correction: { actor: string; withVector: boolean; score: number };
      threshold: { match: number; site: number; raised: boolean };
    }>(
      facegate(
        'users',
        'not',
        'obama',
        face('biden/biden.jpg'),
        '--actor',
        'ada',
        '--note',
        'the vice president',
        '--json',
      ),
    );
    expect(r.correction).toMatchObject({ actor: 'cli:ada', withVector: true });
    expect(r.threshold.match).toBeCloseTo(Math.max(r.threshold.site, r.correction.score + 0.15), 3);
    const show = json<{
      threshold: { match: number; corrections: { source: string; details: { note: string } }[] };
      nearest: { userId: string };
    }>(facegate('users', 'show', 'obama', '--json'));
    expect(show.threshold).toMatchObject({
      match: r.threshold.match,
      corrections: [{ source: 'operator', details: { note: 'the vice president' } }],
    });
    expect(show.nearest.userId).toBe('powell');
    const text = facegate('users', 'show', 'obama');
    expect(text.stdout).toMatch(
      /match threshold 0\.\d+ .*\n {2}\S+ {2}operator {2}score -?0\.\d{3} {2}by cli:ada\nnearest other enrolled person: powell at/,
    );
  }, 120_000);

  it('users not refuses an unknown user and a missing photo clearly', () => {
    const nobody = facegate('users', 'not', 'nobody', face('biden/biden.jpg'), '--json');
    expect(nobody.status).toBe(1);
    expect((JSON.parse(nobody.stdout) as { error: string }).error).toBe(
      'Expected an existing user but there is no user nobody',
    );
    const missing = facegate('users', 'not', 'obama', path.join(dataDir, 'nope.jpg'));
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/Expected a readable photo file but .*nope\.jpg could not be read \(ENOENT\)/);
  }, 120_000);

  // Issue 13's hostile review (D2, D5, D9): each case below failed before its fix.
  it('users show of a user that does not exist is a not-found (exit 1), not a usage error', () => {
    const r = facegate('users', 'show', 'nobody', '--json');
    expect(r.status).toBe(1);
    expect((JSON.parse(r.stdout) as { error: string }).error).toBe(
      'Expected an existing user but there is no user nobody',
    );
    expect(r.stderr).not.toMatch(/Usage:/);
  });

  it('users not refuses a bad id before it reads the photo or loads the models', () => {
    const r = facegate('users', 'not', '../x', path.join(dataDir, 'nope.jpg'), '--json');
    expect(r.status).toBe(1);
    expect((JSON.parse(r.stdout) as { error: string }).error).toMatch(/^Expected a user id .* but received "\.\.\/x"/);
  });

  it.each([
    [
      'a control character',
      'a\u001bb',
      /Expected --actor to be printable text of 1-100 characters \(no control or format characters\) but received "a\\u001bb"/,
    ],
    [
      'more than 100 characters',
      'x'.repeat(150),
      /Expected --actor to be printable text of 1-100 characters .* but received "x{40}"\.\.\. \(150 characters\)/,
    ],
  ])("--actor with %s is refused as typed, with the API's limit (exit 2)", (_what, actor, message) => {
    for (const args of [
      ['events', 'wrong', '0190c3d2-7a1b-7c3d-8e4f-0123456789ab'],
      ['users', 'not', 'obama', face('biden/biden2.jpg')],
    ]) {
      const r = facegate(...args, '--actor', actor, '--json');
      expect(r.status, r.stderr).toBe(2);
      const { error } = JSON.parse(r.stdout) as { error: string };
      expect(error).toMatch(message);
      expect(error).not.toMatch(/cli:/);
    }
  });

  it('users not keeps only a printable form of a file name with control characters', async () => {
    const odd = path.join(dataDir, 'bi\u001b[2Jden\u202e.jpg');
    await symlink(face('biden/biden2.jpg'), odd);
    const r = json<{ correction: { details: { photo: string } } }>(facegate('users', 'not', 'obama', odd, '--json'));
    expect(r.correction.details.photo).toBe('bi\\u001b[2Jden\\u202e.jpg');
  }, 120_000);

  it("users not refuses one of the user's own enrolled photos (it would lock obama out), nothing recorded; --force records it", () => {
    const count = () =>
      json<{ threshold: { corrections: unknown[] } }>(facegate('users', 'show', 'obama', '--json')).threshold
        .corrections.length;
    const before = count();
    const r = facegate('users', 'not', 'obama', face('obama/obama2.jpg'), '--json');
    expect(r.status, r.stderr).toBe(1);
    expect((JSON.parse(r.stdout) as { error: string }).error).toMatch(
      /would raise obama's match threshold to 1\.150, above 1.*probably obama.*nothing was recorded.*--force/,
    );
    expect(count()).toBe(before);
    const forced = json<{ correction: { details: { force: boolean } }; threshold: { match: number } }>(
      facegate('users', 'not', 'obama', face('obama/obama2.jpg'), '--force', '--json'),
    );
    expect(forced).toMatchObject({ correction: { details: { force: true } }, threshold: { match: 1.15 } });
  }, 120_000);
});
