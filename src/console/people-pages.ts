// The console's people pages (issue 16): the enrolled users with a search, a person's page with their
// aligned crops and originals, disable / enable, delete (optionally purging the images), and enrolment
// from uploaded photos with each photo's verdict. They call what the API's user routes call
// (src/api/user-routes.ts): readUpload within the same limits, enroll() and deleteUser() from
// src/recognition/enrollment.ts, the DbStore's user methods, and the user directory's refresh after
// every change, so that a page and a JSON client can never disagree about what a change means.
//
// Every state change is a POST that answers 303 to a page (post/redirect/get): a reload repeats
// nothing. What the redirect says is a fixed message picked by a `done` key, never text from the
// query; the verdicts of an enrolment ride to the person's page in memory, once, per session.
import type { FastifyInstance, FastifyReply } from 'fastify';

import { quoteReceived } from '../../storage/checks.js';
import { CorruptedImageError, NotFoundError, StoreInputError } from '../../storage/errors.js';
import { validateId } from '../../storage/ids.js';
import type { ImageKind, StoredImage } from '../../storage/images/image-store.js';
import type { User, UserStatus } from '../../storage/db/db-store.js';
import { errorResponse, HttpError } from '../api/errors.js';
import { MAX_TEXT_FIELD, textField } from '../api/text-fields.js';
import { MAX_ENROLL_IMAGES, readUpload } from '../api/upload.js';
import {
  deleteUser,
  enroll,
  EnrollmentRefusedError,
  type EnrollmentImage,
  MIN_ENROLLMENT_FACES,
  type PhotoEnrollResult,
  type Skipped,
} from '../recognition/enrollment.js';
import { html, query, type SafeHtml } from './html.js';
import { type ConsoleContext, type PageModule, sessionOf } from './index.js';
import { csrfField, csrfQuery, type Notice, page } from './layout.js';
import type { ConsoleSession } from './session.js';

/** Rows per list page: enough to scan, few enough that counting each row's embeddings stays cheap. */
const PAGE_SIZE = 50;
/** A search longer than any id (64) or name (200) finds nothing; refusing it keeps URLs sane. */
const MAX_QUERY_CHARS = MAX_TEXT_FIELD;
/** A photo's file name as shown back (the client's name, escaped; long ones cut). */
const MAX_SHOWN_NAME = 120;

/** The confirmations a redirect may ask for: fixed texts, so a crafted link cannot put words on the page. */
const DONE_MESSAGES: Record<string, string> = {
  enrolled: 'Enrolled. The person is recognised from now on.',
  disabled: 'Disabled. The person is no longer recognised as known (their photos and embeddings are kept).',
  enabled: 'Enabled. The person is recognised again.',
  deleted: 'Deleted. The person and their embeddings are gone.',
};

/** The image names storage makes (storage/images/user-gallery.ts), checked here before storage is asked. */
const FILE_PATTERNS: Record<ImageKind, RegExp> = {
  original: /^img_\d{3,}\.(jpg|png|webp)$/,
  aligned: /^face_\d{3,}\.png$/,
};
const CONTENT_TYPES: Record<string, string> = { jpg: 'image/jpeg', png: 'image/png', webp: 'image/webp' };

/** One photo of an enrolment as the operator sees it: its name and what became of it. */
interface Verdict {
  name: string;
  accepted: boolean;
  reason: string;
}

/** An enrolment's verdicts, shown once on the new person's page after the redirect. */
interface EnrolFlash {
  userId: string;
  verdicts: Verdict[];
  lookalikes: string[];
}
const flashes = new WeakMap<ConsoleSession, EnrolFlash>();

function shownName(name: string): string {
  return name.length > MAX_SHOWN_NAME ? `${name.slice(0, MAX_SHOWN_NAME)}…` : name;
}

/** Each photo in upload order with its verdict: refused ones by enroll()'s skipped list (names matched in order). */
function verdictsOf(names: string[], skipped: readonly Skipped[], acceptedText: string): Verdict[] {
  const left = [...skipped];
  return names.map((name) => {
    const at = left.findIndex((s) => s.file === name);
    if (at < 0) return { name: shownName(name), accepted: true, reason: acceptedText };
    const [refused] = left.splice(at, 1);
    return { name: shownName(name), accepted: false, reason: refused?.reason ?? 'refused' };
  });
}

function verdictTable(verdicts: Verdict[]): SafeHtml {
  if (verdicts.length === 0) return html``;
  return html`<div class="card">
    <table class="verdicts">
      <caption class="muted">
        Each photo's verdict
      </caption>
      <thead>
        <tr>
          <th scope="col">Photo</th>
          <th scope="col">Verdict</th>
          <th scope="col">Why</th>
        </tr>
      </thead>
      <tbody>
        ${verdicts.map(
          (v) =>
            html`<tr>
              <td>${v.name}</td>
              <td>
                <span class="badge ${v.accepted ? 'active' : 'disabled'}">${v.accepted ? 'accepted' : 'refused'}</span>
              </td>
              <td>${v.reason}</td>
            </tr>`,
        )}
      </tbody>
    </table>
  </div>`;
}

function statusBadge(status: UserStatus): SafeHtml {
  return html`<span class="badge ${status}">${status}</span>`;
}

function rolesOf(user: User): SafeHtml {
  return user.roles.length
    ? html`${user.roles.map((r) => html`<span class="badge">${r}</span> `)}`
    : html`<span class="muted">none</span>`;
}

function doneNotice(done: unknown): Notice | null {
  const text = typeof done === 'string' && Object.hasOwn(DONE_MESSAGES, done) ? DONE_MESSAGES[done] : undefined;
  return text ? { kind: 'ok', text } : null;
}

function sendPage(reply: FastifyReply, status: number, text: string): FastifyReply {
  return reply.code(status).type('text/html; charset=utf-8').send(text);
}

function personHref(id: string): string {
  return `/console/people/${encodeURIComponent(id)}`;
}

// ---- the list ----

interface ListQuery {
  q: string;
  status: UserStatus | '';
  page: number;
}

function parseListQuery(raw: Record<string, unknown>): ListQuery {
  const one = (name: string): string => {
    const value = raw[name];
    if (value === undefined) return '';
    if (typeof value !== 'string') throw new HttpError(400, `Expected ${name} once but received it several times`);
    return value;
  };
  const q = one('q').trim();
  if (q.length > MAX_QUERY_CHARS)
    throw new HttpError(400, `Expected a search of at most ${MAX_QUERY_CHARS} characters but received ${q.length}`);
  const status = one('status');
  if (status !== '' && status !== 'active' && status !== 'disabled')
    throw new HttpError(400, `Expected status active, disabled or empty but received ${quoteReceived(status, 20)}`);
  const pageText = one('page') || '1';
  if (!/^[1-9]\d{0,5}$/.test(pageText))
    throw new HttpError(400, `Expected page to be a whole number from 1 but received ${quoteReceived(pageText, 20)}`);
  return { q, status, page: Number(pageText) };
}

async function listPage(ctx: ConsoleContext, session: ConsoleSession, raw: Record<string, unknown>): Promise<string> {
  const filter = parseListQuery(raw);
  const { storage } = ctx.deps;
  const all = await storage.db.listUsers(filter.status ? { status: filter.status } : {});
  const needle = filter.q.toLowerCase();
  const found = needle
    ? all.filter((u) => u.id.toLowerCase().includes(needle) || u.name.toLowerCase().includes(needle))
    : all;
  const pages = Math.max(1, Math.ceil(found.length / PAGE_SIZE));
  const pageNo = Math.min(filter.page, pages);
  const shown = found.slice((pageNo - 1) * PAGE_SIZE, pageNo * PAGE_SIZE);
  // One indexed count per shown row (at most PAGE_SIZE), not per user.
  const counts = await Promise.all(shown.map((u) => storage.db.countEmbeddings(u.id)));
  const link = (p: number) =>
    `/console/people${query({ q: filter.q, status: filter.status, page: p === 1 ? undefined : p })}`;

  const body = html`<form class="filters" method="get" action="/console/people" role="search">
      <div>
        <label for="people-q">Id or name contains</label>
        <input id="people-q" name="q" type="search" value="${filter.q}" maxlength="${MAX_QUERY_CHARS}" />
      </div>
      <div>
        <label for="people-status">Status</label>
        <select id="people-status" name="status">
          ${(['', 'active', 'disabled'] as const).map(
            (s) => html`<option value="${s}" ${filter.status === s ? html`selected` : ''}>${s || 'any'}</option>`,
          )}
        </select>
      </div>
      <div><button type="submit">Search</button></div>
      <div><a class="button secondary" href="/console/people/new">Enrol a person</a></div>
    </form>
    <p class="muted">
      ${
        found.length === all.length
          ? `${all.length} ${all.length === 1 ? 'person' : 'people'}`
          : `${found.length} of ${all.length} people match`
      }
    </p>
    ${
      shown.length === 0
        ? html`<p class="muted">${filter.q || filter.status ? 'Nobody matches.' : 'Nobody is enrolled yet.'}</p>`
        : html`<table>
            <thead>
              <tr>
                <th scope="col">Id</th>
                <th scope="col">Name</th>
                <th scope="col">Department</th>
                <th scope="col">Status</th>
                <th scope="col">Embeddings</th>
                <th scope="col">Roles</th>
              </tr>
            </thead>
            <tbody>
              ${shown.map(
                (u, i) =>
                  html`<tr>
                    <td><a href="${personHref(u.id)}">${u.id}</a></td>
                    <td>${u.name}</td>
                    <td>${u.department ?? html`<span class="muted">none</span>`}</td>
                    <td>${statusBadge(u.status)}</td>
                    <td>${counts[i] ?? 0}</td>
                    <td>${rolesOf(u)}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`
    }
    ${
      pages > 1
        ? html`<nav class="pager" aria-label="Pages">
            ${pageNo > 1 ? html`<a href="${link(pageNo - 1)}">Previous</a>` : ''}
            <span class="muted">Page ${pageNo} of ${pages}</span>
            ${pageNo < pages ? html`<a href="${link(pageNo + 1)}">Next</a>` : ''}
          </nav>`
        : ''
    }`;
  return page({ title: 'People', session, section: 'people', body, notice: doneNotice(raw.done) });
}

// ---- enrolment ----

interface EnrolForm {
  userId: string;
  name: string;
  department: string;
}

function enrolPage(session: ConsoleSession, form: EnrolForm, notice: Notice | null, verdicts: Verdict[] = []): string {
  const body = html`${verdictTable(verdicts)}
    <form class="card" method="post" action="/console/people/new?${csrfQuery(session)}" enctype="multipart/form-data">
      <label for="enrol-id">Id (letters, digits, '_', '-' or '.'; up to 64)</label>
      <input
        id="enrol-id"
        name="userId"
        type="text"
        required
        maxlength="64"
        value="${form.userId}"
        autocomplete="off"
      />
      <label for="enrol-name">Name</label>
      <input id="enrol-name" name="name" type="text" required maxlength="${MAX_TEXT_FIELD}" value="${form.name}" />
      <label for="enrol-department">Department (optional)</label>
      <input
        id="enrol-department"
        name="department"
        type="text"
        maxlength="${MAX_TEXT_FIELD}"
        value="${form.department}"
      />
      <p class="muted">
        ${MIN_ENROLLMENT_FACES} to ${MAX_ENROLL_IMAGES} photos of this one person, each showing their face clearly. At
        least ${MIN_ENROLLMENT_FACES} must be usable, or nothing is kept.
      </p>
      <label class="dropzone" for="enrol-images">
        <input id="enrol-images" type="file" name="images" multiple required accept="image/*" />
        Choose photos, or drop them here
        <span data-files class="muted"></span>
      </label>
      <p><button type="submit">Enrol</button> <a href="/console/people">Cancel</a></p>
    </form>`;
  return page({ title: 'Enrol a person', session, section: 'people', body, notice });
}

/** A browser sends an empty, nameless part when no file was chosen: that is no photo, not a refused one. */
function isEmptyPart(file: { name: string; bytes: Buffer }, index: number): boolean {
  return file.bytes.length === 0 && file.name === `images[${index}]`;
}

async function refreshUsers(ctx: ConsoleContext): Promise<void> {
  // As the API does: a failed refresh (database just went down) keeps the old state and is logged.
  await ctx.deps.users
    .refresh()
    .catch((error: unknown) => ctx.deps.logger.warn({ err: error }, 'console: user directory refresh failed'));
}

async function existingUser(ctx: ConsoleContext, rawId: string): Promise<User | null> {
  return ctx.deps.storage.db.getUser(validateId('user', rawId));
}

function notFoundPage(session: ConsoleSession, id: string): string {
  return page({
    title: 'Not found',
    session,
    section: 'people',
    body: html`<p><a href="/console/people">Back to the people</a></p>`,
    notice: { kind: 'error', text: `Expected an existing user but there is no user ${id}` },
  });
}

// ---- a person ----

async function personPage(ctx: ConsoleContext, session: ConsoleSession, user: User, done: unknown): Promise<string> {
  const { storage } = ctx.deps;
  const embeddings = await storage.db.countEmbeddings(user.id);
  let images: StoredImage[] = [];
  let imageProblem: string | null = null;
  try {
    const metadata = await storage.images.readMetadata(user.id);
    // Originals kept from an earlier, deleted user of the same id are not this person's.
    const kept = new Set(metadata?.kept_originals ?? []);
    images = (metadata?.images ?? []).filter((i) => !(i.kind === 'original' && kept.has(i.file)));
  } catch (error) {
    if (!(error instanceof CorruptedImageError)) throw error;
    imageProblem = error.message;
  }
  let flash = flashes.get(session);
  if (flash?.userId === user.id && done === 'enrolled') flashes.delete(session);
  else flash = undefined;

  const base = personHref(user.id);
  const gallery = (kind: ImageKind, title: string) => {
    const list = images.filter((i) => i.kind === kind);
    return html`<h2>${title} (${list.length})</h2>
      ${
        list.length === 0
          ? html`<p class="muted">None.</p>`
          : html`<div class="grid">
              ${list.map(
                (i) =>
                  html`<a class="tile" href="${base}/images/${kind}/${i.file}">
                    <img class="crop" src="${base}/images/${kind}/${i.file}" alt="${title}: ${i.file}" loading="lazy" />
                    <div class="meta">
                      ${i.file}${i.qualityScore === null ? '' : ` · quality ${i.qualityScore.toFixed(2)}`}${
                        i.cameraId ? ` · ${i.cameraId}` : ''
                      }
                    </div>
                  </a>`,
              )}
            </div>`
      }`;
  };

  const body = html`${
      flash
        ? html`${verdictTable(flash.verdicts)}
          ${
            flash.lookalikes.length
              ? html`<p class="muted">
                  Close to ${flash.lookalikes.join(', ')}: both thresholds were raised above the score.
                </p>`
              : ''
          }`
        : ''
    }
    <div class="row">
      <div class="card">
        <dl class="facts">
          <dt>Id</dt>
          <dd>${user.id}</dd>
          <dt>Name</dt>
          <dd>${user.name}</dd>
          <dt>Department</dt>
          <dd>${user.department ?? html`<span class="muted">none</span>`}</dd>
          <dt>Status</dt>
          <dd>${statusBadge(user.status)}</dd>
          <dt>Roles</dt>
          <dd>${rolesOf(user)}</dd>
          <dt>Embeddings</dt>
          <dd>${embeddings}</dd>
          <dt>Enrolled</dt>
          <dd>${user.createdAt.toISOString().replace('T', ' ').slice(0, 19)} UTC</dd>
        </dl>
      </div>
      <div class="card">
        <form method="post" action="${base}/${user.status === 'active' ? 'disable' : 'enable'}">
          ${csrfField(session)}
          <p class="muted">
            ${
              user.status === 'active'
                ? 'A disabled person is no longer recognised as known; their photos and embeddings stay.'
                : 'Enabling makes this person recognised again.'
            }
          </p>
          <button class="secondary" type="submit">${user.status === 'active' ? 'Disable' : 'Enable'}</button>
        </form>
        <form
          method="post"
          action="${base}/delete"
          data-confirm="Delete ${user.name} (${user.id})? This cannot be undone."
        >
          ${csrfField(session)}
          <label for="purge-images">
            <input id="purge-images" type="checkbox" name="purgeImages" value="true" />
            Also purge images (the originals too; otherwise the originals are kept)
          </label>
          <p><button class="danger" type="submit">Delete</button></p>
        </form>
      </div>
    </div>
    ${imageProblem ? html`<p class="notice error" role="alert">${imageProblem}</p>` : ''}
    ${gallery('aligned', 'Aligned crops')} ${gallery('original', 'Originals')}
    <p><a href="/console/people">Back to the people</a></p>`;
  return page({ title: user.name, session, section: 'people', body, notice: doneNotice(done) });
}

function formValue(body: unknown, name: string): string | undefined {
  const value = (body as Record<string, unknown> | null | undefined)?.[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string')
    throw new HttpError(400, `Expected the field ${name} once but received it several times`);
  return value;
}

export const registerPeoplePages: PageModule = (scope: FastifyInstance, ctx: ConsoleContext) => {
  const { storage } = ctx.deps;

  scope.get('/people', async (req, reply) =>
    sendPage(reply, 200, await listPage(ctx, sessionOf(req), req.query as Record<string, unknown>)),
  );

  scope.get('/people/new', (req, reply) =>
    sendPage(reply, 200, enrolPage(sessionOf(req), { userId: '', name: '', department: '' }, null)),
  );

  scope.post('/people/new', async (req, reply) => {
    const session = sessionOf(req);
    // What was typed is kept as it arrives, so that a refusal shows the form filled in.
    const form: EnrolForm = { userId: '', name: '', department: '' };
    let names: string[] = [];
    let result: PhotoEnrollResult;
    try {
      const upload = await readUpload(
        req,
        {
          bodyLimit: ctx.bodyLimit,
          maxFiles: MAX_ENROLL_IMAGES,
          fields: ['userId', 'name', 'department'],
          fileField: 'images',
        },
        (name, value) => {
          if (name === 'userId' || name === 'name' || name === 'department') form[name] = value;
          if (name === 'userId') validateId('user', value);
          else if (name === 'name' || value.trim()) textField(name, value);
        },
      );
      if (!upload.fields.has('userId')) throw new HttpError(400, 'Expected a userId field');
      const userId = validateId('user', form.userId);
      if (!upload.fields.has('name')) throw new HttpError(400, 'Expected a non-empty name field');
      const name = textField('name', form.name);
      const files = upload.files.filter((f, i) => !isEmptyPart(f, i));
      if (files.length === 0)
        throw new HttpError(400, `Expected 1-${MAX_ENROLL_IMAGES} photos but received none (choose them again)`);
      names = files.map((f) => f.name);
      const images: EnrollmentImage[] = files.map((f) => ({ name: f.name, bytes: f.bytes }));
      result = await enroll(
        { analyzer: ctx.deps.analyzer, storage, thresholds: ctx.deps.thresholds },
        { userId, name, department: form.department.trim() ? textField('department', form.department) : null, images },
      );
    } catch (error) {
      const { status, body } = errorResponse(error, ctx.dataRoot);
      // A fault of the appliance's own is the console's error page (logged there); a refusal is this form again.
      if (status >= 500) throw error;
      const refused = error instanceof EnrollmentRefusedError;
      const verdicts = refused
        ? verdictsOf(names, error.skipped, 'usable, but nothing was kept (the enrolment was refused)')
        : [];
      ctx.deps.logger.warn({ actor: session.actor, status, error: body.error }, 'console: enrolment refused');
      return sendPage(
        reply,
        status,
        enrolPage(
          session,
          form,
          {
            kind: 'error',
            text: `${String(body.error)}${names.length ? ' (choose the photos again)' : ''}`,
          },
          verdicts,
        ),
      );
    }
    await refreshUsers(ctx);
    ctx.deps.logger.info(
      { actor: session.actor, userId: result.userId, embeddings: result.embeddings },
      'console: person enrolled',
    );
    const ignored = new Map((result.ignoredFaces ?? []).map((n) => [n.file, n.ignored]));
    flashes.set(session, {
      userId: result.userId,
      verdicts: verdictsOf(names, result.skipped, 'a usable face, kept').map((v) => {
        const aside = ignored.get(v.name);
        return v.accepted && aside
          ? { ...v, reason: `accepted (${aside} smaller or blurrier face(s) behind ignored)` }
          : v;
      }),
      lookalikes: result.lookalikes.map((l) => `${l.userId} (score ${l.score.toFixed(3)})`),
    });
    return reply.redirect(`${personHref(result.userId)}?done=enrolled`, 303);
  });

  scope.get<{ Params: { id: string }; Querystring: { done?: string } }>('/people/:id', async (req, reply) => {
    const session = sessionOf(req);
    const user = await existingUser(ctx, req.params.id);
    if (!user) return sendPage(reply, 404, notFoundPage(session, req.params.id));
    return sendPage(reply, 200, await personPage(ctx, session, user, req.query.done));
  });

  scope.get<{ Params: { id: string; kind: string; file: string } }>(
    '/people/:id/images/:kind/:file',
    async (req, reply) => {
      const { kind, file } = req.params;
      // Checked here before storage is asked (which checks again): only the names storage makes.
      if (kind !== 'original' && kind !== 'aligned')
        throw new HttpError(400, `Expected the image kind original or aligned but received ${quoteReceived(kind, 20)}`);
      if (!FILE_PATTERNS[kind].test(file))
        throw new HttpError(
          400,
          `Expected an ${kind} file name like ${kind === 'original' ? 'img_001.jpg' : 'face_001.png'} but received ${quoteReceived(file, 40)}`,
        );
      const user = await existingUser(ctx, req.params.id);
      if (!user) throw new HttpError(404, `Expected an existing user but there is no user ${req.params.id}`);
      let bytes: Buffer;
      try {
        bytes = await storage.images.readUserImage(user.id, kind, file);
      } catch (error) {
        // Not recorded for this user: nothing to show (a crafted name, or an image removed meanwhile).
        if (error instanceof StoreInputError && !(error instanceof NotFoundError))
          throw new HttpError(404, error.message);
        throw error;
      }
      const extension = file.slice(file.lastIndexOf('.') + 1);
      return reply.type(CONTENT_TYPES[extension] ?? 'application/octet-stream').send(bytes);
    },
  );

  for (const [action, status] of [
    ['disable', 'disabled'],
    ['enable', 'active'],
  ] as const) {
    scope.post<{ Params: { id: string } }>(`/people/:id/${action}`, async (req, reply) => {
      const session = sessionOf(req);
      const user = await existingUser(ctx, req.params.id);
      if (!user) return sendPage(reply, 404, notFoundPage(session, req.params.id));
      await storage.db.setUserStatus(user.id, status);
      await refreshUsers(ctx);
      ctx.deps.logger.info({ actor: session.actor, userId: user.id, status }, `console: person ${status}`);
      return reply.redirect(`${personHref(user.id)}?done=${status === 'active' ? 'enabled' : 'disabled'}`, 303);
    });
  }

  scope.post<{ Params: { id: string } }>('/people/:id/delete', async (req, reply) => {
    const session = sessionOf(req);
    const purge = formValue(req.body, 'purgeImages');
    if (purge !== undefined && purge !== 'true')
      throw new HttpError(400, `Expected purgeImages to be true or absent but received ${quoteReceived(purge, 20)}`);
    const user = await existingUser(ctx, req.params.id);
    if (!user) return sendPage(reply, 404, notFoundPage(session, req.params.id));
    const { embeddings } = await deleteUser(storage, user.id, { purgeImages: purge === 'true' });
    await refreshUsers(ctx);
    ctx.deps.logger.info(
      { actor: session.actor, userId: user.id, embeddings, purgedImages: purge === 'true' },
      'console: person deleted',
    );
    return reply.redirect('/console/people?done=deleted', 303);
  });
};
