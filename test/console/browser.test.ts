// Issue 16's must-show, in real headless Chromium (Debian's chromium, driven by playwright-core)
// against a running `facegate serve` with a real RTSP camera: sign in (keyboard only); the
// stranger's group appears; enrol him from the group; his next appearance is named on the events
// page; the cameras page shows the live snapshot; delete a person; sign out; a request without a
// session is refused; a state change without the CSRF token is refused. The browser may reach
// nothing but the appliance (every other request is aborted and counted: all assets are local).
// Each page's screenshot is written to var/test-artifacts/console/, and the page weight printed.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { chromium, type Browser, type Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type DisposablePostgres, startPostgres } from '../helpers/disposable-postgres.js';
import { freePort } from '../helpers/free-port.js';
import { startRtspServer, type RtspTestServer } from '../helpers/rtsp-server.js';
import { type ServeProcess, spawnServe } from '../helpers/serve-process.js';
import { FACES_DIR, MODELS_DIR } from '../helpers/shared-data.js';
import { until } from '../helpers/until.js';

const ARTIFACTS = path.resolve(import.meta.dirname, '..', '..', 'var', 'test-artifacts', 'console');
const CHROMIUM = process.env.FACEGATE_CHROMIUM ?? '/usr/bin/chromium';

let dir: string;
let postgres: DisposablePostgres;
let camera: RtspTestServer;
let browser: Browser;
let serve: ServeProcess | null = null;
let api = '';
let token = '';

/** Each page's HTML size, for the README's page weight. */
const htmlBytes: string[] = [];

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
  htmlBytes.push(`${name} ${Buffer.byteLength(await page.content())} B`);
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `The console's browser tests need Debian's chromium package at ${CHROMIUM}: apt-get install chromium (scripts/test.sh does)`,
    );
  await mkdir(ARTIFACTS, { recursive: true });
  dir = await mkdtemp(path.join(os.tmpdir(), 'facegate-console-'));
  // The stranger: four photos of one man, each followed by an empty grey frame, so that each photo
  // is a track of its own and his group grows by one face per photo.
  const grey = path.join(dir, 'grey.jpg');
  await sharp({ create: { width: 1280, height: 720, channels: 3, background: { r: 90, g: 90, b: 90 } } })
    .jpeg()
    .toFile(grey);
  const photos = ['obama.jpg', 'obama2.jpg', 'obama3.jpg', 'obama-480p.jpg'].map((f) =>
    path.join(FACES_DIR, 'obama', f),
  );
  [postgres, camera] = await Promise.all([
    startPostgres(),
    startRtspServer({ images: photos.flatMap((p) => [p, grey]), secondsPerImage: 2, width: 1280, height: 720 }),
  ]);
  const port = await freePort();
  api = `http://127.0.0.1:${port}`;
  const config = path.join(dir, 'facegate.yaml');
  await writeFile(
    config,
    [
      `dataDir: ${JSON.stringify(path.join(dir, 'data'))}`,
      `modelsDir: ${JSON.stringify(MODELS_DIR)}`,
      `database: { url: ${JSON.stringify(postgres.url)} }`,
      'inference: { provider: cpu }',
      `api: { port: ${port} }`,
      'cameras:',
      `  - { id: gate_1, url: ${JSON.stringify(camera.url)}, fps: 5, width: 1280, height: 720, watchdogSeconds: 3 }`,
    ].join('\n'),
  );
  serve = spawnServe(config);
  await until('the service to be up', () => /"msg":"facegate running"/.test(serve?.log ?? ''), 60_000);
  token = (await readFile(path.join(dir, 'data', 'api-token'), 'utf8')).trim();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
    ],
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await serve?.stop();
  await camera?.stop();
  await postgres?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('the operator console in Chromium', () => {
  it('signs in, enrols the stranger from his group, names him on the events page, deletes him, signs out; refuses no session and no CSRF token', async () => {
    const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
    // The network cut off: only the appliance answers; anything else is aborted and remembered.
    const elsewhere: string[] = [];
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.origin === api) return route.continue();
      elsewhere.push(url.href);
      return route.abort();
    });
    const page = await context.newPage();
    page.on('dialog', (dialog) => void dialog.accept());

    // No session: any page sends the browser to the sign-in page.
    await page.goto(`${api}/console/events`);
    expect(new URL(page.url()).pathname).toBe('/console/sign-in');
    await shot(page, '01-sign-in');
    // Keyboard only: the name field has the focus; Tab to the token; Enter submits.
    await page.keyboard.type('Ada');
    await page.keyboard.press('Tab');
    await page.keyboard.type(token);
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/console\/unknown/);
    const cookies = await context.cookies();
    expect(cookies.find((c) => c.name === 'facegate_session')).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    expect(page.url()).not.toContain(token);

    // The stranger's group appears with at least three faces (one per photo).
    await until(
      "the stranger's group with three faces",
      async () => {
        await page.waitForTimeout(1_500);
        await page.goto(`${api}/console/unknown?sort=size`);
        const tiles = page.locator('a.tile');
        return (await tiles.count()) > 0 && /\b([3-9]|\d{2,}) faces?\b/.test((await tiles.first().innerText()) ?? '');
      },
      90_000,
    );
    await shot(page, '02-unknown-faces');
    await page.locator('a.tile').first().click();
    await page.waitForURL(/\/console\/unknown\/\d+/);
    await shot(page, '03-group');

    // Enrol him from the group.
    const enroll = page.locator('form[action$="/enroll"]');
    await enroll.getByLabel(/user id/i).fill('obama');
    await enroll.getByLabel(/^name/i).fill('Barack Obama');
    await enroll.getByRole('button', { name: /enrol/i }).click();
    await page.waitForLoadState();
    await shot(page, '04-enrolled');
    expect(await page.content()).toMatch(/Barack Obama/);

    // His next appearance is named on the events page.
    await until(
      'Barack Obama named on the events page',
      async () => {
        await page.waitForTimeout(1_500);
        await page.goto(`${api}/console/events`);
        return (await page.locator('table').innerText()).includes('Barack Obama');
      },
      60_000,
    );
    await shot(page, '05-events');

    // The cameras page: the camera and its live snapshot (a real image, loaded).
    await page.goto(`${api}/console/cameras`);
    const snapshot = page.locator('img.snapshot').first();
    await until(
      'the snapshot to load',
      () =>
        snapshot.evaluate(
          (img) =>
            (img as unknown as { complete: boolean; naturalWidth: number }).complete &&
            (img as unknown as { naturalWidth: number }).naturalWidth > 0,
        ),
      15_000,
    );
    expect(await page.locator('main').innerText()).toMatch(/gate_1/);
    await shot(page, '06-cameras');

    // The people page; delete him (with his images).
    await page.goto(`${api}/console/people`);
    await shot(page, '07-people');
    await page.goto(`${api}/console/people/obama`);
    await shot(page, '08-person');
    const remove = page.locator('form[action$="/delete"]');
    const purge = remove.getByRole('checkbox');
    if ((await purge.count()) > 0) await purge.check();
    await remove.getByRole('button', { name: /delete/i }).click();
    await page.waitForURL(/\/console\/people(\?|$)/);
    await shot(page, '09-deleted');
    const gone = await fetch(`${api}/users/obama`, { headers: { authorization: `Bearer ${token}` } });
    expect(gone.status).toBe(404);

    // A state change without the CSRF token: refused, nothing changed.
    const forged = await context.request.post(`${api}/console/people/obama/disable`, {
      form: { x: '1' },
      maxRedirects: 0,
    });
    expect(forged.status()).toBe(403);

    // Sign out: the session is over; a page asks for sign-in again, a POST is refused.
    await page.getByRole('button', { name: /sign out/i }).click();
    await page.waitForURL(/\/console\/sign-in/);
    await page.goto(`${api}/console/people`);
    expect(new URL(page.url()).pathname).toBe('/console/sign-in');
    const after = await context.request.post(`${api}/console/unknown/1/dismiss`, { form: {}, maxRedirects: 0 });
    expect(after.status()).toBe(401);

    expect(elsewhere).toEqual([]);
    console.log(
      `console: HTML per page: ${htmlBytes.join(', ')} (plus the stylesheet and script, and the images); screenshots in ${ARTIFACTS}`,
    );
    await context.close();
  }, 300_000);
});
