// `facegate users list|show|disable|enable|delete`.
import { parseArgs } from 'node:util';

import { promises as fs } from 'node:fs';
import path from 'node:path';

import { printableForm } from '../../../storage/checks.js';
import { NotFoundError } from '../../../storage/errors.js';
import { validateId } from '../../../storage/ids.js';
import {
  markPhotoNotUser,
  MAX_PHOTO_NAME_CHARS,
  nearestOtherPerson,
  userThresholdReport,
} from '../../recognition/corrections.js';
import { deleteUser } from '../../recognition/enrollment.js';
import { openContext } from '../context.js';
import { UsageError } from '../usage-error.js';
import { cliActor } from './events.js';

export const usersUsage = `facegate users list [--status active|disabled] [--json]
facegate users show|disable|enable <userId> [--json]
facegate users roles <userId> [--set ROLE,ROLE...] [--json]
  The user's roles (what the access rules in the config's \`access\` section allow at each door);
  --set replaces them (--set "" removes them all).
facegate users delete <userId> [--purge-images] [--json]
  Deleting removes the user's embeddings from the database and the index and their aligned
  crops; their original photos stay (the storage design) unless --purge-images.
facegate users not <userId> <photo> [--actor NAME] [--note TEXT] [--force] [--json]
  "Not this person": the photo's face is recorded as a face that must not be taken for the user
  (a match correction), and the user's own threshold is raised above its score; refused when the
  raise would refuse the user's own photos (the face is probably theirs) unless --force.
  \`users show\` shows the threshold, the corrections that raised it, and the nearest other
  enrolled person.`;

export async function usersCommand(argv: string[], out: (json: unknown, text: string) => void): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      status: { type: 'string' },
      'purge-images': { type: 'boolean', default: false },
      actor: { type: 'string' },
      note: { type: 'string' },
      force: { type: 'boolean', default: false },
      set: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const [action, userId, ...extra] = positionals;
  const needsUser = ['show', 'disable', 'enable', 'delete', 'not', 'roles'];
  if (!action || ![...needsUser, 'list'].includes(action) || extra.length > (action === 'not' ? 1 : 0)) {
    throw new UsageError(
      'Expected users list|show|disable|enable|delete|roles <userId>, or users not <userId> <photo>',
    );
  }
  if (needsUser.includes(action) && !userId) throw new UsageError(`Expected a user id after "users ${action}"`);
  if (action === 'not') return notThisPerson(userId as string, extra[0], values, out);
  if (values.status !== undefined && values.status !== 'active' && values.status !== 'disabled') {
    throw new UsageError(`Expected --status active or disabled but received "${values.status}"`);
  }
  const ctx = await openContext({ vision: false });
  try {
    const { db, images } = ctx.storage;
    const id = userId as string;
    switch (action) {
      case 'list': {
        const users = await db.listUsers(values.status ? { status: values.status } : {});
        out(
          { users },
          users.map((u) => `${u.id}\t${u.name}\t${u.department ?? ''}\t${u.status}`).join('\n') || '(no users)',
        );
        return;
      }
      case 'show': {
        const user = await db.getUser(id);
        // The command line was right; the user is not there (exit 1, like the API's 404).
        if (!user) throw new NotFoundError(`Expected an existing user but there is no user ${id}`);
        const scan = await images.scanUser(id);
        // Issue 13: the user's own threshold, the corrections that raised it, the nearest other person.
        const threshold = await userThresholdReport(ctx.storage, id, (await ctx.siteThreshold()).match);
        const nearest = await nearestOtherPerson(ctx.storage, id);
        const detail = { user, images: scan.ok.length, corruptedImages: scan.corrupted, threshold, nearest };
        out(
          detail,
          [
            `${user.id}: ${user.name} (${user.department ?? 'no department'}), ${user.status}, ${scan.ok.length} images`,
            ...thresholdLines(threshold),
            nearest
              ? `nearest other enrolled person: ${nearest.userId} at ${nearest.score.toFixed(3)}`
              : 'nearest other enrolled person: none',
          ].join('\n'),
        );
        return;
      }
      case 'roles': {
        if (values.set !== undefined) {
          const roles = values.set
            .split(',')
            .map((r) => r.trim())
            .filter((r) => r !== '');
          const user = await db.setUserRoles(id, roles);
          out({ user }, `${user.id}: roles ${user.roles.join(', ') || '(none)'}`);
          return;
        }
        const user = await db.getUser(id);
        if (!user) throw new NotFoundError(`Expected an existing user but there is no user ${id}`);
        out({ user }, `${user.id}: roles ${user.roles.join(', ') || '(none)'}`);
        return;
      }
      case 'disable':
      case 'enable': {
        const user = await db.setUserStatus(id, action === 'disable' ? 'disabled' : 'active');
        out({ user }, `${user.id} is ${user.status}`);
        return;
      }
      default: {
        const result = await deleteUser(ctx.storage, id, { purgeImages: values['purge-images'] ?? false });
        out(
          { userId: id, ...result, originalsKept: !values['purge-images'] },
          `deleted ${id} (${result.embeddings} embeddings)`,
        );
      }
    }
  } finally {
    await ctx.close();
  }
}

function thresholdLines(t: Awaited<ReturnType<typeof userThresholdReport>>): string[] {
  const head = t.raised
    ? `match threshold ${t.match.toFixed(3)} (the site's ${t.site}, raised by ${t.corrections.length} correction${t.corrections.length === 1 ? '' : 's'})`
    : `match threshold ${t.site} (the site's${t.corrections.length ? `; ${t.corrections.length} correction(s) below it` : ''})`;
  return [
    head,
    ...t.corrections.map(
      (c) =>
        `  ${c.timestamp.toISOString()}  ${c.source}  score ${c.score.toFixed(3)}  by ${c.actor}${c.eventId ? `  event ${c.eventId}` : ''}${typeof c.details.lookalikeOf === 'string' ? `  lookalike of ${c.details.lookalikeOf}` : ''}`,
    ),
  ];
}

/** `users not <userId> <photo>`: a photo's face that must not be taken for the user. */
async function notThisPerson(
  userId: string,
  photo: string | undefined,
  values: { actor?: string | undefined; note?: string | undefined; force?: boolean | undefined },
  out: (json: unknown, text: string) => void,
): Promise<void> {
  // What was typed is judged before the photo is read or the models load.
  validateId('user', userId);
  if (!photo) throw new UsageError(`Expected a photo after "users not ${userId}"`);
  const actor = cliActor(values.actor);
  const bytes = await fs.readFile(photo).catch((error: unknown) => {
    throw new UsageError(
      `Expected a readable photo file but ${photo} could not be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
    );
  });
  const name = printableForm(path.basename(photo), MAX_PHOTO_NAME_CHARS);
  const ctx = await openContext({ vision: true });
  try {
    const result = await markPhotoNotUser(
      {
        storage: ctx.storage,
        analyzer: (ctx.vision as NonNullable<typeof ctx.vision>).analyzer,
        siteMatch: (await ctx.siteThreshold()).match,
      },
      // A file name on disk may hold any character: only its printable form is kept (and shown).
      {
        userId,
        photo: bytes,
        name,
        actor,
        ...(values.note !== undefined ? { note: values.note } : {}),
        force: values.force ?? false,
      },
    );
    out(
      result,
      [
        `recorded: ${name} is not ${userId} (score ${result.correction.score.toFixed(3)})`,
        ...thresholdLines(result.threshold),
      ].join('\n'),
    );
  } finally {
    await ctx.close();
  }
}
