// The console's events page against a real appliance (PostgreSQL, the real models for the one kept
// stranger): the timeline newest first, each filter (camera, person, known/unknown, since/until),
// the crop of a kept unknown face, keyset paging with "Older" that keeps the filters, a bad filter
// refused with a 400 page that says what was expected and what was received, and a user's name
// that is markup shown as text.
import { promises as fs } from 'node:fs';
import path from 'node:path';

import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { decodeImage } from '../../src/vision/image-input.js';
import type { RecognitionEvent } from '../../storage/db/db-store.js';
import { FACES_DIR } from '../helpers/shared-data.js';
import { type Browser, openTestConsole, type TestConsole } from '../helpers/test-console.js';
import { openTestAppliance, type TestAppliance } from '../helpers/test-appliance.js';
import { keepUnknownFace } from '../helpers/unknown-faces.js';

let appliance: TestAppliance;
let tc: TestConsole;
let browser: Browser;
/** Event ids by name; bulk events are b0 (oldest) .. b59. */
const ids: Record<string, string> = {};
let kept: { groupId: bigint; faceId: bigint };

const at = (hour: number, minute: number, second = 0) => new Date(Date.UTC(2026, 2, 1, hour, minute, second));
const stats = (cameraId: string) => ({
  cameraId,
  state: 'online',
  framesReceived: 0,
  framesDropped: 0,
  lastFrameAt: null,
});

beforeAll(async () => {
  appliance = await openTestAppliance('console-events');
  const { storage, vision } = appliance;
  tc = await openTestConsole(appliance, { cameraStats: () => [stats('gate_1'), stats('gate_2')] });
  browser = await tc.signIn('ada');
  await storage.db.createUser({ id: 'U1', name: 'Ada Lovelace' });
  await storage.db.createUser({ id: 'U2', name: '<script>alert(1)</script>' });

  // 60 granted passages of U1 at gate_2 between 08:00:00 and 08:00:59, then four newer events.
  const bulk: RecognitionEvent[] = Array.from({ length: 60 }, (_, i) => ({
    timestamp: at(8, 0, i),
    cameraId: 'gate_2',
    matchedUserId: 'U1',
    confidence: 0.7,
    threshold: 0.42,
    access: { verdict: 'granted', reason: 'role staff, every day' },
  }));
  const written = await storage.db.recordRecognitions(bulk);
  written.forEach((w, i) => (ids[`b${i}`] = w.id));
  const one = async (name: string, event: RecognitionEvent) => {
    const w = await storage.db.recordRecognition(event);
    if (w.stored !== 'database') throw new Error('Expected the event in the database');
    ids[name] = w.id;
  };
  await one('k1', {
    timestamp: at(9, 0),
    cameraId: 'gate_1',
    matchedUserId: 'U1',
    confidence: 0.81234,
    threshold: 0.42,
    access: { verdict: 'granted', reason: 'role staff, Mon-Fri 08:00-18:00' },
  });
  await one('k2', {
    timestamp: at(9, 5),
    cameraId: 'gate_2',
    matchedUserId: 'U2',
    confidence: 0.6,
    threshold: 0.42,
    access: { verdict: 'denied', reason: 'no rule grants gate_2' },
  });
  // A stranger whose face the grouping kept, as the pipeline keeps it (its event written first).
  const photo = await fs.readFile(path.join(FACES_DIR, 'obama', 'obama.jpg'));
  const [face] = await vision.analyzer.analyze(await decodeImage(photo));
  if (!face) throw new Error('Expected a face in obama.jpg');
  const k = await keepUnknownFace(storage, tc.deps.grouping, face, 'gate_1', at(9, 10));
  ids.uf = k.face.eventId;
  kept = { groupId: k.face.groupId, faceId: k.face.id };
  await one('u2', {
    timestamp: at(9, 15),
    cameraId: 'gate_2',
    matchedUserId: null,
    confidence: 0.2,
    threshold: 0.42,
    access: { verdict: 'unknown', reason: 'unknown face' },
  });
}, 60_000);
afterAll(async () => {
  await tc?.app.close();
  await appliance?.close();
});

/** The events a page lists, by name, in order. */
function listed(res: LightMyRequestResponse): string[] {
  expect(res.statusCode).toBe(200);
  const names = Object.fromEntries(Object.entries(ids).map(([k, v]) => [v, k]));
  return [...res.body.matchAll(/<tr data-event="([^"]+)"/g)].map((m) => names[m[1] as string] ?? `? ${m[1]}`);
}

/** The "Older" link's target (HTML-decoded), or null. */
function olderLink(body: string): string | null {
  const m = /<a class="button secondary" rel="next" href="([^"]+)"/.exec(flat(body));
  return m ? (m[1] as string).replace(/&amp;/g, '&') : null;
}

/** The <tr> of one event. */
function rowOf(body: string, id: string): string {
  const start = body.indexOf(`<tr data-event="${id}"`);
  expect(start).toBeGreaterThan(-1);
  return flat(body.slice(start, body.indexOf('</tr>', start)));
}

/** Markup with its whitespace runs as one space (the templates' line breaks are formatting). */
const flat = (text: string) => text.replace(/\s+/g, ' ');

const bulk = (from: number, to: number) => Array.from({ length: from - to + 1 }, (_, i) => `b${from - i}`);

describe('the events page', () => {
  it('lists the events newest first, 50 a page, and "Older" pages back with the last id', async () => {
    const first = await browser.get('/console/events');
    expect(listed(first)).toEqual(['u2', 'uf', 'k2', 'k1', ...bulk(59, 14)]);
    const older = olderLink(first.body);
    expect(older).toBe(`/console/events?before=${ids.b14}`);
    const second = await browser.get(older as string);
    expect(listed(second)).toEqual(bulk(13, 0));
    expect(olderLink(second.body)).toBeNull();
    expect(flat(second.body)).toContain('href="/console/events">Newest</a>');
  });

  it('shows time, camera, person, outcome, score against threshold, and the access verdict with its reason', async () => {
    const { body } = await browser.get('/console/events');
    const k1 = rowOf(body, ids.k1 as string);
    expect(k1).toContain(
      '<time datetime="2026-03-01T09:00:00.000Z" title="2026-03-01T09:00:00.000Z">2026-03-01 09:00:00 UTC</time>',
    );
    expect(k1).toContain('<td>gate_1</td>');
    expect(k1).toContain('<a href="/console/people/U1">Ada Lovelace</a> <span class="muted">U1</span>');
    expect(k1).toContain('<span class="badge known">known</span>');
    expect(k1).toContain('>0.812 <span class="muted">/ 0.420</span></span');
    expect(k1).toContain('<span class="badge granted">granted</span> role staff, Mon-Fri 08:00-18:00');
    const u2 = rowOf(body, ids.u2 as string);
    expect(u2).toContain('<span class="badge unknown">unknown</span>');
    expect(u2).toContain('<span class="badge unknown">unknown</span> unknown face');
    expect(rowOf(body, ids.k2 as string)).toContain('<span class="badge denied">denied</span> no rule grants gate_2');
  });

  it('shows the crop of the kept unknown face, linked to its group, and no image on the other rows', async () => {
    const { body } = await browser.get('/console/events');
    const src = `/console/unknown/${kept.groupId}/faces/${kept.faceId}.png`;
    expect(rowOf(body, ids.uf as string)).toContain(`<img class="thumb" src="${src}"`);
    expect(rowOf(body, ids.uf as string)).toContain(`<a href="/console/unknown/${kept.groupId}"`);
    for (const name of ['u2', 'k2', 'k1']) expect(rowOf(body, ids[name] as string)).not.toContain('<img');
    expect(flat(body).match(/<img class="thumb"/g)).toHaveLength(1);
  });

  it('filters by camera, person, known/unknown and a UTC time window', async () => {
    expect(listed(await browser.get('/console/events?camera=gate_1'))).toEqual(['uf', 'k1']);
    expect(listed(await browser.get('/console/events?person=U2'))).toEqual(['k2']);
    expect(listed(await browser.get('/console/events?outcome=unknown'))).toEqual(['u2', 'uf']);
    expect(listed(await browser.get('/console/events?outcome=known&camera=gate_1'))).toEqual(['k1']);
    // The form's datetime-local values (no zone) are UTC; a timestamp with its zone is taken as is.
    expect(listed(await browser.get('/console/events?since=2026-03-01T09:04&until=2026-03-01T09:12'))).toEqual([
      'uf',
      'k2',
    ]);
    expect(listed(await browser.get('/console/events?since=2026-03-01T10:04%2B01:00'))).toEqual(['u2', 'uf', 'k2']);
    expect(listed(await browser.get('/console/events?until=2026-03-01T08:00:03'))).toEqual(['b2', 'b1', 'b0']);
    // The form shows what it filters by; the camera list is the configured cameras plus the one asked for.
    const body = flat((await browser.get('/console/events?camera=gate_9&outcome=unknown&since=2026-03-01T09:04')).body);
    expect(body).toContain('<option value="gate_9" selected>gate_9</option>');
    expect(body).toContain('<option value="gate_1" >gate_1</option>');
    expect(body).toContain('<option value="unknown" selected>Unknown</option>');
    expect(body).toContain('name="since" step="1" value="2026-03-01T09:04"');
    expect(body).toContain('No events match these filters.');
  });

  it('filters by appliance (issue 18): this one lists its events, another none; a bad id is a 400', async () => {
    expect(listed(await browser.get('/console/events?appliance=appliance-1&camera=gate_1'))).toEqual(['uf', 'k1']);
    expect(listed(await browser.get('/console/events?appliance=site-b'))).toEqual([]);
    const bad = await browser.get('/console/events?appliance=..%2Fx');
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('Expected an appliance id');
  });

  it('keeps the filters on the "Older" link', async () => {
    const first = await browser.get('/console/events?camera=gate_2&outcome=known');
    expect(listed(first)).toEqual(['k2', ...bulk(59, 11)]);
    const older = olderLink(first.body);
    expect(older).toBe(`/console/events?camera=gate_2&outcome=known&before=${ids.b11}`);
    const second = await browser.get(older as string);
    expect(listed(second)).toEqual(bulk(10, 0));
    expect(flat(second.body)).toContain('href="/console/events?camera=gate_2&amp;outcome=known">Newest</a>');
  });

  it('refuses a bad filter with a 400 page saying what it expected and what it received', async () => {
    const since = await browser.get('/console/events?since=yesterday&camera=gate_1');
    expect(since.statusCode).toBe(400);
    expect(since.headers['content-type']).toMatch(/^text\/html/);
    expect(since.body).toContain(
      'Expected since to be a date and time in UTC (YYYY-MM-DDThh:mm, as the form&#39;s field gives it) or a timestamp with its zone (YYYY-MM-DDThh:mm:ssZ) but received &quot;yesterday&quot;',
    );
    // The form comes back as sent, to be corrected.
    expect(flat(since.body)).toContain('name="since" step="1" value="yesterday"');
    expect(flat(since.body)).toContain('<option value="gate_1" selected>gate_1</option>');

    const impossible = await browser.get('/console/events?until=2026-02-30T10:00');
    expect(impossible.statusCode).toBe(400);
    expect(impossible.body).toContain('but received &quot;2026-02-30T10:00&quot;');
    const outcome = await browser.get('/console/events?outcome=maybe');
    expect(outcome.statusCode).toBe(400);
    expect(outcome.body).toContain(
      'Expected outcome to be known or unknown (or empty for both) but received &quot;maybe&quot;',
    );
    const before = await browser.get('/console/events?before=123');
    expect(before.statusCode).toBe(400);
    expect(before.body).toContain('Expected before to be an event id');
    const camera = await browser.get('/console/events?camera=%3Cb%3E');
    expect(camera.statusCode).toBe(400);
    expect(camera.body).not.toContain('<b>');
    const window = await browser.get('/console/events?since=2026-03-01T10:00&until=2026-03-01T09:00');
    expect(window.statusCode).toBe(400);
    expect(window.body).toContain('Expected since to be before until');
  });

  it('shows a name that is markup as text', async () => {
    const { body } = await browser.get('/console/events?person=U2');
    expect(body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(body).not.toContain('<script>alert');
  });

  it('is not served without a session', async () => {
    const res = await tc.app.inject({ method: 'GET', url: '/console/events' });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/console/sign-in');
  });
});
