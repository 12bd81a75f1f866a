// One change to a user's gallery at a time: enrollment, deletion, auto-learning and a reviewed
// group's assignment queue per user id (in this process; the data-root lock keeps other processes
// out), so two of them cannot interleave their writes and clean-ups. Keyed in lower case: on
// NTFS U1 and u1 are one folder.
const userLocks = new Map<string, Promise<unknown>>();

export function withUserLock<T>(userId: string, fn: () => Promise<T>): Promise<T> {
  const key = userId.toLowerCase();
  const run = (userLocks.get(key) ?? Promise.resolve()).then(fn, fn);
  const tail = run.catch(() => undefined);
  userLocks.set(key, tail);
  void tail.then(() => {
    if (userLocks.get(key) === tail) userLocks.delete(key);
  });
  return run;
}
