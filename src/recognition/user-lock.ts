// One change to a user's gallery at a time: enrollment, deletion, auto-learning and a reviewed
// group's assignment queue per user id (in this process; the data-root lock keeps other processes
// out), so two of them cannot interleave their writes and clean-ups. Keyed in lower case: on
// NTFS U1 and u1 are one folder.
import { KeyedSerialQueue } from '../serial-queue.js';

const users = new KeyedSerialQueue();

export function withUserLock<T>(userId: string, fn: () => Promise<T>): Promise<T> {
  return users.run(userId.toLowerCase(), fn);
}
