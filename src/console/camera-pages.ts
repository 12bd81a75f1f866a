// The console's cameras and health page (issue 16): the appliance's state as GET /health reports it
// (ok / degraded / read-only, the database, the cache, the index, the spool, the inference
// providers, the outputs) and per camera its connection, last frame, frames received and dropped,
// a frame rate, and a snapshot of its latest frame that reloads itself every few seconds.
//
// The appliance's facts are GET /health's own answer, asked in-process (inject, never the
// network): one rule for "degraded" (src/api/metrics.ts), so the page and the monitoring that
// polls /health cannot disagree. The frame rate is the change in frames received between two
// looks at this page (the sources count frames; they keep no rate).
//
//   GET /cameras                      the page
//   GET /cameras/:id/snapshot.jpg     the latest frame with its faces boxed and named (404 text: none yet)
import type { FastifyInstance } from 'fastify';

import { validateId } from '../../storage/ids.js';
import type { OutputStats } from '../outputs/outputs.js';
import { html, type SafeHtml } from './html.js';
import { type ConsoleContext, type PageModule, sessionOf } from './index.js';
import { page } from './layout.js';

/** What the page reads of GET /health (src/api/metrics.ts); the rest is left to monitoring. */
interface HealthJson {
  status: 'ok' | 'degraded' | 'read-only';
  database: { engine: string; available: boolean; spooled: number; lastError: string | null };
  cache: { mode: string; degraded: boolean; lastError: string | null };
  embeddings: { modelId: string; count: number; users: number };
  cameras: {
    cameraId: string;
    state: string;
    framesReceived: number;
    framesDropped: number;
    lastFrameAt: string | null;
    up: boolean;
    lastSeen: string | null;
  }[];
  inference: Record<'detector' | 'embedder', { name: string; provider: string; fallback: string | null }>;
  pipeline: { running: boolean; queueDepth: number };
  /** The dispatcher's own stats (src/outputs/outputs.ts), as JSON (its one Date left out: unread here). */
  outputs: Omit<OutputStats, 'lastDeliveredAt'>[];
}

/** A rate needs at least this long between two looks (a reload a moment later keeps the last rate). */
const MIN_RATE_WINDOW_MS = 1000;
/** Older looks than this say little about now: the rate starts again. */
const MAX_RATE_WINDOW_MS = 5 * 60_000;

interface Look {
  frames: number;
  at: number;
  fps: number | null;
}

/** Frames per second per camera from the change in frames received between two looks at the page. */
class FrameRates {
  private readonly looks = new Map<string, Look>();

  rate(cameraId: string, frames: number, now = Date.now()): number | null {
    const prev = this.looks.get(cameraId);
    if (prev && frames >= prev.frames && now - prev.at < MIN_RATE_WINDOW_MS) return prev.fps;
    const fps =
      prev && frames >= prev.frames && now - prev.at <= MAX_RATE_WINDOW_MS
        ? ((frames - prev.frames) * 1000) / (now - prev.at)
        : null;
    this.looks.set(cameraId, { frames, at: now, fps });
    return fps;
  }
}

/** 2026-03-01 09:30:05 UTC, with the ISO form as its title; a dash when there is none. */
function when(iso: string | null): SafeHtml {
  if (iso === null) return html`<span class="muted">never</span>`;
  return html`<time datetime="${iso}" title="${iso}">${iso.slice(0, 19).replace('T', ' ')} UTC</time>`;
}

function provider(p: { name: string; provider: string; fallback: string | null }): SafeHtml {
  return html`${p.name} on
  ${p.provider}${p.fallback ? html` <span class="muted">(fell back: ${p.fallback})</span>` : ''}`;
}

function applianceCard(h: HealthJson): SafeHtml {
  const db = h.database;
  const outputs = h.outputs.length
    ? html`<table>
        <thead>
          <tr>
            <th scope="col">Output</th>
            <th scope="col">State</th>
            <th scope="col">Waiting</th>
            <th scope="col">Delivered</th>
            <th scope="col">Failures</th>
            <th scope="col">Dropped</th>
            <th scope="col">Dead letters</th>
          </tr>
        </thead>
        <tbody>
          ${h.outputs.map(
            (o) =>
              html`<tr>
                <td>${o.name} <span class="muted">${o.kind}</span></td>
                <td>
                  ${
                    o.lastError === null
                      ? html`<span class="badge ok">delivering</span>`
                      : html`<span class="badge denied">failing</span> ${o.lastError}`
                  }
                </td>
                <td>${o.pending}</td>
                <td>${o.delivered}</td>
                <td>${o.failures}</td>
                <td>${o.dropped}</td>
                <td>${o.deadLettered}</td>
              </tr>`,
          )}
        </tbody>
      </table>`
    : html`<p class="muted">No outputs configured.</p>`;
  return html`<section class="card" aria-labelledby="appliance">
    <h2 id="appliance">Appliance <span class="badge ${h.status}" data-status="${h.status}">${h.status}</span></h2>
    <dl class="facts">
      <dt>Database</dt>
      <dd>
        ${db.engine}:
        ${
          db.available
            ? html`<span class="badge ok">available</span>`
            : html`<span class="badge read-only">unreachable (read-only)</span> ${db.lastError ?? ''}`
        }
      </dd>
      <dt>Event spool</dt>
      <dd>${db.spooled} event${db.spooled === 1 ? '' : 's'} waiting for the database</dd>
      <dt>Cache</dt>
      <dd>
        ${h.cache.mode}
        ${
          h.cache.degraded
            ? html`<span class="badge degraded">unreachable</span> ${h.cache.lastError ?? ''}`
            : html`<span class="badge ok">ok</span>`
        }
      </dd>
      <dt>Index</dt>
      <dd>
        ${h.embeddings.count} embedding${h.embeddings.count === 1 ? '' : 's'} of ${h.embeddings.users}
        ${h.embeddings.users === 1 ? 'person' : 'people'} <span class="muted">${h.embeddings.modelId}</span>
      </dd>
      <dt>Detector</dt>
      <dd>${provider(h.inference.detector)}</dd>
      <dt>Embedder</dt>
      <dd>${provider(h.inference.embedder)}</dd>
      <dt>Pipeline</dt>
      <dd>${h.pipeline.running ? `running, ${h.pipeline.queueDepth} frames queued` : 'not running'}</dd>
    </dl>
    <h3>Outputs</h3>
    ${outputs}
  </section>`;
}

function cameraCard(c: HealthJson['cameras'][number], fps: number | null): SafeHtml {
  const id = encodeURIComponent(c.cameraId);
  const state = ['online', 'offline', 'connecting'].includes(c.state) ? c.state : '';
  return html`<section class="card" aria-labelledby="cam-${id}" data-camera="${c.cameraId}">
    <h2 id="cam-${id}">${c.cameraId} <span class="badge ${state}" data-state="${c.state}">${c.state}</span></h2>
    <img
      class="snapshot"
      src="/console/cameras/${id}/snapshot.jpg"
      data-refresh="3"
      alt="Latest frame of ${c.cameraId}, faces boxed and named"
    />
    <dl class="facts">
      <dt>Last frame</dt>
      <dd>${when(c.lastFrameAt)}</dd>
      <dt>Frame rate</dt>
      <dd>
        ${
          fps === null
            ? html`<span class="muted">— (shown from the next look at this page)</span>`
            : html`${fps.toFixed(1)} fps <span class="muted">(since the last look at this page)</span>`
        }
      </dd>
      <dt>Frames received</dt>
      <dd>${c.framesReceived}</dd>
      <dt>Frames dropped</dt>
      <dd data-dropped="${c.framesDropped}">${c.framesDropped} <span class="muted">(the worker was busy)</span></dd>
      <dt>Heartbeat</dt>
      <dd>${c.up ? 'sending frames' : 'not sending frames'}, last seen ${when(c.lastSeen)}</dd>
    </dl>
  </section>`;
}

/** GET /health's answer, asked in-process with the API's token. */
async function health(app: FastifyInstance, ctx: ConsoleContext): Promise<HealthJson> {
  const res = await app.inject({
    method: 'GET',
    url: '/health',
    headers: { authorization: `Bearer ${ctx.deps.token}` },
  });
  if (res.statusCode !== 200)
    throw new Error(`Expected GET /health to answer 200 but it answered ${res.statusCode}: ${res.body.slice(0, 200)}`);
  return res.json<HealthJson>();
}

export const registerCameraPages: PageModule = (scope, ctx) => {
  const rates = new FrameRates();

  scope.get('/cameras', async (req, reply) => {
    const h = await health(scope, ctx);
    const cameras = h.cameras.length
      ? html`<div class="row">${h.cameras.map((c) => cameraCard(c, rates.rate(c.cameraId, c.framesReceived)))}</div>`
      : html`<p class="muted">No cameras configured.</p>`;
    return reply.type('text/html; charset=utf-8').send(
      page({
        title: 'Cameras & health',
        session: sessionOf(req),
        section: 'cameras',
        body: html`${applianceCard(h)}
          <h2>Cameras</h2>
          ${cameras}`,
      }),
    );
  });

  scope.get<{ Params: { id: string } }>('/cameras/:id/snapshot.jpg', async (req, reply) => {
    const cameraId = validateId('camera', req.params.id);
    const jpeg = (await ctx.deps.snapshot?.(cameraId)) ?? null;
    if (jpeg === null)
      return reply
        .code(404)
        .type('text/plain; charset=utf-8')
        .send(`No snapshot of camera ${cameraId}: no frame received yet, or no such camera.`);
    return reply.type('image/jpeg').send(jpeg);
  });
};
