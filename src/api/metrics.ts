// The HTTP API's view of the running appliance, for people and for monitoring:
//   GET /health    JSON: ok, degraded or read-only, and the database, cache, index, cameras, inference,
//                  pipeline, site threshold and outputs behind it
//   GET /metrics   the same live numbers in Prometheus' text format (version 0.0.4)
// Both read the same sources (the pipeline's stats, each camera's source and its cache heartbeat),
// so they live together and share how a camera counts as up.
import type { FastifyInstance } from 'fastify';

import type { OutputStats } from '../outputs/outputs.js';
import type { PipelineStats } from '../pipeline/pipeline.js';
import { siteThresholdReport } from '../recognition/site-threshold.js';
import type { ApiDeps } from './api-deps.js';

/** The q-quantile of samples (nearest rank), NaN without samples (Prometheus' "no value"). */
export function quantile(samples: number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
}

/** A label value in the text format: backslash, double quote and newline escaped. */
export function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function promNumber(n: number): string {
  return Number.isNaN(n) ? 'NaN' : String(n);
}

/** Each camera's source stats with its cache heartbeat; up: the source is connected and its frames keep camera:{id}:last_seen alive. */
async function cameras(deps: ApiDeps) {
  return Promise.all(
    deps.cameraStats().map(async (c) => {
      const health = await deps.storage.cache.cameraHealth(c.cameraId).catch(() => null);
      return {
        ...c,
        up: c.state === 'online' && health?.online === true,
        lastSeen: health?.lastSeen ?? null,
        cacheStatus: health?.status ?? null,
      };
    }),
  );
}

/** The /metrics body: Prometheus' text format, one HELP and TYPE per metric, ending in a newline. */
export function metricsText(
  deps: ApiDeps,
  p: PipelineStats | null,
  cams: { cameraId: string; framesDropped: number; up: boolean }[],
): string {
  const { storage } = deps;
  const lines: string[] = [];
  const metric = (name: string, type: 'counter' | 'gauge' | 'summary', help: string, samples: [string, number][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) lines.push(`${name}${labels} ${promNumber(value)}`);
  };
  metric('facegate_frames_total', 'counter', 'Frames analysed by the recognition worker.', [['', p?.frames ?? 0]]);
  metric('facegate_faces_total', 'counter', 'Faces found in analysed frames.', [['', p?.faces ?? 0]]);
  metric('facegate_decisions_total', 'counter', 'Track decisions written as events, by outcome.', [
    ['{outcome="known"}', p?.decisions.known ?? 0],
    ['{outcome="unknown"}', p?.decisions.unknown ?? 0],
  ]);
  metric('facegate_queue_depth', 'gauge', 'Frames waiting for the recognition worker.', [['', p?.queued ?? 0]]);
  metric(
    'facegate_frames_dropped_total',
    'counter',
    'Frames dropped because the worker was busy, per camera.',
    cams.map((c) => [`{camera="${label(c.cameraId)}"}`, c.framesDropped]),
  );
  metric('facegate_spool_events', 'gauge', 'Events waiting in the local spool for the database.', [
    ['', storage.db.health().spooled],
  ]);
  const feed = storage.changes.stats();
  metric('facegate_changes_behind', 'gauge', "Changes of the central database's feed not yet applied to this index.", [
    ['', feed.behind],
  ]);
  metric('facegate_changes_seconds_behind', 'gauge', 'Age of the oldest change not yet applied (seconds).', [
    ['', feed.secondsBehind],
  ]);
  metric('facegate_index_vectors', 'gauge', 'Embeddings in the search index.', [
    ['', storage.embeddings.stats().count],
  ]);
  metric('facegate_unknown_open_faces', 'gauge', 'Unknown faces in open groups, waiting for review.', [
    ['', deps.grouping.size],
  ]);
  const latency = p?.decisionLatencyMs ?? [];
  metric(
    'facegate_decision_latency_ms',
    'summary',
    'Milliseconds from the frame that settled a decision to its event being written (recent samples).',
    [
      ['{quantile="0.5"}', quantile(latency, 0.5)],
      ['{quantile="0.99"}', quantile(latency, 0.99)],
    ],
  );
  lines.push(
    `facegate_decision_latency_ms_sum ${latency.reduce((a, b) => a + b, 0)}`,
    `facegate_decision_latency_ms_count ${latency.length}`,
  );
  metric(
    'facegate_camera_up',
    'gauge',
    'Whether a camera is connected and sending frames (1) or not (0).',
    cams.map((c) => [`{camera="${label(c.cameraId)}"}`, c.up ? 1 : 0]),
  );
  // The outputs (issue 17, src/outputs/): one series per configured output.
  const outputs = deps.outputStats();
  const per = (value: (o: OutputStats) => number): [string, number][] =>
    outputs.map((o) => [`{output="${label(o.name)}",kind="${o.kind}"}`, value(o)]);
  metric(
    'facegate_output_pending',
    'gauge',
    "Messages waiting in an output's outbox.",
    per((o) => o.pending),
  );
  metric(
    'facegate_output_delivered_total',
    'counter',
    'Messages an output delivered.',
    per((o) => o.delivered),
  );
  metric(
    'facegate_output_failures_total',
    'counter',
    'Failed delivery attempts (each retried).',
    per((o) => o.failures),
  );
  metric(
    'facegate_output_dropped_total',
    'counter',
    "Oldest messages dropped for the outbox's bound.",
    per((o) => o.dropped),
  );
  metric(
    'facegate_output_dead_lettered_total',
    'counter',
    'Messages the receiver refused for good (kept in the dead letter).',
    per((o) => o.deadLettered),
  );
  metric(
    'facegate_output_not_journaled_total',
    'counter',
    "Messages that could not be written to an output's outbox (a full disk), lost to it.",
    per((o) => o.notJournaled),
  );
  metric(
    'facegate_output_up',
    'gauge',
    'Whether an output delivers (1) or is failing (0).',
    per((o) => (o.lastError === null && o.journalError === null ? 1 : 0)),
  );
  return `${lines.join('\n')}\n`;
}

export function registerHealthAndMetricsRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const { storage } = deps;

  app.get('/health', async () => {
    const database = storage.db.health();
    const cache = storage.cache.health();
    const cams = await cameras(deps);
    const pipeline = deps.pipelineStats();
    const outputs = deps.outputStats();
    const status = !database.available
      ? 'read-only'
      : cache.degraded ||
          cams.some((c) => !c.up) ||
          outputs.some((o) => o.lastError !== null || o.journalError !== null)
        ? 'degraded'
        : 'ok';
    return {
      status,
      // Issue 18: which appliance answers (several may share one database), and how far its index
      // is behind the central database's change feed.
      applianceId: storage.db.applianceId,
      changes: storage.changes.stats(),
      database,
      cache,
      embeddings: storage.embeddings.stats(),
      cameras: cams,
      inference: deps.inference,
      pipeline: { running: pipeline !== null, queueDepth: pipeline?.queued ?? 0 },
      // Site calibration (issue 13): where the match threshold came from, and whether the gallery outgrew it.
      threshold: siteThresholdReport(deps.siteThreshold(), deps.users.activeCount),
      // Issue 17: each output's outbox and delivery (a failing output makes the appliance degraded).
      outputs,
    };
  });

  app.get('/metrics', async (_req, reply) => {
    const p = deps.pipelineStats();
    const cams = await cameras(deps);
    return reply.type('text/plain; version=0.0.4; charset=utf-8').send(metricsText(deps, p, cams));
  });
}
