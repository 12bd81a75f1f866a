// `facegate users list|show|disable|enable|delete`.
import { parseArgs } from 'node:util';

import { deleteUser } from '../../recognition/enrollment.js';
import { openContext } from '../context.js';
import { UsageError } from '../usage-error.js';

export const usersUsage = `facegate users list [--status active|disabled] [--json]
facegate users show|disable|enable <userId> [--json]
facegate users delete <userId> [--purge-images] [--json]
  Deleting removes the user's embeddings from the database and the index and their aligned
  crops; their original photos stay (the storage design) unless --purge-images.`;

export async function usersCommand(argv: string[], out: (json: unknown, text: string) => void): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { status: { type: 'string' }, 'purge-images': { type: 'boolean', default: false }, json: { type: 'boolean', default: false } },
  });
  const [action, userId, ...extra] = positionals;
  const needsUser = ['show', 'disable', 'enable', 'delete'];
  if (!action || ![...needsUser, 'list'].includes(action) || extra.length) throw new UsageError('Expected users list|show|disable|enable|delete');
  if (needsUser.includes(action) && !userId) throw new UsageError(`Expected a user id after "users ${action}"`);
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
        out({ users }, users.map((u) => `${u.id}\t${u.name}\t${u.department ?? ''}\t${u.status}`).join('\n') || '(no users)');
        return;
      }
      case 'show': {
        const user = await db.getUser(id);
        if (!user) throw new UsageError(`No user ${id}`);
        const scan = await images.scanUser(id);
        const detail = { user, images: scan.ok.length, corruptedImages: scan.corrupted };
        out(detail, `${user.id}: ${user.name} (${user.department ?? 'no department'}), ${user.status}, ${scan.ok.length} images`);
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
        out({ userId: id, ...result, originalsKept: !values['purge-images'] }, `deleted ${id} (${result.embeddings} embeddings)`);
      }
    }
  } finally {
    await ctx.close();
  }
}
