// `facegate events list`: the recognition event log (newest first), with filters and paging.
import { parseArgs } from 'node:util';

import { ACCESS_VERDICTS, type AccessVerdictKind } from '../../../storage/db/db-store.js';
import { parseIsoTimestamp } from '../../../storage/dates.js';
import { idProblem } from '../../../storage/ids.js';
import { textField } from '../../api/text-fields.js';
import { markEventWrong, MAX_ACTOR_CHARS } from '../../recognition/corrections.js';
import { openContext } from '../context.js';
import { UsageError } from '../usage-error.js';

export const eventsUsage = `facegate events list [--camera ID] [--user ID] [--access granted|denied|unknown] [--appliance ID] [--since ISO] [--until ISO] [--limit N] [--before EVENT_ID] [--cameras] [--json]
  Recognition events, newest first, each with the appliance that recorded it ("-": before appliance
  ids) and its access verdict where access rules are configured (--appliance: one appliance's only;
  --cameras: camera connect/disconnect events instead).
facegate events wrong <eventId> [--actor NAME] [--note TEXT] [--force] [--json]
  The event named the wrong person: its face (the event's confidence) is recorded as a match
  correction for that user, whose own threshold is raised above it; prints the new threshold.
  Refused when the raise would refuse the user's own photos (the face is probably theirs) unless
  --force.`;

/**
 * --actor as the operator typed it, by the API's rule for its actor field (printable, 1-100
 * characters): refused before anything is opened, the message about the name, not the stored "cli:" form.
 */
export function cliActor(raw: string | undefined): string {
  if (raw === undefined) return 'cli:operator';
  try {
    return `cli:${textField('--actor', raw, MAX_ACTOR_CHARS)}`;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function date(name: string, raw: string | undefined): Date | undefined {
  if (raw === undefined) return undefined;
  const d = parseIsoTimestamp(raw);
  if (d === undefined)
    throw new UsageError(
      `Expected an ISO date for --${name} (YYYY-MM-DD, or a timestamp with its zone) but received "${raw}"`,
    );
  return d;
}

export async function eventsCommand(argv: string[], out: (json: unknown, text: string) => void): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      camera: { type: 'string' },
      user: { type: 'string' },
      access: { type: 'string' },
      appliance: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      limit: { type: 'string' },
      before: { type: 'string' },
      cameras: { type: 'boolean', default: false },
      actor: { type: 'string' },
      note: { type: 'string' },
      force: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals[0] === 'wrong') {
    if (positionals.length !== 2)
      throw new UsageError(
        `Expected "events wrong <eventId>" but received ${positionals.length - 1} argument(s) after "wrong"`,
      );
    const actor = cliActor(values.actor);
    const ctx = await openContext({ vision: false });
    try {
      const result = await markEventWrong(
        { storage: ctx.storage, siteMatch: (await ctx.siteThreshold()).match },
        {
          eventId: positionals[1],
          actor,
          ...(values.note !== undefined ? { note: values.note } : {}),
          force: values.force,
        },
      );
      const t = result.threshold;
      out(
        result,
        `recorded: event ${positionals[1] ?? ''} was not ${result.userId} (score ${result.correction.score.toFixed(3)}); ${result.userId}'s match threshold is now ${t.match.toFixed(3)}${t.raised ? ` (raised by ${t.corrections.length} correction(s); the site's is ${t.site})` : " (the site's)"}`,
      );
    } finally {
      await ctx.close();
    }
    return;
  }
  if (positionals[0] !== 'list' || positionals.length !== 1)
    throw new UsageError('Expected "events list" or "events wrong <eventId>"');
  const access = values.access;
  if (access !== undefined && !(ACCESS_VERDICTS as readonly string[]).includes(access))
    throw new UsageError(`Expected --access ${ACCESS_VERDICTS.join(' | ')} but received "${access}"`);
  if (access !== undefined && values.cameras)
    throw new UsageError(
      'Expected --access with recognition events, not with --cameras (camera events have no verdict)',
    );
  // Refused before anything opens, with storage's own message.
  const appliance = values.appliance;
  if (appliance !== undefined) {
    const problem = idProblem('appliance', appliance);
    if (problem !== null) throw new UsageError(`--appliance: ${problem}`);
  }
  const query = {
    ...(access !== undefined ? { access: access as AccessVerdictKind } : {}),
    ...(appliance !== undefined ? { appliance } : {}),
    ...(values.camera ? { cameraId: values.camera } : {}),
    ...(values.user ? { userId: values.user } : {}),
    ...(values.since ? { since: date('since', values.since) as Date } : {}),
    ...(values.until ? { until: date('until', values.until) as Date } : {}),
    ...(values.limit ? { limit: Number(values.limit) } : {}),
    ...(values.before ? { before: values.before } : {}),
  };
  const ctx = await openContext({ vision: false });
  try {
    if (values.cameras) {
      const events = await ctx.storage.db.queryCameraEvents(query);
      out(
        { events },
        events
          .map(
            (e) =>
              `${e.timestamp.toISOString()}  ${e.applianceId ?? '-'}  ${e.cameraId}  ${e.eventType}  ${JSON.stringify(e.details)}`,
          )
          .join('\n'),
      );
      return;
    }
    const events = await ctx.storage.db.queryRecognitionEvents(query);
    out(
      { events },
      events
        .map(
          (e) =>
            `${e.timestamp.toISOString()}  ${e.applianceId ?? '-'}  ${e.cameraId}  ${e.isUnknown ? 'unknown' : `known ${e.matchedUserId ?? ''}`}  ${e.confidence.toFixed(3)}  track ${e.trackId ?? '-'}${e.access ? `  ${e.access.verdict} (${e.access.reason})` : ''}`,
        )
        .join('\n') || '(no events)',
    );
  } finally {
    await ctx.close();
  }
}
