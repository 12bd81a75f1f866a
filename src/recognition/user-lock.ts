// One change to a user's gallery at a time: enrollment, deletion, auto-learning and a reviewed
// group's assignment queue per user id (in this process; the data-root lock keeps other processes
// out), so two of them cannot interleave their writes and clean-ups. Keyed in lower case: on
// NTFS U1 and u1 are one folder.
//
// And one gallery write at a time across all users, where a write's rule reads other users'
// embeddings: an enrollment ("no face matches another user"; photos through the API or the CLI,
// or a reviewed group) and a reviewed group's assignment (its margin over everyone else) judge the
// faces against the index, then insert them. Judgement and insert are one critical section, or two
// enrollments of one face under two ids both pass the check before either inserts: the same person
// twice, then "ambiguous" to every camera. Only the judgement and the writes run inside it;
// detection and embedding stay outside, so enrollments do not queue behind each other's vision.
// Lock order: a user's lock, then the gallery's; never a user's lock inside the gallery's.
import { KeyedSerialQueue, SerialQueue } from '../../core/serial-queue.js';

const users = new KeyedSerialQueue();
const gallery = new SerialQueue();

export function withUserLock<T>(userId: string, fn: () => Promise<T>): Promise<T> {
  return users.run(userId.toLowerCase(), fn);
}

/** Runs a judgement against the whole gallery and the writes it allows, with no other such write between them. */
export function withGalleryLock<T>(fn: () => Promise<T>): Promise<T> {
  return gallery.run(fn);
}
