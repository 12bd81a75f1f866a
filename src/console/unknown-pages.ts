// The console's unknown-face review (issue 16): the groups of strangers the pipeline kept, as a grid
// of their best crops, and a group's page with all its crops, its review trail and the three
// actions (enrol as a new person, assign to an existing one, dismiss). The pages call the same
// review functions as the API's routes (src/unknown-faces/review.ts), with the signed-in operator
// as the actor ("console:<name>"), so a review from here is the review the API or the CLI would make.
//   GET  /unknown                          the groups (?status, camera, since, sort)
//   GET  /unknown/:group                   a group: its crops, facts, trail and, while open, the forms
//   GET  /unknown/:group/crop.png          its best crop
//   GET  /unknown/:group/faces/:face.png   one of its crops
//   POST /unknown/:group/enroll|assign|dismiss
// A refusal (enrolment's rules, the learning guards, a taken user id, a bad field) re-renders the
// group's page with the refusal's status and each refused face's reason, and keeps what was typed;
// a success redirects (303) to a page whose confirmation is one of a few fixed texts, chosen by a
// key in the query string: nothing a link carries is ever shown as it came.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { quoteReceived } from '../../storage/checks.js';
import { validateId } from '../../storage/ids.js';
import { GROUP_STATUSES, type GroupQuery, type ReviewAction, type UnknownGroup } from '../../storage/index.js';
import { errorResponse } from '../api/errors.js';
import { isoDate, repeatedQueryParam } from '../api/query-params.js';
import { RequestInputError } from '../api/request-input-error.js';
import { textField } from '../api/text-fields.js';
import { EnrollmentRefusedError } from '../recognition/enrollment.js';
import {
  AssignmentRefusedError,
  assignGroup,
  dismissGroup,
  enrollGroup,
  faceCrop,
  groupCrop,
  listGroups,
  type ReviewDeps,
  showGroup,
} from '../unknown-faces/review.js';
import { html, query, type SafeHtml } from './html.js';
import { type ConsoleContext, type PageModule, sessionOf } from './index.js';
import { csrfField, type Notice, page } from './layout.js';
import type { ConsoleSession } from './session.js';

/** The most groups read for one grid: the store's own maximum, so that "by size" sorts as many as it can. */
const FETCH_LIMIT = 1000;
/** The most tiles drawn: a screenful or a few; more is a list nobody reviews, and narrower filters help. */
const SHOWN_LIMIT = 120;
/** The most users offered in the assign form's select; past that, a text field with the ids as suggestions. */
const SELECT_USERS_LIMIT = 300;

const SINCE_PRESETS: Record<string, { label: string; ms: number }> = {
  '1h': { label: 'Last hour', ms: 3_600_000 },
  '24h': { label: 'Last 24 hours', ms: 86_400_000 },
  '7d': { label: 'Last 7 days', ms: 7 * 86_400_000 },
  '30d': { label: 'Last 30 days', ms: 30 * 86_400_000 },
};

const SORTS = { recent: 'Most recently seen', size: 'Most faces' } as const;
type Sort = keyof typeof SORTS;

/** The confirmations a redirect may ask for: the query names one, the text is always this one. */
const DONE: Record<string, string> = {
  enrolled: 'Enrolled: the group is now a person, and its crops are their photos.',
  assigned: "Assigned: the faces that passed the learning guards joined the person's photos.",
  dismissed: 'Dismissed: the group is closed and its crops are deleted.',
};

const STATUS_BADGE: Record<string, string> = {
  open: 'unknown',
  enrolled: 'known',
  assigned: 'known',
  dismissed: 'disabled',
};

type Query = Record<string, string | string[] | undefined>;

function reviewDepsOf(ctx: ConsoleContext): ReviewDeps {
  const { deps } = ctx;
  return {
    storage: deps.storage,
    grouping: deps.grouping,
    logger: deps.logger,
    thresholds: deps.thresholds,
    learning: deps.learning,
  };
}

/** A date as people read it on the appliance's pages (UTC, to the second), in a <time> element. */
function when(date: Date | null): SafeHtml | string {
  if (!date) return '—';
  const iso = date.toISOString();
  return html`<time datetime="${iso}">${iso.slice(0, 19).replace('T', ' ')} UTC</time>`;
}

/** A tile's "seen" line, short enough for its width: one day's span is written once. */
function seenSpan(first: Date | null, last: Date | null): SafeHtml | string {
  if (!first || !last) return 'no sighting left';
  const [a, b] = [first.toISOString(), last.toISOString()];
  const minute = (iso: string) => iso.slice(0, 16).replace('T', ' ');
  const to = a.slice(0, 10) === b.slice(0, 10) ? b.slice(11, 16) : minute(b);
  return html`seen <time datetime="${a}">${minute(a)}</time>–<time datetime="${b}">${to}</time> UTC`;
}

function statusBadge(status: string): SafeHtml {
  return html`<span class="badge ${STATUS_BADGE[status] ?? ''}">${status}</span>`;
}

function doneNotice(q: Query): Notice | null {
  const key = typeof q.done === 'string' ? q.done : '';
  const text = Object.hasOwn(DONE, key) ? DONE[key] : undefined;
  return text ? { kind: 'ok', text } : null;
}

function send(reply: FastifyReply, status: number, text: string): FastifyReply {
  return reply.code(status).type('text/html; charset=utf-8').send(text);
}

// --- the grid -----------------------------------------------------------------------------------

interface GridFilters {
  status: GroupQuery['status'] & string;
  camera: string;
  since: string;
  sort: Sort;
}

/** The grid's query string, each value checked: a wrong one is a 400 that says what was expected. */
function gridFilters(q: Query, nowMs: number): { filters: GridFilters; query: GroupQuery } {
  const repeated = repeatedQueryParam(q);
  if (repeated) throw new RequestInputError(`Expected ${repeated} once in the query but received it more than once`);
  const raw = (name: string) => (typeof q[name] === 'string' ? q[name] : '');
  const status = raw('status') || 'open';
  if (status !== 'all' && !(GROUP_STATUSES as readonly string[]).includes(status)) {
    throw new RequestInputError(
      `Expected status to be one of ${[...GROUP_STATUSES, 'all'].join(', ')} but received ${quoteReceived(status, 20)}`,
    );
  }
  const sort = raw('sort') || 'recent';
  if (!Object.hasOwn(SORTS, sort))
    throw new RequestInputError(
      `Expected sort to be one of ${Object.keys(SORTS).join(', ')} but received ${quoteReceived(sort, 20)}`,
    );
  const camera = raw('camera').trim();
  const since = raw('since');
  const preset = Object.hasOwn(SINCE_PRESETS, since) ? SINCE_PRESETS[since] : undefined;
  const sinceDate = preset ? new Date(nowMs - preset.ms) : isoDate('since', since);
  return {
    filters: { status: status as GridFilters['status'], camera, since, sort: sort as Sort },
    query: {
      status: status as GridFilters['status'],
      limit: FETCH_LIMIT,
      ...(camera ? { cameraId: validateId('camera', camera) } : {}),
      ...(sinceDate ? { since: sinceDate } : {}),
    },
  };
}

function sortGroups(groups: UnknownGroup[], sort: Sort): UnknownGroup[] {
  const seen = (g: UnknownGroup) => g.lastSeen?.getTime() ?? g.createdAt.getTime();
  const bySize = (a: UnknownGroup, b: UnknownGroup) => b.faces - a.faces || seen(b) - seen(a);
  const byRecency = (a: UnknownGroup, b: UnknownGroup) => seen(b) - seen(a) || Number(b.id - a.id);
  return [...groups].sort(sort === 'size' ? bySize : byRecency);
}

function option(value: string, label: string, selected: string): SafeHtml {
  return html`<option value="${value}" ${value === selected ? html`selected` : ''}>${label}</option>`;
}

function filterForm(f: GridFilters, cameras: string[]): SafeHtml {
  const sinceOptions: [string, string][] = [
    ['', 'Any time'],
    ...Object.entries(SINCE_PRESETS).map(([k, v]): [string, string] => [k, v.label]),
  ];
  // A date given in the address (a link, the API's form) is kept as an option of its own.
  if (f.since && !Object.hasOwn(SINCE_PRESETS, f.since)) sinceOptions.push([f.since, `Since ${f.since}`]);
  return html`<form class="filters" method="get" action="/console/unknown" aria-label="Filter the groups">
    <div>
      <label for="f-status">Status</label>
      <select id="f-status" name="status">
        ${[...GROUP_STATUSES, 'all'].map((s) => option(s, s, f.status))}
      </select>
    </div>
    <div>
      <label for="f-camera">Camera</label>
      <input id="f-camera" name="camera" type="text" list="f-cameras" value="${f.camera}" placeholder="any camera" />
      <datalist id="f-cameras">${cameras.map((c) => html`<option value="${c}"></option>`)}</datalist>
    </div>
    <div>
      <label for="f-since">Seen</label>
      <select id="f-since" name="since">
        ${sinceOptions.map(([v, l]) => option(v, l, f.since))}
      </select>
    </div>
    <div>
      <label for="f-sort">Sort</label>
      <select id="f-sort" name="sort">
        ${Object.entries(SORTS).map(([v, l]) => option(v, l, f.sort))}
      </select>
    </div>
    <div><button type="submit">Apply</button> <a class="button secondary" href="/console/unknown">Reset</a></div>
  </form>`;
}

/** A group's tile; `own`: this appliance's id (another appliance's group says where it was seen, issue 18). */
function tile(g: UnknownGroup, own: string): SafeHtml {
  const id = g.id.toString();
  const elsewhere =
    g.applianceId !== null && g.applianceId !== own ? html`<br />seen by appliance ${g.applianceId}` : '';
  return html`<a class="tile" href="/console/unknown/${id}" aria-label="Group ${id}: ${g.faces} face(s)">
    ${
      g.best
        ? html`<img src="/console/unknown/${id}/crop.png" alt="Best crop of group ${id}" loading="lazy" />`
        : html`<div class="crop muted" role="img" aria-label="No crop left"></div>`
    }
    <div class="meta">
      <strong>${g.faces} face${g.faces === 1 ? '' : 's'}</strong> ${statusBadge(g.status)}<br />
      ${g.cameras.join(', ') || 'no camera'}<br />
      ${seenSpan(g.firstSeen, g.lastSeen)}<br />
      best quality ${g.best ? g.best.quality.toFixed(2) : '—'}${elsewhere}
    </div>
  </a>`;
}

async function gridPage(ctx: ConsoleContext, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const session = sessionOf(req);
  const q = req.query as Query;
  const { filters, query: groupQuery } = gridFilters(q, Date.now());
  const groups = sortGroups(await listGroups(ctx.deps.storage, groupQuery), filters.sort);
  const shown = groups.slice(0, SHOWN_LIMIT);
  const cameras = [
    ...new Set([...ctx.deps.cameraStats().map((c) => c.cameraId), ...groups.flatMap((g) => g.cameras)]),
  ].sort();
  const more =
    groups.length > shown.length
      ? html`<p class="muted">
          Showing ${shown.length} of ${groups.length === FETCH_LIMIT ? `at least ${FETCH_LIMIT}` : groups.length}
          groups; narrow the filters to see the others.
        </p>`
      : '';
  const body = html`${filterForm(filters, cameras)}
  ${
    shown.length === 0
      ? html`<p class="card muted">
          No ${filters.status === 'all' ? '' : `${filters.status} `}groups match these filters.
          ${filters.status === 'open' ? 'Strangers the cameras see are grouped here for review.' : ''}
        </p>`
      : html`<p class="muted">${shown.length} group${shown.length === 1 ? '' : 's'}</p>
          <div class="grid">${shown.map((g) => tile(g, ctx.deps.storage.db.applianceId))}</div>
          ${more}`
  }`;
  return send(reply, 200, page({ title: 'Unknown faces', session, section: 'unknown', body, notice: doneNotice(q) }));
}

// --- a group's page -----------------------------------------------------------------------------

/** What the operator typed into a form that was refused, shown again. */
type Typed = Partial<Record<'userId' | 'name' | 'department' | 'assignUserId' | 'reason', string>>;

function details(action: ReviewAction): string {
  return Object.entries(action.details)
    .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join('; ');
}

function trail(actions: ReviewAction[]): SafeHtml {
  if (actions.length === 0) return html`<p class="muted">No review yet.</p>`;
  return html`<table>
    <thead>
      <tr>
        <th scope="col">When</th>
        <th scope="col">Who</th>
        <th scope="col">Action</th>
        <th scope="col">Person</th>
        <th scope="col">Details</th>
      </tr>
    </thead>
    <tbody>
      ${actions.map(
        (a) =>
          html`<tr>
            <td>${when(a.timestamp)}</td>
            <td>${a.actor}</td>
            <td>${a.action}</td>
            <td>${a.userId ? html`<a href="/console/people/${encodeURIComponent(a.userId)}">${a.userId}</a>` : '—'}</td>
            <td>${details(a)}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

function textInput(id: string, name: string, label: string, value: string | undefined, extra: SafeHtml | string = '') {
  return html`<label for="${id}">${label}</label>
    <input id="${id}" name="${name}" type="text" value="${value ?? ''}" ${extra} />`;
}

async function reviewForms(
  ctx: ConsoleContext,
  session: ConsoleSession,
  groupId: string,
  typed: Typed,
): Promise<SafeHtml> {
  const users = await ctx.deps.storage.db.listUsers();
  const base = `/console/unknown/${groupId}`;
  const userPicker =
    users.length <= SELECT_USERS_LIMIT
      ? html`<label for="a-user">Person</label>
          <select id="a-user" name="userId" required>
            <option value="">Choose a person…</option>
            ${users.map((u) =>
              option(u.id, `${u.name} (${u.id})${u.department ? `, ${u.department}` : ''}`, typed.assignUserId ?? ''),
            )}
          </select>`
      : html`${textInput('a-user', 'userId', 'User id', typed.assignUserId, html`required list="a-users"`)}
          <datalist id="a-users">${users.map((u) => html`<option value="${u.id}">${u.name}</option>`)}</datalist>`;
  return html`<h2>Review</h2>
    <div class="row">
      <form class="card" method="post" action="${base}/enroll" aria-labelledby="h-enroll">
        <h3 id="h-enroll">Enrol as a new person</h3>
        ${csrfField(session)}
        ${textInput('e-user', 'userId', 'User id (letters, digits, _ and -)', typed.userId, html`required maxlength="64" autocomplete="off"`)}
        ${textInput('e-name', 'name', 'Name', typed.name, html`required maxlength="200" autocomplete="off"`)}
        ${textInput('e-dept', 'department', 'Department (optional)', typed.department, html`maxlength="200"`)}
        <p><button type="submit">Enrol</button></p>
      </form>
      <form class="card" method="post" action="${base}/assign" aria-labelledby="h-assign">
        <h3 id="h-assign">Assign to an existing person</h3>
        ${csrfField(session)}
        ${
          users.length === 0
            ? html`<p class="muted">No one is enrolled yet.</p>`
            : html`${userPicker}
                <p class="muted">Only faces that pass the learning guards join their photos.</p>
                <p><button type="submit">Assign</button></p>`
        }
      </form>
      <form
        class="card"
        method="post"
        action="${base}/dismiss"
        aria-labelledby="h-dismiss"
        data-confirm="Dismiss this group and delete its crops?"
      >
        <h3 id="h-dismiss">Dismiss</h3>
        ${csrfField(session)}
        ${textInput('d-reason', 'reason', 'Reason (optional)', typed.reason, html`maxlength="200"`)}
        <p class="muted">Closes the group and deletes its crops now.</p>
        <p><button class="danger" type="submit">Dismiss</button></p>
      </form>
    </div>`;
}

async function groupPage(
  ctx: ConsoleContext,
  session: ConsoleSession,
  rawId: unknown,
  options: { notice?: Notice | null; typed?: Typed } = {},
): Promise<string> {
  const { group, faces, actions } = await showGroup(ctx.deps.storage, rawId);
  const id = group.id.toString();
  const facts = html`<dl class="facts">
    <dt>Status</dt>
    <dd>${statusBadge(group.status)}</dd>
    ${
      group.userId
        ? html`<dt>Person</dt>
            <dd><a href="/console/people/${encodeURIComponent(group.userId)}">${group.userId}</a></dd>`
        : ''
    }
    <dt>Faces</dt>
    <dd>${group.faces}</dd>
    <dt>Cameras</dt>
    <dd>${group.cameras.join(', ') || '—'}</dd>
    <dt>First seen</dt>
    <dd>${when(group.firstSeen)}</dd>
    <dt>Last seen</dt>
    <dd>${when(group.lastSeen)}</dd>
    <dt>Best quality</dt>
    <dd>${group.best ? group.best.quality.toFixed(2) : '—'}</dd>
    <dt>Created</dt>
    <dd>${when(group.createdAt)}</dd>
    ${
      group.resolvedAt
        ? html`<dt>Reviewed</dt>
            <dd>${when(group.resolvedAt)}</dd>`
        : ''
    }
    <dt>Model</dt>
    <dd>${group.modelId}</dd>
  </dl>`;
  const crops =
    faces.length === 0
      ? html`<p class="muted">No crops left (a dismissal or retention removed them).</p>`
      : html`<div class="grid">
          ${faces.map(
            (f) =>
              html`<div class="tile">
                <img
                  class="crop"
                  src="/console/unknown/${id}/faces/${f.id.toString()}.png"
                  alt="Face ${f.id.toString()} on ${f.cameraId}"
                  loading="lazy"
                />
                <div class="meta">
                  Face ${f.id.toString()} · ${f.cameraId}<br />
                  ${when(new Date(f.seenAt))}<br />
                  quality ${f.quality.toFixed(2)}
                </div>
              </div>`,
          )}
        </div>`;
  const body = html`<p><a href="/console/unknown">← All groups</a></p>
    <div class="card">${facts}</div>
    <h2>Crops (${faces.length})</h2>
    ${crops} ${group.status === 'open' ? await reviewForms(ctx, session, id, options.typed ?? {}) : ''}
    <h2>Review trail</h2>
    ${trail(actions)}`;
  return page({ title: `Unknown group ${id}`, session, section: 'unknown', body, notice: options.notice ?? null });
}

// --- the actions --------------------------------------------------------------------------------

/** One form field's text ('' when absent); a field sent twice is refused rather than guessed at. */
function field(body: unknown, name: string): string {
  const value = (body as Record<string, unknown> | undefined)?.[name];
  if (value === undefined) return '';
  if (typeof value !== 'string')
    throw new RequestInputError(`Expected one value for the field ${name} but received ${typeof value}`);
  return value;
}

/** A refused face named as the operator sees it (its face id and camera), not by its file path. */
function refusedFaces(error: EnrollmentRefusedError | AssignmentRefusedError, faces: FaceLike[]): string[] {
  return error.skipped.map((s) => {
    const face = faces.find((f) => f.image === s.file);
    return `${face ? `face ${face.id} (${face.cameraId})` : s.file}: ${s.reason}`;
  });
}

interface FaceLike {
  id: bigint;
  image: string;
  cameraId: string;
}

type Action = 'enroll' | 'assign' | 'dismiss';

/**
 * Runs one review action. A success redirects; a refusal the operator can act on (4xx) re-renders
 * the group's page with it, unless the group itself is the problem (a bad or absent id), which the
 * console's error page says. Anything else goes to the console's error handler (logged there).
 */
async function act(
  ctx: ConsoleContext,
  req: FastifyRequest<{ Params: { group: string } }>,
  reply: FastifyReply,
  action: Action,
): Promise<FastifyReply> {
  const session = sessionOf(req);
  const rawId = req.params.group;
  const review = reviewDepsOf(ctx);
  const typed: Typed = {};
  try {
    if (action === 'enroll') {
      typed.userId = field(req.body, 'userId');
      typed.name = field(req.body, 'name');
      typed.department = field(req.body, 'department');
      const userId = validateId('user', typed.userId.trim());
      const name = textField('the name', typed.name);
      const department = typed.department.trim() ? textField('the department', typed.department) : null;
      const { group } = await enrollGroup(review, { groupId: rawId, userId, name, department, actor: session.actor });
      await ctx.deps.users
        .refresh()
        .catch((error: unknown) => ctx.deps.logger.warn({ err: error }, 'console: user directory refresh failed'));
      return reply.redirect(`/console/unknown/${group.id}${query({ done: 'enrolled' })}`, 303);
    }
    if (action === 'assign') {
      typed.assignUserId = field(req.body, 'userId');
      const userId = validateId('user', typed.assignUserId.trim());
      const { group } = await assignGroup(review, { groupId: rawId, userId, actor: session.actor });
      return reply.redirect(`/console/unknown/${group.id}${query({ done: 'assigned' })}`, 303);
    }
    typed.reason = field(req.body, 'reason');
    const reason = typed.reason.trim() ? textField('the reason', typed.reason) : undefined;
    const { group } = await dismissGroup(review, {
      groupId: rawId,
      actor: session.actor,
      ...(reason ? { reason } : {}),
    });
    return reply.redirect(`/console/unknown/${group.id}${query({ done: 'dismissed' })}`, 303);
  } catch (error) {
    const { status, body } = errorResponse(error, ctx.dataRoot);
    if (status < 400 || status >= 500) throw error;
    // The group's page, to show the refusal on; when there is none, the refusal is about the group.
    let faces: FaceLike[];
    try {
      faces = (await showGroup(ctx.deps.storage, rawId)).faces;
    } catch {
      throw error;
    }
    ctx.deps.logger.warn(
      { group: rawId, action, actor: session.actor, status, error: body.error },
      'console: review refused',
    );
    const notice: Notice = {
      kind: 'error',
      text: String(body.error),
      ...(error instanceof EnrollmentRefusedError || error instanceof AssignmentRefusedError
        ? { details: refusedFaces(error, faces) }
        : {}),
    };
    return send(reply, status, await groupPage(ctx, session, rawId, { notice, typed }));
  }
}

export const registerUnknownPages: PageModule = (scope: FastifyInstance, ctx: ConsoleContext) => {
  const { storage } = ctx.deps;

  scope.get('/unknown', (req, reply) => gridPage(ctx, req, reply));

  scope.get<{ Params: { group: string } }>('/unknown/:group', async (req, reply) =>
    send(
      reply,
      200,
      await groupPage(ctx, sessionOf(req), req.params.group, { notice: doneNotice(req.query as Query) }),
    ),
  );

  scope.get<{ Params: { group: string } }>('/unknown/:group/crop.png', async (req, reply) => {
    const { png } = await groupCrop(storage, req.params.group);
    return reply.type('image/png').send(png);
  });

  scope.get<{ Params: { group: string; face: string } }>('/unknown/:group/faces/:face.png', async (req, reply) => {
    const { png } = await faceCrop(storage, req.params.group, req.params.face);
    return reply.type('image/png').send(png);
  });

  for (const action of ['enroll', 'assign', 'dismiss'] as const)
    scope.post<{ Params: { group: string } }>(`/unknown/:group/${action}`, (req, reply) =>
      act(ctx, req, reply, action),
    );
};
