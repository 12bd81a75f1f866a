// `facegate unknown list|show|enroll|dismiss|audit` and `facegate retention run` through the
// compiled CLI (dist/: `npm run build` first) on an embedded data root (PGlite under it).
// The unknown faces are kept the way the service keeps them: real photos through the real models,
// each face with its recognition event, through the grouping (src/unknown-faces/grouping.ts),
// in this process before any CLI runs (the storage is closed again: the data-root lock).
// The tests run in order and build on each other: list, show, hostile input (nothing changes),
// enroll, dismiss, retention.
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openStorage, parseStorageConfig } from '../../storage/index.js';
import { silentLogger } from '../../storage/logger.js';
import { UnknownFaceGrouping } from '../../src/unknown-faces/grouping.js';
import { embeddingModelOf, openVision } from '../../src/vision/index.js';
import { decodeImage } from '../../src/vision/image-input.js';
import { cliJson, embeddedFacegate } from '../helpers/cli.js';
import { FACES_DIR, MODELS_DIR } from '../helpers/shared-data.js';
import { type ActionJson, type FaceJson, type GroupJson, keepUnknownFace } from '../helpers/unknown-faces.js';

let tmp: string;
let dataDir: string;

const facegate = embeddedFacegate(() => dataDir);

type Run = ReturnType<typeof facegate>;

const json = cliJson;

/** A refused --json command: its exit code is not 0 (or exactly `status`), and its error message. */
function refusal(r: Run, status?: number): string {
  if (status === undefined) expect(r.status, r.stderr).toBeGreaterThan(0);
  else expect(r.status, r.stderr).toBe(status);
  const { error } = JSON.parse(r.stdout) as { error: string };
  expect(r.stderr).toContain(`facegate: ${error}`);
  return error;
}

// The CLI's JSON: bigints as decimal strings, dates as ISO strings.
interface ShowJson {
  group: GroupJson;
  faces: FaceJson[];
  actions: ActionJson[];
}
interface PurgeJson {
  days: number;
  cutoff: string;
  dryRun: boolean;
  removedDates: string[];
  removedFiles: number;
  removedFaces: number;
  removedGroups: string[];
}

const DAY_MS = 24 * 60 * 60 * 1000;
const NOW = Date.now();
const minutesAgo = (m: number) => new Date(NOW - m * 60_000);
/** 40 days ago: past a 30-day retention. */
const OLD = new Date(NOW - 40 * DAY_MS);
const OLD_DATE = OLD.toISOString().slice(0, 10);

type Who = 'obama' | 'biden' | 'stranger';
// What the cameras saw. obama3.jpg is held back: `identify` checks the enrolled user with it.
// The stranger is the third, turned-away face of obama_and_biden.jpg (the quality gate rejects
// its pose, so it is embedded on purpose here): someone seen only 40 days ago, whose group
// retention empties.
const SIGHTINGS: { who: Who; file: string; cameraId: string; seenAt: Date }[] = [
  { who: 'obama', file: 'obama/obama.jpg', cameraId: 'gate', seenAt: minutesAgo(50) },
  { who: 'obama', file: 'obama/obama-480p.jpg', cameraId: 'gate', seenAt: OLD },
  { who: 'biden', file: 'biden/biden.jpg', cameraId: 'door', seenAt: minutesAgo(45) },
  { who: 'obama', file: 'obama/obama2.jpg', cameraId: 'gate', seenAt: minutesAgo(40) },
  { who: 'obama', file: 'obama/obama_small.jpg', cameraId: 'lobby', seenAt: minutesAgo(30) },
  { who: 'biden', file: 'biden/biden2.jpg', cameraId: 'gate', seenAt: minutesAgo(25) },
  { who: 'stranger', file: 'mixed/obama_and_biden.jpg', cameraId: 'yard', seenAt: new Date(OLD.getTime() + 60_000) },
];

/** Each person's group (from the grouping, as the service would have kept them) and their crops. */
const seeded = {
  obama: { groups: new Set<string>(), images: [] as string[] },
  biden: { groups: new Set<string>(), images: [] as string[] },
  stranger: { groups: new Set<string>(), images: [] as string[] },
};
const groupOf = (who: Who) => [...seeded[who].groups][0] as string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-cli-unknown-'));
  dataDir = path.join(tmp, 'data');
  const vision = await openVision({ modelsDir: MODELS_DIR, provider: 'cpu' });
  const model = { id: vision.embedder.modelId, dim: vision.embedder.dim };
  // The model the CLI opens the storage with (it loads no vision for `unknown`): the same.
  expect(await embeddingModelOf()).toEqual(model);
  const storage = await openStorage(parseStorageConfig({ dataRoot: dataDir }), { embeddingModel: model });
  try {
    const grouping = new UnknownFaceGrouping(storage, 0.45, silentLogger);
    for (const s of SIGHTINGS) {
      const stranger = s.who === 'stranger';
      const analysed = await vision.analyzer.analyze(await decodeImage(await readFile(path.join(FACES_DIR, s.file))), {
        embedRejected: stranger,
      });
      const faces = analysed.filter((f) => f.quality.accepted !== stranger);
      expect(faces, s.file).toHaveLength(1);
      const face = faces[0] as (typeof faces)[number];
      const { face: kept } = await keepUnknownFace(storage, grouping, face, s.cameraId, s.seenAt);
      seeded[s.who].groups.add(kept.groupId.toString());
      seeded[s.who].images.push(kept.image);
    }
  } finally {
    await storage.close();
  }
  // Which groups the faces formed is the grouping's business (tested there); the CLI is tested
  // here against what it made, so check it made what these tests assume: one group a person.
  expect([seeded.obama.groups.size, seeded.biden.groups.size, seeded.stranger.groups.size]).toEqual([1, 1, 1]);
  expect(new Set([groupOf('obama'), groupOf('biden'), groupOf('stranger')]).size).toBe(3);
});
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const ids = (groups: GroupJson[]) => groups.map((g) => g.id);
const exists = (relative: string) => existsSync(path.join(dataDir, ...relative.split('/')));

describe('facegate unknown list', () => {
  it('lists the groups people formed, filters them, refuses a bad status, and prints one line a group', () => {
    const [obama, biden, stranger] = [groupOf('obama'), groupOf('biden'), groupOf('stranger')];
    const { groups } = json<{ groups: GroupJson[] }>(facegate('unknown', 'list', '--json'));
    // Default: the open groups, most recently seen first.
    expect(ids(groups)).toEqual([biden, obama, stranger]);
    const byId = new Map(groups.map((g) => [g.id, g]));
    expect(byId.get(obama)).toMatchObject({
      status: 'open',
      userId: null,
      faces: 4,
      cameras: ['gate', 'lobby'],
      firstSeen: OLD.toISOString(),
      lastSeen: minutesAgo(30).toISOString(),
    });
    expect(byId.get(biden)).toMatchObject({
      status: 'open',
      faces: 2,
      cameras: ['door', 'gate'],
      lastSeen: minutesAgo(25).toISOString(),
    });
    expect(byId.get(stranger)).toMatchObject({ status: 'open', faces: 1, cameras: ['yard'] });
    for (const g of groups) {
      expect(g.best?.image).toMatch(/^images\/unknown\/\d{4}-\d{2}-\d{2}\/[a-z]+_\d{9}\.png$/);
      expect(exists(g.best?.image as string)).toBe(true);
    }

    expect(ids(json<{ groups: GroupJson[] }>(facegate('unknown', 'list', '--status', 'all', '--json')).groups)).toEqual(
      [biden, obama, stranger],
    );
    // A group is listed under each camera it was seen on.
    expect(
      ids(json<{ groups: GroupJson[] }>(facegate('unknown', 'list', '--camera', 'gate', '--json')).groups),
    ).toEqual([biden, obama]);
    expect(
      ids(
        json<{ groups: GroupJson[] }>(facegate('unknown', 'list', '--camera', 'lobby', '--status', 'all', '--json'))
          .groups,
      ),
    ).toEqual([obama]);
    expect(
      ids(json<{ groups: GroupJson[] }>(facegate('unknown', 'list', '--camera', 'nowhere', '--json')).groups),
    ).toEqual([]);
    const since = new Date(NOW - 20 * DAY_MS).toISOString();
    expect(
      ids(
        json<{ groups: GroupJson[] }>(facegate('unknown', 'list', '--since', since, '--limit', '1', '--json')).groups,
      ),
    ).toEqual([biden]);

    expect(refusal(facegate('unknown', 'list', '--status', 'x', '--json'), 2)).toMatch(
      /Expected --status open\|enrolled\|assigned\|dismissed\|all but received "x"/,
    );

    const text = facegate('unknown', 'list');
    expect(text.status, text.stderr).toBe(0);
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines.map((l) => l.split('\t')[0])).toEqual([biden, obama, stranger]);
    expect(lines[1]).toMatch(
      new RegExp(`^${obama}\\topen\\t4 face\\(s\\)\\t.+ \\.\\. .+\\tgate,lobby\\tbest \\d\\.\\d{3}\\tappliance-1$`),
    );
  });
});

describe('facegate unknown show', () => {
  it('shows a group with its faces, best first, and prints where the best crop is', async () => {
    const obama = groupOf('obama');
    const shown = json<ShowJson>(facegate('unknown', 'show', obama, '--json'));
    expect(shown.group).toMatchObject({ id: obama, status: 'open', faces: 4 });
    expect(shown.actions).toEqual([]);
    expect(shown.faces.map((f) => f.image).sort()).toEqual([...seeded.obama.images].sort());
    expect(shown.faces.map((f) => f.cameraId).sort()).toEqual(['gate', 'gate', 'gate', 'lobby']);
    expect(shown.faces.map((f) => f.seenAt)).toContain(OLD.toISOString());
    const qualities = shown.faces.map((f) => f.quality);
    expect(qualities).toEqual([...qualities].sort((a, b) => b - a));
    expect(shown.group.best).toMatchObject({ faceId: shown.faces[0]?.id, image: shown.faces[0]?.image });
    // The crop of the 40-day-old sighting is in that day's folder.
    expect(shown.faces.filter((f) => f.image.startsWith(`images/unknown/${OLD_DATE}/`))).toHaveLength(1);

    const text = facegate('unknown', 'show', obama);
    expect(text.status, text.stderr).toBe(0);
    const best = /^best crop: (.+)$/m.exec(text.stdout)?.[1];
    expect(best).toBe(path.join(dataDir, ...(shown.group.best?.image as string).split('/')));
    expect(path.isAbsolute(best as string)).toBe(true);
    const png = await readFile(best as string);
    expect([...png.subarray(1, 4)]).toEqual([...Buffer.from('PNG')]);
    expect(text.stdout.match(/^ {2}face /gm)).toHaveLength(4);
  });
});

describe('facegate unknown: hostile input', () => {
  it('refuses bad group ids, user ids and missing arguments, saying what it expected, and changes nothing', async () => {
    const obama = groupOf('obama');
    const badGroup = /^Expected a group id \(a positive whole number, as "facegate unknown list" shows\) but received /;
    expect(refusal(facegate('unknown', 'show', 'abc', '--json'), 2)).toMatch(badGroup);
    expect(refusal(facegate('unknown', 'show', '--json', '--', '-1'))).toMatch(/but received "-1"$/);
    expect(refusal(facegate('unknown', 'show', '0', '--json'), 2)).toMatch(/but received "0"$/);
    expect(refusal(facegate('unknown', 'show', '99999999999999999999', '--json'), 2)).toMatch(
      /but received "99999999999999999999"$/,
    );
    expect(refusal(facegate('unknown', 'dismiss', '1.5', '--json'), 2)).toMatch(badGroup);
    expect(refusal(facegate('unknown', 'audit', '--group', 'x;DROP', '--json'), 2)).toMatch(badGroup);
    // Without "--" a negative number reads as an option: a usage error.
    expect(refusal(facegate('unknown', 'show', '-1', '--json'), 2)).toMatch(/-1/);
    // The group exists and is open: only the user id stands between these and an enrollment.
    expect(refusal(facegate('unknown', 'enroll', obama, '../x', '--name', 'X', '--json'), 2)).toMatch(
      /^Expected a user id of .* but received "\.\.\/x"$/,
    );
    expect(refusal(facegate('unknown', 'enroll', obama, 'CON', '--name', 'X', '--json'), 2)).toMatch(
      /^Expected a user id .* received "CON", a reserved name on Windows$/,
    );
    expect(refusal(facegate('unknown', 'enroll', obama, 'U2', '--json'), 2)).toBe(
      'Expected --name for "unknown enroll"',
    );
    expect(refusal(facegate('unknown', 'enroll', obama, 'U2', '--name', '  ', '--json'), 2)).toBe(
      'Expected --name for "unknown enroll"',
    );
    expect(refusal(facegate('unknown', 'show', '--json'), 2)).toBe(
      'Expected "unknown show <group>" but received 0 argument(s)',
    );
    expect(refusal(facegate('unknown', 'list', '--limit', 'ten', '--json'), 2)).toMatch(
      /^Expected --limit to be an integer in 1..1000 but received "ten"$/,
    );
    expect(refusal(facegate('unknown', 'forget', '--json'), 2)).toMatch(
      /^Expected unknown list\|show\|enroll\|assign\|dismiss\|audit$/,
    );
    // One date rule (storage/dates.ts) for the CLI, the API and storage: no rolled-over day, no local time.
    expect(refusal(facegate('unknown', 'list', '--since', '2024-02-30', '--json'), 2)).toMatch(
      /^Expected --since to be an ISO date .* but received "2024-02-30"$/,
    );
    expect(refusal(facegate('unknown', 'list', '--since', '2024-03-01T10:00:00', '--json'), 2)).toMatch(
      /received "2024-03-01T10:00:00"$/,
    );
    expect(refusal(facegate('events', 'list', '--until', '2023-02-29', '--json'), 2)).toMatch(
      /^Expected an ISO date for --until .* but received "2023-02-29"$/,
    );
    expect(refusal(facegate('events', 'list', '--since', 'March 7, 2024', '--json'), 2)).toMatch(
      /received "March 7, 2024"$/,
    );
    expect(refusal(facegate('unknown', 'show', '987654', '--json'), 1)).toMatch(/no group 987654/);

    // Nothing changed: no user, no review, the groups as they were, no folder made.
    expect(json<{ users: unknown[] }>(facegate('users', 'list', '--json')).users).toEqual([]);
    expect(json<{ actions: unknown[] }>(facegate('unknown', 'audit', '--json')).actions).toEqual([]);
    const { groups } = json<{ groups: GroupJson[] }>(facegate('unknown', 'list', '--status', 'all', '--json'));
    expect(groups.map((g) => [g.id, g.status, g.faces])).toEqual([
      [groupOf('biden'), 'open', 2],
      [obama, 'open', 4],
      [groupOf('stranger'), 'open', 1],
    ]);
    expect(existsSync(path.join(dataDir, 'images', 'x'))).toBe(false);
    expect(
      existsSync(path.join(dataDir, 'images', 'users')) ? await readdir(path.join(dataDir, 'images', 'users')) : [],
    ).toEqual([]);
  });
});

describe('facegate unknown enroll', () => {
  it('makes a user of a group, records who did it, refuses the group twice, and the user is recognised', async () => {
    const obama = groupOf('obama');
    const enrolled = json<{
      group: GroupJson;
      enrollment: { userId: string; embeddings: number; skipped: unknown[] };
      action: ActionJson;
    }>(facegate('unknown', 'enroll', obama, 'U_obama', '--name', 'Obama', '--actor', 'alice', '--json'));
    expect(enrolled.enrollment).toMatchObject({ userId: 'U_obama', embeddings: 4, skipped: [], lookalikes: [] });
    expect(enrolled.group).toMatchObject({ id: obama, status: 'enrolled', userId: 'U_obama', faces: 4 });
    expect(enrolled.action).toMatchObject({ action: 'enroll', actor: 'cli:alice', groupId: obama, userId: 'U_obama' });
    // The crops were copied into the user's images (retention of the unknown folders loses nothing).
    const userImages = await readdir(path.join(dataDir, 'images', 'users', 'U_obama'), { recursive: true });
    expect(userImages.filter((f) => f.endsWith('.png')).length).toBeGreaterThanOrEqual(4);

    // Another id does not make the reviewed group enrollable again.
    expect(refusal(facegate('unknown', 'enroll', obama, 'U_obama2', '--name', 'Obama again', '--json'), 1)).toMatch(
      new RegExp(`group ${obama} is already enrolled \\(U_obama\\)`),
    );
    const { users } = json<{ users: { id: string; name: string }[] }>(facegate('users', 'list', '--json'));
    expect(users.map((u) => [u.id, u.name])).toEqual([['U_obama', 'Obama']]);
    const { actions } = json<{ actions: ActionJson[] }>(facegate('unknown', 'audit', '--json'));
    expect(actions).toHaveLength(1);
    expect(actions[0]).toMatchObject({
      action: 'enroll',
      actor: 'cli:alice',
      groupId: obama,
      userId: 'U_obama',
      details: { name: 'Obama', embeddings: 4 },
    });

    // A photo the group never saw.
    const identified = json<{ faces: { decision: string; userId: string | null }[] }>(
      facegate('identify', path.join(FACES_DIR, 'obama', 'obama3.jpg'), '--provider', 'cpu', '--json'),
    );
    expect(identified.faces).toHaveLength(1);
    expect(identified.faces[0]).toMatchObject({ decision: 'known', userId: 'U_obama' });
  });
});

describe('facegate unknown dismiss', () => {
  it('closes a group and deletes its crops at once', () => {
    const biden = groupOf('biden');
    expect(seeded.biden.images.every(exists)).toBe(true);
    const dismissed = json<{ group: GroupJson; removedFaces: number; action: ActionJson }>(
      facegate('unknown', 'dismiss', biden, '--reason', 'test', '--json'),
    );
    expect(dismissed).toMatchObject({
      removedFaces: 2,
      group: { id: biden, status: 'dismissed', userId: null, faces: 0, best: null },
    });
    expect(dismissed.action).toMatchObject({
      action: 'dismiss',
      groupId: biden,
      userId: null,
      details: { reason: 'test', removedFaces: 2 },
    });
    expect(seeded.biden.images.some(exists)).toBe(false);

    const shown = json<ShowJson>(facegate('unknown', 'show', biden, '--json'));
    expect(shown.group).toMatchObject({ status: 'dismissed', faces: 0, best: null });
    expect(shown.faces).toEqual([]);
    expect(shown.actions).toMatchObject([
      { action: 'dismiss', actor: `cli:${os.userInfo().username}`, details: { reason: 'test' } },
    ]);
    // Reviewed groups are no longer open.
    expect(ids(json<{ groups: GroupJson[] }>(facegate('unknown', 'list', '--json')).groups)).toEqual([
      groupOf('stranger'),
    ]);
  });
});

describe('facegate retention run', () => {
  it('lists what is past the period with --dry-run, then removes the old folder, its faces and the groups left empty', async () => {
    const [obama, stranger] = [groupOf('obama'), groupOf('stranger')];
    const oldImages = [...seeded.obama.images, ...seeded.stranger.images].filter((i) =>
      i.startsWith(`images/unknown/${OLD_DATE}/`),
    );
    expect(oldImages).toHaveLength(2);
    const userDir = path.join(dataDir, 'images', 'users', 'U_obama');
    const userImages = (await readdir(userDir, { recursive: true })).sort();

    // An empty or odd --days (an unset variable in a scheduler line) is a usage error, never "0 days".
    for (const days of ['', ' ', '1e1', '0x1e', '-1']) {
      expect(refusal(facegate('retention', 'run', `--days=${days}`, '--json'), 2)).toMatch(
        /^Expected --days to be a whole number of days/,
      );
    }
    expect(await readdir(path.join(dataDir, 'images', 'unknown', OLD_DATE))).toHaveLength(2);

    const dry = json<PurgeJson>(facegate('retention', 'run', '--days', '30', '--dry-run', '--json'));
    expect(dry).toMatchObject({ days: 30, dryRun: true, removedDates: [OLD_DATE], removedFiles: 2, removedFaces: 2 });
    expect(dry.removedGroups).toContain(stranger);
    expect(dry.removedGroups).not.toContain(obama);
    expect(oldImages.every(exists)).toBe(true);

    // Had the dry run removed anything, this would find less.
    const run = json<PurgeJson>(facegate('retention', 'run', '--days', '30', '--json'));
    expect(run).toEqual({ ...dry, dryRun: false });
    expect(existsSync(path.join(dataDir, 'images', 'unknown', OLD_DATE))).toBe(false);
    expect(seeded.obama.images.filter((i) => !oldImages.includes(i)).every(exists)).toBe(true);

    const { groups } = json<{ groups: GroupJson[] }>(facegate('unknown', 'list', '--status', 'all', '--json'));
    expect(ids(groups)).not.toContain(stranger);
    expect(ids(groups).filter((id) => run.removedGroups.includes(id))).toEqual([]);
    // The enrolled group lost its old face only; its user lost nothing.
    expect(groups.find((g) => g.id === obama)).toMatchObject({
      status: 'enrolled',
      userId: 'U_obama',
      faces: 3,
      firstSeen: minutesAgo(50).toISOString(),
    });
    expect((await readdir(userDir, { recursive: true })).sort()).toEqual(userImages);
    // The review trail outlives the groups.
    expect(
      json<{ actions: ActionJson[] }>(facegate('unknown', 'audit', '--json')).actions.map((a) => a.action),
    ).toEqual(['dismiss', 'enroll']);
  });
});
