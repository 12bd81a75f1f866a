// `facegate unknown list|show|enroll|assign|dismiss|audit`: reviewing the unknown faces the
// service kept (src/unknown-faces/review.ts), while the service is stopped (the data-root lock);
// a running service offers the same over its API (/unknown).
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { parseIsoTimestamp } from '../../../storage/dates.js';
import { GROUP_STATUSES, type GroupQuery, parseGroupId, type UnknownGroup } from '../../../storage/index.js';
import { validateId } from '../../../storage/ids.js';
import { silentLogger } from '../../../storage/logger.js';
import { DEFAULT_LEARNING_POLICY } from '../../recognition/auto-learning.js';
import { EnrollmentRefusedError, type Skipped } from '../../recognition/enrollment.js';
import { decisionThresholdsOf } from '../../config/config.js';
import { UnknownFaceGrouping } from '../../unknown-faces/grouping.js';
import {
  AssignmentRefusedError,
  assignGroup,
  checkActor,
  dismissGroup,
  enrollGroup,
  listGroups,
  type ReviewDeps,
  showGroup,
} from '../../unknown-faces/review.js';
import { openContext } from '../context.js';
import { UsageError } from '../usage-error.js';

export const unknownUsage = `facegate unknown list [--status open|enrolled|assigned|dismissed|all] [--since ISO] [--camera ID] [--limit N] [--json]
facegate unknown show <group> [--json]
facegate unknown enroll <group> <userId> --name NAME [--department D] [--actor WHO] [--json]
facegate unknown assign <group> <userId> [--actor WHO] [--json]
facegate unknown dismiss <group> [--reason TEXT] [--actor WHO] [--json]
facegate unknown audit [--group G] [--limit N] [--json]
  Unknown faces grouped by person as they were seen. enroll makes a new user of a group (at least
  3 usable faces, none matching another user); assign adds its faces to an existing user where
  each passes the auto-learning guards; dismiss deletes its crops and embeddings. Every action is
  recorded (audit) with --actor (default: the logged-in user name).`;

const ACTIONS = ['list', 'show', 'enroll', 'assign', 'dismiss', 'audit'] as const;
type Action = (typeof ACTIONS)[number];
/** The positional arguments each action takes after its name. */
const ARGS: Record<Action, string[]> = {
  list: [],
  show: ['group'],
  enroll: ['group', 'userId'],
  assign: ['group', 'userId'],
  dismiss: ['group'],
  audit: [],
};

/** Runs a check; its refusal becomes a usage error (exit 2) with the same message. */
function usage<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

function defaultActor(): string {
  try {
    return os.userInfo().username || 'unknown';
  } catch {
    return 'unknown';
  }
}

const day = (d: Date | null) => (d ? d.toISOString().replace('T', ' ').slice(0, 19) : '-');

function withSkipped(headline: string, skipped: Skipped[]): string {
  return [headline, ...skipped.map((s) => `  skipped ${s.file}: ${s.reason}`)].join('\n');
}

function groupLine(g: UnknownGroup): string {
  const who = g.userId ? ` -> ${g.userId}` : '';
  const best = g.best ? g.best.quality.toFixed(3) : '-';
  // The appliance that keeps the group (issue 18): it is reviewed there, where its crops are.
  return `${g.id}\t${g.status}${who}\t${g.faces} face(s)\t${day(g.firstSeen)} .. ${day(g.lastSeen)}\t${g.cameras.join(',') || '-'}\tbest ${best}\t${g.applianceId ?? '-'}`;
}

export async function unknownCommand(
  argv: string[],
  out: (json: unknown, text: string) => void,
): Promise<number | void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      status: { type: 'string' },
      since: { type: 'string' },
      camera: { type: 'string' },
      limit: { type: 'string' },
      group: { type: 'string' },
      name: { type: 'string' },
      department: { type: 'string' },
      reason: { type: 'string' },
      actor: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const [action, ...args] = positionals;
  if (!ACTIONS.includes(action as Action)) throw new UsageError(`Expected unknown ${ACTIONS.join('|')}`);
  const expected = ARGS[action as Action];
  if (args.length !== expected.length) {
    throw new UsageError(
      `Expected "unknown ${action}${expected.map((a) => ` <${a}>`).join('')}" but received ${args.length} argument(s)`,
    );
  }
  const [groupArg, userArg] = args as [string, string];
  // Every argument is checked before anything opens: a hostile id never reaches the stores, and a
  // bad argument is a usage error (exit 2) like any other.
  const groupId = expected.includes('group') ? usage(() => parseGroupId(groupArg)) : undefined;
  const userId = expected.includes('userId') ? usage(() => validateId('user', userArg)) : '';
  const auditGroup = values.group === undefined ? undefined : usage(() => parseGroupId(values.group));
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1 && limit <= 1000)) {
    throw new UsageError(`Expected --limit to be an integer in 1..1000 but received "${values.limit}"`);
  }
  const status = values.status;
  if (status !== undefined && status !== 'all' && !(GROUP_STATUSES as readonly string[]).includes(status)) {
    throw new UsageError(`Expected --status ${[...GROUP_STATUSES, 'all'].join('|')} but received "${status}"`);
  }
  const since = values.since === undefined ? undefined : parseIsoTimestamp(values.since);
  if (values.since !== undefined && !(since !== undefined && since.getTime() >= 0)) {
    throw new UsageError(
      `Expected --since to be an ISO date from 1970 on (YYYY-MM-DD, or a timestamp with its zone) but received "${values.since}"`,
    );
  }
  const camera = values.camera === undefined ? undefined : usage(() => validateId('camera', values.camera));
  if (action === 'enroll' && !values.name?.trim()) throw new UsageError('Expected --name for "unknown enroll"');
  const actor = usage(() => checkActor(`cli:${values.actor ?? defaultActor()}`));
  if (values.actor !== undefined && !values.actor.trim())
    throw new UsageError('Expected --actor to name the reviewer but received an empty name');

  const ctx = await openContext({ vision: false });
  try {
    const { storage } = ctx;
    const thresholds = decisionThresholdsOf(ctx.config, await ctx.siteThreshold());
    const grouping = new UnknownFaceGrouping(storage, thresholds.match, silentLogger);
    const review: ReviewDeps = {
      storage,
      grouping,
      logger: silentLogger,
      thresholds,
      learning: DEFAULT_LEARNING_POLICY,
    };
    const crop = (image: string) => path.join(ctx.config.dataDir, ...image.split('/'));
    switch (action as Action) {
      case 'list': {
        const groups = await listGroups(storage, {
          ...(status ? { status: status as NonNullable<GroupQuery['status']> } : {}),
          ...(since ? { since } : {}),
          ...(camera ? { cameraId: camera } : {}),
          ...(limit !== undefined ? { limit } : {}),
        });
        out({ groups }, groups.map(groupLine).join('\n') || '(no unknown-face groups)');
        return;
      }
      case 'show': {
        const shown = await showGroup(storage, groupId);
        out(
          shown,
          [
            groupLine(shown.group),
            ...(shown.group.best ? [`best crop: ${crop(shown.group.best.image)}`] : []),
            ...shown.faces.map(
              (f) =>
                `  face ${f.id}\t${day(f.seenAt)}\t${f.cameraId}\tquality ${f.quality.toFixed(3)}\t${crop(f.image)}`,
            ),
            ...shown.actions.map(
              (a) => `  ${a.action} by ${a.actor} at ${day(a.timestamp)}${a.userId ? ` (${a.userId})` : ''}`,
            ),
          ].join('\n'),
        );
        return;
      }
      case 'enroll':
      case 'assign': {
        try {
          if (action === 'enroll') {
            const r = await enrollGroup(review, {
              groupId,
              userId,
              name: (values.name as string).trim(),
              department: values.department?.trim() || null,
              actor,
            });
            out(
              r,
              withSkipped(
                `enrolled ${userId} from group ${groupId} (${r.enrollment.embeddings} faces)`,
                r.enrollment.skipped,
              ),
            );
          } else {
            const r = await assignGroup(review, { groupId, userId, actor });
            out(r, withSkipped(`assigned group ${groupId} to ${userId}: ${r.added} face(s) added`, r.skipped));
          }
          return;
        } catch (error) {
          // A refusal is this command's answer (exit 1, each face's reason), not a failure.
          if (!(error instanceof EnrollmentRefusedError || error instanceof AssignmentRefusedError)) throw error;
          out({ error: error.message, skipped: error.skipped }, withSkipped(error.message, error.skipped));
          return 1;
        }
      }
      case 'dismiss': {
        const r = await dismissGroup(review, { groupId, actor, ...(values.reason ? { reason: values.reason } : {}) });
        out(r, `dismissed group ${groupId}: ${r.removedFaces} crop(s) and embedding(s) deleted`);
        return;
      }
      case 'audit': {
        const actions = await storage.db.unknown.reviewActions({
          ...(auditGroup !== undefined ? { groupId: auditGroup } : {}),
          ...(limit !== undefined ? { limit } : {}),
        });
        out(
          { actions },
          actions
            .map(
              (a) =>
                `${day(a.timestamp)}\t${a.actor}\t${a.action}\tgroup ${a.groupId}${a.userId ? `\t${a.userId}` : ''}`,
            )
            .join('\n') || '(no review actions)',
        );
        return;
      }
    }
  } finally {
    await ctx.close();
  }
}
