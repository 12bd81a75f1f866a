// Running async work one piece at a time, in call order: a model session whose input buffer is
// reused, the pipeline's single worker, the unknown-face grouping, the embedding index's changes and
// saves, one user's gallery, one image folder. A failed piece does not stop the next; its caller
// gets the error. In-process only (the data-root lock keeps other processes out).

export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }
}

/** One SerialQueue per key; a key's queue is dropped once it has nothing left to run. */
export class KeyedSerialQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.tails.get(key) ?? Promise.resolve()).then(fn, fn);
    const tail = run.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return run;
  }
}
