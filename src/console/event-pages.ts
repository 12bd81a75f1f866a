// The console's events page (issue 16): the recognition log as a timeline, newest first, with who
// was named (or nobody), the score against the threshold, the access verdict and its reason, and
// the face crop where the unknown-face review kept one. Filters: camera, person, known/unknown and
// a time window; paging goes back in time with "Older".
//
// It has to stay fast at a million events, so every read is a keyset query: the store's list is
// ORDER BY id DESC LIMIT n with `id < before` (event ids are UUIDv7, which sort by time), so a
// page costs an index range scan of ~50 rows wherever it is in the log. OFFSET would read and drop
// every earlier row (page 2000 reads 100,000), and a COUNT(*) for "page x of y" reads the whole
// table each time; neither is used. Whether an older page exists is told by asking for one row
// more than a page holds.
//
// What the log keeps per event is the confidence (the best cosine), the threshold it was judged
// against, and the access verdict with its reason: the decision's margin and its own reason are
// not stored, so the page cannot show them.
import type { FastifyReply, FastifyRequest } from 'fastify';

import { EVENT_OUTCOMES, type EventOutcome, type EventQuery } from '../../storage/db/db-store.js';
import type { StoredRecognitionEvent } from '../../storage/db/db-store.js';
import { quoteReceived } from '../../storage/checks.js';
import { parseIsoTimestamp } from '../../storage/dates.js';
import { InvalidIdError, StoreInputError } from '../../storage/errors.js';
import { validateId } from '../../storage/ids.js';
import { repeatedQueryParam } from '../api/query-params.js';
import { RequestInputError } from '../api/request-input-error.js';
import { html, query, type SafeHtml } from './html.js';
import { type ConsoleContext, type PageModule, sessionOf } from './index.js';
import { page } from './layout.js';

/** Events a page shows. */
export const EVENTS_PAGE_SIZE = 50;

const FILTERS = ['camera', 'appliance', 'person', 'outcome', 'since', 'until', 'before'] as const;
type EventFilters = Partial<Record<(typeof FILTERS)[number], string>>;

// A datetime-local field sends "2026-03-01T09:30" (seconds when the browser adds them) with no
// zone: the page labels those fields UTC and reads them as UTC. A timestamp with its zone (a link
// written by hand, the API's form) is taken as it is.
const ZONELESS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function timeParam(name: string, raw: string | undefined): Date | undefined {
  if (raw === undefined || raw === '') return undefined;
  const d = parseIsoTimestamp(ZONELESS.test(raw) ? `${raw}Z` : raw);
  if (!d)
    throw new RequestInputError(
      `Expected ${name} to be a date and time in UTC (YYYY-MM-DDThh:mm, as the form's field gives it) or a timestamp with its zone (YYYY-MM-DDThh:mm:ssZ) but received ${quoteReceived(raw, 40)}`,
    );
  return d;
}

/** The store's query from the page's query string, or a RequestInputError/InvalidIdError saying what is wrong. */
function eventQuery(f: EventFilters): EventQuery {
  const since = timeParam('since', f.since);
  const until = timeParam('until', f.until);
  if (since && until && since >= until)
    throw new RequestInputError(
      `Expected since to be before until but received since ${since.toISOString()} and until ${until.toISOString()}`,
    );
  if (f.outcome && !(EVENT_OUTCOMES as readonly string[]).includes(f.outcome))
    throw new RequestInputError(
      `Expected outcome to be ${EVENT_OUTCOMES.join(' or ')} (or empty for both) but received ${quoteReceived(f.outcome, 40)}`,
    );
  if (f.before && !UUID.test(f.before))
    throw new RequestInputError(
      `Expected before to be an event id (a UUID, as the "Older" link gives it) but received ${quoteReceived(f.before, 40)}`,
    );
  return {
    ...(since ? { since } : {}),
    ...(until ? { until } : {}),
    ...(f.camera ? { cameraId: validateId('camera', f.camera) } : {}),
    ...(f.appliance ? { appliance: validateId('appliance', f.appliance) } : {}),
    ...(f.person ? { userId: validateId('user', f.person) } : {}),
    ...(f.outcome ? { outcome: f.outcome as EventOutcome } : {}),
    ...(f.before ? { before: f.before } : {}),
  };
}

/** The filters as given (strings only: a parameter given twice is refused). */
function filtersOf(raw: unknown): EventFilters {
  const repeated = repeatedQueryParam(raw);
  if (repeated !== undefined)
    throw new RequestInputError(`Expected ${repeated} once in the query string but received it more than once`);
  const q = (raw ?? {}) as Record<string, unknown>;
  const out: EventFilters = {};
  for (const key of FILTERS) if (typeof q[key] === 'string' && q[key] !== '') out[key] = q[key];
  return out;
}

/** 2026-03-01 09:30:05 UTC: the same zone the filters are read in. */
function shownTime(d: Date): string {
  return `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

function filterForm(f: EventFilters, cameras: string[]): SafeHtml {
  const cameraOptions = [...new Set([...cameras, ...(f.camera ? [f.camera] : [])])].sort();
  const selected = (on: boolean) => (on ? html`selected` : '');
  return html`<form class="filters" method="get" action="/console/events" role="search">
    <label
      >Camera
      <select name="camera">
        <option value="">All cameras</option>
        ${cameraOptions.map((c) => html`<option value="${c}" ${selected(c === f.camera)}>${c}</option>`)}
      </select>
    </label>
    <label>Appliance <input type="text" name="appliance" value="${f.appliance ?? ''}" placeholder="any" /></label>
    <label>Person (user id) <input type="text" name="person" value="${f.person ?? ''}" /></label>
    <label
      >Outcome
      <select name="outcome">
        <option value="">Known and unknown</option>
        <option value="known" ${selected(f.outcome === 'known')}>Known</option>
        <option value="unknown" ${selected(f.outcome === 'unknown')}>Unknown</option>
      </select>
    </label>
    <label>Since (UTC) <input type="datetime-local" name="since" step="1" value="${f.since ?? ''}" /></label>
    <label>Until (UTC) <input type="datetime-local" name="until" step="1" value="${f.until ?? ''}" /></label>
    <button type="submit">Filter</button>
    <a class="button secondary" href="/console/events">Clear</a>
  </form>`;
}

function score(e: StoredRecognitionEvent): SafeHtml {
  const threshold = e.threshold === null ? html`` : html` <span class="muted">/ ${e.threshold.toFixed(3)}</span>`;
  return html`<span title="confidence (best cosine) / the threshold it was judged against"
    >${e.confidence.toFixed(3)}${threshold}</span
  >`;
}

function row(
  e: StoredRecognitionEvent,
  names: Map<string, string | null>,
  faces: Map<string, { groupId: bigint; faceId: bigint }>,
  own: string,
): SafeHtml {
  const iso = e.timestamp.toISOString();
  const user = e.matchedUserId;
  const name = user === null ? null : names.get(user);
  const person =
    user === null
      ? html`<span class="muted">—</span>`
      : html`<a href="/console/people/${encodeURIComponent(user)}">${name ?? user}</a>
          <span class="muted">${name === null ? `${user} (no longer enrolled)` : user}</span>`;
  const access = e.access
    ? html`<span class="badge ${e.access.verdict}">${e.access.verdict}</span> ${e.access.reason}`
    : html`<span class="muted">—</span>`;
  // Recorded by another appliance sharing the database: said under the camera.
  const elsewhere =
    e.applianceId !== null && e.applianceId !== own
      ? html`<br /><span class="muted" title="recorded by another appliance">${e.applianceId}</span>`
      : '';
  const face = faces.get(e.id);
  const crop = face
    ? html`<a href="/console/unknown/${face.groupId}"
        ><img
          class="thumb"
          src="/console/unknown/${face.groupId}/faces/${face.faceId}.png"
          alt="Face crop kept for review"
          loading="lazy"
      /></a>`
    : '';
  return html`<tr data-event="${e.id}">
    <td><time datetime="${iso}" title="${iso}">${shownTime(e.timestamp)}</time></td>
    <td>${e.cameraId}${elsewhere}</td>
    <td>${person}</td>
    <td><span class="badge ${e.isUnknown ? 'unknown' : 'known'}">${e.isUnknown ? 'unknown' : 'known'}</span></td>
    <td>${score(e)}</td>
    <td>${access}</td>
    <td>${crop}</td>
  </tr>`;
}

async function eventsPage(ctx: ConsoleContext, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const { storage } = ctx.deps;
  const session = sessionOf(req);
  const cameras = ctx.deps.cameraStats().map((c) => c.cameraId);
  let filters: EventFilters = {};
  let events: StoredRecognitionEvent[];
  try {
    filters = filtersOf(req.query);
    events = await storage.db.queryRecognitionEvents({ ...eventQuery(filters), limit: EVENTS_PAGE_SIZE + 1 });
  } catch (error) {
    // A filter the page cannot use: 400, the form kept as it was sent so that it can be corrected.
    if (!(error instanceof RequestInputError || error instanceof InvalidIdError || error instanceof StoreInputError))
      throw error;
    return reply
      .code(400)
      .type('text/html; charset=utf-8')
      .send(
        page({
          title: 'Events',
          session,
          section: 'events',
          body: filterForm(filters, cameras),
          notice: { kind: 'error', text: error.message },
        }),
      );
  }
  const older = events.length > EVENTS_PAGE_SIZE;
  const shown = events.slice(0, EVENTS_PAGE_SIZE);
  const userIds = [...new Set(shown.map((e) => e.matchedUserId).filter((u): u is string => u !== null))];
  const [users, faces] = await Promise.all([
    Promise.all(userIds.map(async (id) => [id, (await storage.db.getUser(id))?.name ?? null] as const)),
    storage.db.unknown.facesOfEvents(shown.filter((e) => e.isUnknown).map((e) => e.id)),
  ]);
  const names = new Map<string, string | null>(users);
  const keep = { ...filters, before: undefined };
  const last = shown.at(-1);
  const pager = html`<nav class="pager" aria-label="Pages">
    ${filters.before ? html`<a class="button secondary" href="/console/events${query(keep)}">Newest</a>` : ''}
    ${
      older && last
        ? html`<a class="button secondary" rel="next" href="/console/events${query({ ...keep, before: last.id })}"
            >Older</a
          >`
        : ''
    }
  </nav>`;
  const table = shown.length
    ? html`<table>
        <thead>
          <tr>
            <th scope="col">Time (UTC)</th>
            <th scope="col">Camera</th>
            <th scope="col">Person</th>
            <th scope="col">Outcome</th>
            <th scope="col">Score / threshold</th>
            <th scope="col">Access</th>
            <th scope="col">Face</th>
          </tr>
        </thead>
        <tbody>
          ${shown.map((e) => row(e, names, faces, storage.db.applianceId))}
        </tbody>
      </table>`
    : html`<p class="muted">No events${Object.keys(filters).length ? ' match these filters' : ' yet'}.</p>`;
  return reply.type('text/html; charset=utf-8').send(
    page({
      title: 'Events',
      session,
      section: 'events',
      body: html`${filterForm(filters, cameras)}${table}${pager}`,
    }),
  );
}

export const registerEventPages: PageModule = (scope, ctx) => {
  scope.get('/events', (req, reply) => eventsPage(ctx, req, reply));
};
