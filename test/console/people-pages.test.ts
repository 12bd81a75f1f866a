// The console's people pages (src/console/people-pages.ts) on a test appliance with the real models
// and real photos (../shared/faces): enrolment from an upload with each photo's verdict, the list
// and its search, a person's page and their images, disable / enable, delete with purge, and the
// refusals (no CSRF token, a path out of the image folder, markup in a name).
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';

import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { encodePng } from '../../src/vision/image-input.js';
import { sharedPhotos } from '../helpers/shared-data.js';
import { openTestAppliance, type TestAppliance } from '../helpers/test-appliance.js';
import { type Browser, csrfOf, openTestConsole, type TestConsole } from '../helpers/test-console.js';

let appliance: TestAppliance;
let tc: TestConsole;
let browser: Browser;

/**
 * Signs in as the helper's signIn() does, but reads the CSRF token from the people page: the
 * helper reads it from /console/unknown, another page module that may not be written yet.
 */
async function signIn(console_: TestConsole): Promise<Browser> {
  const { app, token } = console_;
  const res = await app.inject({
    method: 'POST',
    url: '/console/sign-in',
    payload: new URLSearchParams({ operator: 'tester', token }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  const set = res.headers['set-cookie'];
  const cookie = (Array.isArray(set) ? set[0] : set)?.split(';')[0];
  if (res.statusCode !== 303 || !cookie) throw new Error(`sign-in failed: ${res.statusCode} ${res.body}`);
  const csrf = csrfOf((await app.inject({ method: 'GET', url: '/console/people', headers: { cookie } })).body);
  return {
    cookie,
    csrf,
    get: (url) => app.inject({ method: 'GET', url, headers: { cookie } }),
    post: (url, form = {}, options = {}) =>
      app.inject({
        method: 'POST',
        url,
        payload: new URLSearchParams(options.csrf === false ? form : { ...form, _csrf: csrf }).toString(),
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      }),
    upload: async (url, fields, files) => {
      const { payload, headers } = await multipartBody(fields, files);
      return app.inject({
        method: 'POST',
        url: `${url}${url.includes('?') ? '&' : '?'}_csrf=${encodeURIComponent(csrf)}`,
        payload,
        headers: { cookie, ...headers },
      });
    },
  };
}

type File = { field: string; name: string; bytes: Buffer; type?: string };

/** A multipart body as a browser sends it (built by the platform's own FormData). */
async function multipartBody(fields: Record<string, string>, files: File[]) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  for (const f of files) form.append(f.field, new Blob([f.bytes], { type: f.type ?? 'image/jpeg' }), f.name);
  const request = new Request('http://x', { method: 'POST', body: form });
  return {
    payload: Buffer.from(await request.arrayBuffer()),
    headers: { 'content-type': request.headers.get('content-type') ?? '' },
  };
}

/** Photos of a shared folder by their place in name order (0: the first). */
async function photos(folder: string, at: number[]): Promise<File[]> {
  const all = await sharedPhotos(folder);
  return at.map((i) => {
    const p = all[i];
    if (!p) throw new Error(`Expected a photo number ${i} in ${folder} but it has ${all.length}`);
    return { field: 'images', name: p.name, bytes: p.bytes };
  });
}

/** A photo with no face in it: a plain grey picture. */
async function blankPhoto(): Promise<File> {
  const bytes = await encodePng({ width: 240, height: 240, data: new Uint8Array(240 * 240 * 3).fill(128) });
  return { field: 'images', name: 'empty-wall.png', bytes, type: 'image/png' };
}

const notAnImage: File = {
  field: 'images',
  name: 'notes.jpg',
  bytes: Buffer.from('these are my notes, not a photo\n'.repeat(20)),
};

/** The verdict table's row for one photo (its cells' text). */
function verdictRow(page: string, photo: string): string {
  const rows = page.match(/<tr>[\s\S]*?<\/tr>/g) ?? [];
  const row = rows.find((r) => r.includes(`<td>${photo}</td>`));
  if (!row) throw new Error(`Expected a verdict row for ${photo} but the page has none`);
  return row.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');
}

function imageLinks(page: string): string[] {
  return [...page.matchAll(/<img class="crop" src="([^"]+)"/g)].map((m) => m[1] as string);
}

const userOf = (id: string) => appliance.storage.db.getUser(id);

beforeAll(async () => {
  appliance = await openTestAppliance('console-people');
  tc = await openTestConsole(appliance);
  browser = await signIn(tc);
});
afterAll(async () => {
  await tc?.app.close();
  await appliance?.close();
});

describe('the console people pages', () => {
  it('enrols a person from four uploaded photos: the user is stored, listed and shown with each verdict', async () => {
    const res = await browser.upload(
      '/console/people/new',
      { userId: 'powell', name: 'Colin Powell', department: 'State' },
      await photos('lfw10/Colin_Powell', [0, 1, 2, 3]),
    );
    expect(res.statusCode, res.body).toBe(303);
    expect(res.headers.location).toBe('/console/people/powell?done=enrolled');

    const user = await userOf('powell');
    expect(user).toMatchObject({ name: 'Colin Powell', department: 'State', status: 'active' });
    expect(await appliance.storage.db.countEmbeddings('powell')).toBe(4);
    // The directory the pipeline decides with was refreshed.
    expect(tc.deps.users.statusOf('powell')).toBe('active');

    const list = await browser.get('/console/people');
    expect(list.statusCode).toBe(200);
    expect(list.body).toContain('href="/console/people/powell"');
    expect(list.body).toContain('<td>Colin Powell</td>');

    const person = await browser.get(res.headers.location as string);
    expect(person.statusCode).toBe(200);
    expect(person.body).toContain('Enrolled. The person is recognised from now on.');
    for (const p of await photos('lfw10/Colin_Powell', [0, 1, 2, 3]))
      expect(verdictRow(person.body, p.name)).toMatch(/accepted/);
    // The verdicts are shown once; a reload shows the page without them.
    expect((await browser.get('/console/people/powell')).body).not.toContain('Each photo');
  });

  it("shows each refused photo's reason in a mixed upload (good photos, a non-image, a photo with no face)", async () => {
    // Rumsfeld's first four pass the quality gate; his fifth does not (measured with these models).
    const good = await photos('lfw10/Donald_Rumsfeld', [0, 1, 2, 3]);
    const [gated] = await photos('lfw10/Donald_Rumsfeld', [4]);
    const res = await browser.upload(
      '/console/people/new',
      { userId: 'rumsfeld', name: 'Donald Rumsfeld', department: '' },
      [...good, notAnImage, await blankPhoto(), gated as File],
    );
    expect(res.statusCode, res.body).toBe(303);
    const person = (await browser.get(res.headers.location as string)).body;
    for (const p of good) expect(verdictRow(person, p.name)).toMatch(/accepted/);
    const junk = verdictRow(person, 'notes.jpg');
    expect(junk).toMatch(/refused/);
    expect(junk).toMatch(/decode|image|format/i);
    const blank = verdictRow(person, 'empty-wall.png');
    expect(blank).toMatch(/refused/);
    expect(blank).toMatch(/no face/i);
    expect(verdictRow(person, 'Donald_Rumsfeld_0005.jpg')).toMatch(/refused.*quality gate/);
    expect(await appliance.storage.db.countEmbeddings('rumsfeld')).toBe(4);
  });

  it('re-renders a refused enrolment (422) with the fields kept, every photo with its verdict, and the name escaped', async () => {
    const name = '<script>alert("x")</script> Blair';
    const res = await browser.upload('/console/people/new', { userId: 'blair', name, department: 'FCO' }, [
      ...(await photos('lfw10/Tony_Blair', [1, 2])),
      notAnImage,
    ]);
    expect(res.statusCode, res.body).toBe(422);
    expect(res.body).toContain('value="blair"');
    expect(res.body).toContain('value="FCO"');
    expect(res.body).toContain('value="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; Blair"');
    expect(res.body).not.toContain('<script>alert');
    expect(verdictRow(res.body, 'notes.jpg')).toMatch(/refused/);
    // Every photo has its row: a refusal's reason, or usable but not kept (the enrolment as a whole was refused).
    for (const photo of ['Tony_Blair_0002.jpg', 'Tony_Blair_0003.jpg'])
      expect(verdictRow(res.body, photo)).toMatch(/(refused|accepted) \w/);
    expect(res.body).toContain('role="alert"');
    expect(await userOf('blair')).toBeNull();
  });

  it('shows a name with markup escaped in the list and on the person page', async () => {
    await appliance.storage.db.createUser({ id: 'mallory', name: '<script>alert(1)</script>', department: '<b>x</b>' });
    const list = (await browser.get('/console/people?q=mallory')).body;
    const person = (await browser.get('/console/people/mallory')).body;
    for (const text of [list, person]) {
      expect(text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
      expect(text).toContain('&lt;b&gt;x&lt;/b&gt;');
      expect(text).not.toContain('<script>alert(1)');
      expect(text).not.toContain('<b>x</b>');
    }
  });

  it('finds people by name or id, in any case, and by status', async () => {
    const byName = (await browser.get('/console/people?q=POWELL')).body;
    expect(byName).toContain('href="/console/people/powell"');
    expect(byName).not.toContain('href="/console/people/rumsfeld"');
    const byId = (await browser.get('/console/people?q=RUMS')).body;
    expect(byId).toContain('href="/console/people/rumsfeld"');
    expect(byId).not.toContain('href="/console/people/powell"');
    const none = (await browser.get('/console/people?q=nobody-here')).body;
    expect(none).toContain('Nobody matches.');
    const disabled = (await browser.get('/console/people?status=disabled')).body;
    expect(disabled).toContain('Nobody matches.');
    expect((await browser.get('/console/people?status=gone')).statusCode).toBe(400);
  });

  it("shows the person's aligned crops and originals, which answer with image bytes", async () => {
    const person = (await browser.get('/console/people/powell')).body;
    const links = imageLinks(person);
    expect(links.filter((l) => l.includes('/images/aligned/'))).toHaveLength(4);
    expect(links.filter((l) => l.includes('/images/original/'))).toHaveLength(4);
    for (const link of links) {
      const res = await browser.get(link);
      expect(res.statusCode, link).toBe(200);
      const bytes = res.rawPayload;
      if (link.endsWith('.png')) {
        expect(res.headers['content-type']).toBe('image/png');
        expect(bytes.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
      } else {
        expect(res.headers['content-type']).toBe('image/jpeg');
        expect(bytes.subarray(0, 3).toString('hex')).toBe('ffd8ff');
      }
    }
  });

  it('refuses a path out of the image folder (4xx) and reads nothing', async () => {
    // A file beside the user's folder that a traversal would reach.
    const secret = path.join(appliance.dataRoot, 'images', 'users', 'secret.jpg');
    await fs.writeFile(secret, 'TOPSECRET');
    const attempts = [
      '/console/people/powell/images/original/..%2F..%2Fsecret.jpg',
      '/console/people/powell/images/original/..%2Fmetadata.json',
      '/console/people/powell/images/..%2F..%2F/secret.jpg',
      '/console/people/powell/images/..%2F..%2Fusers/secret.jpg',
      '/console/people/..%2Fsecret.jpg/images/aligned/face_001.png',
      '/console/people/powell/images/aligned/face_001.png%00.jpg',
      '/console/people/powell/images/original/img_999.jpg',
      '/console/people/rumsfeld/images/original/img_001.jpg%2F..%2F..%2Fpowell%2Foriginal%2Fimg_001.jpg',
    ];
    for (const url of attempts) {
      const res = await browser.get(url);
      expect(res.statusCode, url).toBeGreaterThanOrEqual(400);
      expect(res.statusCode, url).toBeLessThan(500);
      expect(res.headers['content-type'], url).toMatch(/^text\/html/);
      expect(res.body, url).not.toContain('TOPSECRET');
      expect(res.body, url).not.toContain('sha256');
      // Refused for what it is, a name or kind no image has (the route checks, and storage checks again);
      // a well-formed name that is not recorded is a 404.
      if (!url.endsWith('img_999.jpg'))
        expect(res.body, url).toMatch(/Expected (an? (original|aligned) file name|the image kind|a user id)/);
    }
    // Storage refuses such a name by itself too.
    await expect(appliance.storage.images.readUserImage('powell', 'original', '../../secret.jpg')).rejects.toThrow(
      /Expected an original file name/,
    );
  });

  it('disables, then enables, a person: the status changes in the store and the directory', async () => {
    const off = await browser.post('/console/people/powell/disable');
    expect(off.statusCode, off.body).toBe(303);
    expect(off.headers.location).toBe('/console/people/powell?done=disabled');
    expect((await userOf('powell'))?.status).toBe('disabled');
    expect(tc.deps.users.statusOf('powell')).toBe('disabled');
    const page = (await browser.get(off.headers.location as string)).body;
    expect(page).toContain('Disabled. The person is no longer recognised');
    expect(page).toContain('action="/console/people/powell/enable"');
    expect((await browser.get('/console/people?status=disabled')).body).toContain('href="/console/people/powell"');

    const on = await browser.post('/console/people/powell/enable');
    expect(on.statusCode).toBe(303);
    expect((await userOf('powell'))?.status).toBe('active');
    expect(tc.deps.users.statusOf('powell')).toBe('active');
  });

  it('refuses a state change without the CSRF token (403) and changes nothing', async () => {
    const noToken = await browser.post('/console/people/powell/disable', {}, { csrf: false });
    expect(noToken.statusCode).toBe(403);
    const wrong = await browser.post('/console/people/powell/delete', { _csrf: 'x'.repeat(43) }, { csrf: false });
    expect(wrong.statusCode).toBe(403);
    expect((await userOf('powell'))?.status).toBe('active');

    const { payload, headers } = await multipartBody(
      { userId: 'chirac', name: 'Jacques Chirac' },
      await photos('lfw10/Jacques_Chirac', [0, 1, 2]),
    );
    const upload = await tc.app.inject({
      method: 'POST',
      url: '/console/people/new',
      payload,
      headers: { cookie: browser.cookie, ...headers },
    });
    expect(upload.statusCode).toBe(403);
    expect(await userOf('chirac')).toBeNull();
  });

  it('deletes a person with their images purged; their page is then a 404', async () => {
    const userDir = path.join(appliance.dataRoot, 'images', 'users', 'rumsfeld');
    expect(existsSync(userDir)).toBe(true);
    const res = await browser.post('/console/people/rumsfeld/delete', { purgeImages: 'true' });
    expect(res.statusCode, res.body).toBe(303);
    expect(res.headers.location).toBe('/console/people?done=deleted');
    expect(await userOf('rumsfeld')).toBeNull();
    expect(await appliance.storage.db.countEmbeddings('rumsfeld')).toBe(0);
    expect(tc.deps.users.statusOf('rumsfeld')).toBeUndefined();
    expect(await appliance.storage.images.readMetadata('rumsfeld')).toBeNull();

    const list = (await browser.get(res.headers.location as string)).body;
    expect(list).toContain('Deleted. The person and their embeddings are gone.');
    expect(list).not.toContain('href="/console/people/rumsfeld"');

    const gone: LightMyRequestResponse = await browser.get('/console/people/rumsfeld');
    expect(gone.statusCode).toBe(404);
    expect(gone.body).toContain('Expected an existing user but there is no user rumsfeld');
    expect((await browser.get('/console/people/rumsfeld/images/aligned/face_001.png')).statusCode).toBe(404);
    expect((await browser.post('/console/people/rumsfeld/disable')).statusCode).toBe(404);
  });

  it('shows only fixed confirmations: a done value from the query is never echoed', async () => {
    const res = await browser.get('/console/people?done=%3Cscript%3Ehello');
    expect(res.statusCode).toBe(200);
    expect(res.body).not.toContain('hello');
    expect(res.body).not.toContain('class="notice');
  });
});
