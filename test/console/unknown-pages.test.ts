// The console's unknown-face review pages (src/console/unknown-pages.ts) as a browser uses them:
// real photos through the real models, kept as unknown faces by the real grouping (the one the
// console reviews with), then the grid, its filters, a group's page and its crops, and the three
// actions through the forms, each checked in the store: who did it ("console:<operator>"), what
// a refusal says per face, and that a refusal, a missing CSRF token or a missing session changes
// nothing.
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { UnknownFaceGrouping } from '../../src/unknown-faces/grouping.js';
import type { FaceAnalysis } from '../../src/vision/face-analyzer.js';
import { decodeImage } from '../../src/vision/image-input.js';
import type { Storage } from '../../storage/index.js';
import { FACES_DIR } from '../helpers/shared-data.js';
import { type Browser, openTestConsole, type TestConsole } from '../helpers/test-console.js';
import { openTestAppliance, type TestAppliance } from '../helpers/test-appliance.js';
import { keepUnknownFace } from '../helpers/unknown-faces.js';

let appliance: TestAppliance;
let storage: Storage;
let grouping: UnknownFaceGrouping;
let console_: TestConsole;
let browser: Browser;

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
// Obama is seen on both cameras, four times; Biden twice on cam_2, later.
const SIGHTINGS = [
  { person: 'obama', file: 'obama/obama-480p.jpg', cameraId: 'cam_1' },
  { person: 'obama', file: 'obama/obama.jpg', cameraId: 'cam_2' },
  { person: 'obama', file: 'obama/obama2.jpg', cameraId: 'cam_1' },
  { person: 'obama', file: 'obama/obama_small.jpg', cameraId: 'cam_2' },
  { person: 'biden', file: 'biden/biden.jpg', cameraId: 'cam_2' },
  { person: 'biden', file: 'biden/biden2.jpg', cameraId: 'cam_2' },
] as const;
const analyses = new Map<string, FaceAnalysis>();
const groups: Record<'obama' | 'biden', string> = { obama: '', biden: '' };
const faceIds: Record<'obama' | 'biden', string[]> = { obama: [], biden: [] };
const t0 = Date.now() - 10 * 60_000;
const SCRIPT_NAME = 'Barack <script>alert("x")</script> Obama';

/** The ids of the groups the grid links to, in the order shown. */
function tileGroups(htmlText: string): string[] {
  return [...htmlText.matchAll(/<a class="tile" href="\/console\/unknown\/(\d+)"/g)].map((m) => m[1] as string);
}

async function state() {
  return {
    users: (await storage.db.listUsers()).map((u) => u.id).sort(),
    groups: (await storage.db.unknown.listGroups({ status: 'all' })).map((g) => `${g.id}:${g.status}:${g.faces}`),
    actions: (await storage.db.unknown.reviewActions()).length,
  };
}

beforeAll(async () => {
  appliance = await openTestAppliance('console-unknown');
  storage = appliance.storage;
  console_ = await openTestConsole(appliance);
  grouping = console_.deps.grouping;
  browser = await console_.signIn('alice');
  for (const [i, s] of SIGHTINGS.entries()) {
    const image = await decodeImage(await fs.readFile(path.join(FACES_DIR, s.file)));
    const [face] = await appliance.vision.analyzer.analyze(image);
    if (!face?.embedding) throw new Error(`${s.file}: expected one face with an embedding`);
    analyses.set(s.file, face);
    const kept = await keepUnknownFace(storage, grouping, face, s.cameraId, new Date(t0 + i * 1000));
    groups[s.person] = kept.face.groupId.toString();
    faceIds[s.person].push(kept.face.id.toString());
  }
  expect(groups.obama).not.toBe(groups.biden);
}, 120_000);

afterAll(async () => {
  await console_?.app.close();
  await appliance?.close();
});

describe('the grid of unknown groups', () => {
  it('lists the open groups, latest first, each a link with its best crop served as image/png', async () => {
    const res = await browser.get('/console/unknown');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(tileGroups(res.body)).toEqual([groups.biden, groups.obama]);
    expect(res.body).toContain('4 faces');
    expect(res.body).toContain('cam_1, cam_2');
    const crops = [...res.body.matchAll(/<img src="(\/console\/unknown\/\d+\/crop\.png)"/g)].map((m) => m[1] as string);
    expect(crops).toEqual([`/console/unknown/${groups.biden}/crop.png`, `/console/unknown/${groups.obama}/crop.png`]);
    for (const url of crops) {
      const crop = await browser.get(url);
      expect(crop.statusCode, url).toBe(200);
      expect(crop.headers['content-type']).toMatch(/^image\/png/);
      expect(crop.rawPayload.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
    }
    // Every filter has its label.
    for (const id of ['f-status', 'f-camera', 'f-since', 'f-sort']) expect(res.body).toContain(`<label for="${id}">`);
  });

  it('filters by camera, status and time, sorts by size, and says when nothing matches', async () => {
    expect(tileGroups((await browser.get('/console/unknown?camera=cam_1')).body)).toEqual([groups.obama]);
    expect(tileGroups((await browser.get('/console/unknown?camera=cam_2')).body)).toEqual([groups.biden, groups.obama]);
    expect(tileGroups((await browser.get('/console/unknown?sort=size')).body)).toEqual([groups.obama, groups.biden]);
    expect(tileGroups((await browser.get('/console/unknown?status=all&since=24h')).body)).toHaveLength(2);
    const afterObama = new Date(t0 + 4500).toISOString();
    expect(tileGroups((await browser.get(`/console/unknown?since=${encodeURIComponent(afterObama)}`)).body)).toEqual([
      groups.biden,
    ]);
    const none = await browser.get('/console/unknown?status=enrolled');
    expect(none.statusCode).toBe(200);
    expect(tileGroups(none.body)).toEqual([]);
    expect(none.body).toContain('No enrolled groups match these filters.');
    // The chosen filters stay selected.
    expect(none.body).toMatch(/<option value="enrolled"\s+selected>/);

    for (const bad of ['status=OPEN', 'sort=name', 'camera=..%2Fx', 'since=yesterday', 'status=open&status=all']) {
      const res = await browser.get(`/console/unknown?${bad}`);
      expect(res.statusCode, bad).toBe(400);
      expect(res.body, bad).toMatch(/Expected/);
    }
  });
});

describe('a group page', () => {
  it('shows every crop of the group, each served as image/png, its facts and the three forms with labels', async () => {
    const res = await browser.get(`/console/unknown/${groups.obama}`);
    expect(res.statusCode, res.body).toBe(200);
    const imgs = [...res.body.matchAll(/src="\/console\/unknown\/(\d+)\/faces\/(\d+)\.png"/g)];
    expect(imgs.map((m) => m[1])).toEqual(faceIds.obama.map(() => groups.obama));
    expect(imgs.map((m) => m[2]).sort()).toEqual([...faceIds.obama].sort());
    for (const face of faceIds.obama) {
      const png = await browser.get(`/console/unknown/${groups.obama}/faces/${face}.png`);
      expect(png.statusCode).toBe(200);
      expect(png.headers['content-type']).toMatch(/^image\/png/);
      expect(png.rawPayload.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
    }
    // A face of another group is not this group's.
    expect((await browser.get(`/console/unknown/${groups.obama}/faces/${faceIds.biden[0]}.png`)).statusCode).toBe(404);
    expect(res.body).toContain('No review yet.');
    for (const action of ['enroll', 'assign', 'dismiss'])
      expect(res.body).toContain(`action="/console/unknown/${groups.obama}/${action}"`);
    for (const id of ['e-user', 'e-name', 'e-dept', 'd-reason']) {
      expect(res.body).toContain(`<label for="${id}">`);
      expect(res.body).toContain(`id="${id}"`);
    }
    expect((await browser.get('/console/unknown/987654')).statusCode).toBe(404);
    expect((await browser.get('/console/unknown/abc')).statusCode).toBe(400);
  });
});

describe('state changes are refused without a session or the CSRF token', () => {
  it('refuses an enrolment without the CSRF token (403) or with a wrong one, and changes nothing', async () => {
    const before = await state();
    const form = { userId: 'obama', name: 'Barack Obama' };
    const missing = await browser.post(`/console/unknown/${groups.obama}/enroll`, form, { csrf: false });
    expect(missing.statusCode).toBe(403);
    const wrong = await browser.post(
      `/console/unknown/${groups.obama}/dismiss`,
      { _csrf: `${browser.csrf}x` },
      { csrf: false },
    );
    expect(wrong.statusCode).toBe(403);
    expect(await storage.db.getUser('obama')).toBeNull();
    expect(await state()).toEqual(before);
  });

  it('sends a request without a session to sign in (GET) or answers 401 (POST), and changes nothing', async () => {
    const before = await state();
    const app = console_.app;
    for (const url of [
      '/console/unknown',
      `/console/unknown/${groups.obama}`,
      `/console/unknown/${groups.obama}/crop.png`,
      `/console/unknown/${groups.obama}/faces/${faceIds.obama[0]}.png`,
    ]) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(303);
      expect(res.headers.location, url).toBe('/console/sign-in');
    }
    for (const action of ['enroll', 'assign', 'dismiss']) {
      const res = await app.inject({
        method: 'POST',
        url: `/console/unknown/${groups.obama}/${action}`,
        payload: new URLSearchParams({ userId: 'obama', name: 'Barack Obama', _csrf: browser.csrf }).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(res.statusCode, action).toBe(401);
    }
    expect(await state()).toEqual(before);
  });
});

describe('reviewing from the console', () => {
  it('refuses to enrol the two-face Biden group (422), says why on its page, keeps what was typed, writes nothing', async () => {
    const before = await state();
    const res = await browser.post(`/console/unknown/${groups.biden}/enroll`, {
      userId: 'biden',
      name: 'Joe Biden',
      department: 'Visitors',
    });
    expect(res.statusCode, res.body).toBe(422);
    expect(res.body).toContain('role="alert"');
    expect(res.body).toMatch(/2 usable face\(s\), at least 3 needed/);
    expect(res.body).toContain(`action="/console/unknown/${groups.biden}/enroll"`);
    expect(res.body).toMatch(/id="e-name"\s+name="name"\s+type="text"\s+value="Joe Biden"/);
    expect(await storage.db.getUser('biden')).toBeNull();
    expect(await state()).toEqual(before);
  });

  it('refuses a user id that is not an id (400) on the page, and writes nothing', async () => {
    const before = await state();
    const res = await browser.post(`/console/unknown/${groups.obama}/enroll`, { userId: '../x', name: 'X' });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.body).toMatch(/Expected a user id/);
    expect(await state()).toEqual(before);
  });

  it('enrols the Obama group as the signed-in operator, the name escaped wherever it is shown', async () => {
    const res = await browser.post(`/console/unknown/${groups.obama}/enroll`, {
      userId: 'obama',
      name: SCRIPT_NAME,
      department: 'Staff',
    });
    expect(res.statusCode, res.body).toBe(303);
    expect(res.headers.location).toBe(`/console/unknown/${groups.obama}?done=enrolled`);
    const user = await storage.db.getUser('obama');
    expect(user).toMatchObject({ id: 'obama', name: SCRIPT_NAME, department: 'Staff', status: 'active' });
    expect(await storage.db.countEmbeddings('obama')).toBeGreaterThanOrEqual(3);
    const [action] = await storage.db.unknown.reviewActions({ groupId: BigInt(groups.obama) });
    expect(action).toMatchObject({ action: 'enroll', actor: 'console:alice', userId: 'obama' });
    expect((await storage.db.unknown.getGroup(BigInt(groups.obama)))?.status).toBe('enrolled');
    // The recognition's user directory knows the new person at once.
    expect(console_.deps.users.size).toBe(1);

    const after = await browser.get(res.headers.location as string);
    expect(after.statusCode).toBe(200);
    expect(after.body).toContain('Enrolled: the group is now a person');
    expect(after.body).toContain('console:alice');
    expect(after.body).toContain('Barack &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; Obama');
    expect(after.body).not.toContain('<script>alert');
    // Reviewed: no forms any more.
    expect(after.body).not.toContain(`action="/console/unknown/${groups.obama}/enroll"`);
    expect(tileGroups((await browser.get('/console/unknown?status=enrolled')).body)).toEqual([groups.obama]);
    // The assign form on the still open group lists the new person, escaped too.
    const biden = await browser.get(`/console/unknown/${groups.biden}`);
    expect(biden.body).toMatch(/<option value="obama"\s*>Barack &lt;script&gt;/);
    expect(biden.body).not.toContain('<script>alert');
  });

  it('refuses an existing user id (409) and a second review of the enrolled group (409), writing nothing', async () => {
    const before = await state();
    const taken = await browser.post(`/console/unknown/${groups.biden}/enroll`, { userId: 'obama', name: 'Joe' });
    expect(taken.statusCode, taken.body).toBe(409);
    expect(taken.body).toMatch(/obama is already enrolled/);
    expect(taken.body).toContain(`Unknown group ${groups.biden}`);
    const again = await browser.post(`/console/unknown/${groups.obama}/dismiss`, {});
    expect(again.statusCode, again.body).toBe(409);
    expect(again.body).toMatch(/already enrolled/);
    expect(await state()).toEqual(before);
  });

  it('lists each refused face with its reason: an enrolment of faces that match someone, an assignment below the guards', async () => {
    // Obama seen again: a new group of three faces, each of which matches the enrolled Obama.
    const again: string[] = [];
    let group = '';
    for (const file of ['obama/obama-480p.jpg', 'obama/obama.jpg', 'obama/obama2.jpg']) {
      const kept = await keepUnknownFace(storage, grouping, analyses.get(file) as FaceAnalysis, 'cam_3');
      group = kept.face.groupId.toString();
      again.push(kept.face.id.toString());
    }
    expect(group).not.toBe(groups.obama);
    const before = await state();
    const res = await browser.post(`/console/unknown/${group}/enroll`, { userId: 'obama_again', name: 'Twin' });
    expect(res.statusCode, res.body).toBe(422);
    for (const face of again)
      expect(res.body).toMatch(new RegExp(`<li>face ${face} \\(cam_3\\): matches enrolled user obama at`));
    expect(await storage.db.getUser('obama_again')).toBeNull();

    const assign = await browser.post(`/console/unknown/${groups.biden}/assign`, { userId: 'obama' });
    expect(assign.statusCode, assign.body).toBe(422);
    expect(assign.body).toMatch(/no face passed the learning guards/);
    for (const face of faceIds.biden)
      expect(assign.body).toMatch(
        new RegExp(`<li>face ${face} \\(cam_2\\): score -?\\d\\.\\d{3} to obama below the learn threshold`),
      );
    // The refused choice stays selected.
    expect(assign.body).toMatch(/<option value="obama"\s+selected>/);
    expect(await state()).toEqual(before);
  });

  it('dismisses the Biden group with a reason: closed, crops deleted, the trail says who and why', async () => {
    const faces = (await storage.db.unknown.groupFaces(BigInt(groups.biden))).map((f) => f.image);
    expect(faces).toHaveLength(2);
    const res = await browser.post(`/console/unknown/${groups.biden}/dismiss`, { reason: 'a <b>visitor</b>' });
    expect(res.statusCode, res.body).toBe(303);
    expect(res.headers.location).toBe(`/console/unknown/${groups.biden}?done=dismissed`);
    expect((await storage.db.unknown.getGroup(BigInt(groups.biden)))?.status).toBe('dismissed');
    for (const f of faces) expect(existsSync(path.join(appliance.dataRoot, f)), f).toBe(false);
    const [action] = await storage.db.unknown.reviewActions({ groupId: BigInt(groups.biden) });
    expect(action).toMatchObject({
      action: 'dismiss',
      actor: 'console:alice',
      details: { reason: 'a <b>visitor</b>' },
    });

    const page = await browser.get(res.headers.location as string);
    expect(page.body).toContain('Dismissed: the group is closed');
    expect(page.body).toContain('reason: a &lt;b&gt;visitor&lt;/b&gt;');
    expect(page.body).toContain('No crops left');
    expect((await browser.get(`/console/unknown/${groups.biden}/crop.png`)).statusCode).toBe(404);
    expect(tileGroups((await browser.get('/console/unknown?status=dismissed')).body)).toContain(groups.biden);
  });

  it('shows only its own fixed confirmations, never the text of the query', async () => {
    const res = await browser.get(`/console/unknown/${groups.obama}?done=${encodeURIComponent('<i>pwned</i>')}`);
    expect(res.statusCode).toBe(200);
    expect(res.body).not.toContain('pwned');
    expect(res.body).not.toContain('role="status"');
  });
});
