// Progress of long CLI work (enrolling a folder, rebuilding the index, backup, restore) for a
// person at a terminal: one line on stderr, redrawn in place, with the count and the time so far.
// Only when stderr is a terminal and the command was not asked for --json: a pipe, a log file or a
// script gets none of it (no carriage returns in logs), and stdout, the command's answer, never does.

/** Redraws at most this often while nothing is counted (a long copy, a rebuild), so the seconds move. */
const TICK_MS = 250;
/** Characters of the bar itself: fits an 80-column terminal with the label, the count and the name. */
const BAR_WIDTH = 24;

export interface Progress {
  /** `done` of `total` (total unknown: null), with what is being worked on now. */
  update(done: number, what?: string): void;
  /** A line of its own (a step finished, a warning), printed above the bar; printed as is where there is no bar. */
  line(text: string): void;
  /** Clears the bar; the command's answer follows. */
  end(): void;
}

export interface ProgressOptions {
  /** The steps the work has; null: unknown (the bar becomes a count of seconds). */
  total: number | null;
  /** --json was given: no bar, whatever stderr is. */
  json?: boolean;
  /** Where to draw; default process.stderr (a stream with isTTY and columns, for tests). */
  stream?: Pick<NodeJS.WriteStream, 'write' | 'isTTY' | 'columns'>;
  /** Milliseconds since an origin; default performance.now. */
  now?: () => number;
}

/** Whether a progress bar would be drawn: stderr is a terminal and no --json. */
export function drawsProgress(options: Pick<ProgressOptions, 'json' | 'stream'> = {}): boolean {
  return (options.stream ?? process.stderr).isTTY === true && options.json !== true;
}

/** A progress line labelled `label` ("enroll", "backup"); a no-op bar where drawsProgress is false. */
export function progress(label: string, options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  const now = options.now ?? (() => performance.now());
  if (!drawsProgress(options)) {
    return { update: () => undefined, line: (text) => void stream.write(`${text}\n`), end: () => undefined };
  }
  const started = now();
  let done = 0;
  let what = '';
  let ended = false;
  const draw = () => {
    if (ended) return;
    const seconds = `${Math.floor((now() - started) / 1000)} s`;
    let text: string;
    if (options.total === null || options.total <= 0) text = `${label}: ${what ? `${what}, ` : ''}${seconds}`;
    else {
      const fraction = Math.min(1, done / options.total);
      const filled = Math.round(fraction * BAR_WIDTH);
      text = `${label} [${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${done}/${options.total} ${seconds}${what ? ` ${what}` : ''}`;
    }
    // Never wider than the terminal: a wrapped line would not be redrawn in place.
    const columns = stream.columns > 0 ? stream.columns : 80;
    if (text.length > columns - 1) text = `${text.slice(0, columns - 2)}…`;
    stream.write(`\r\x1b[2K${text}`);
  };
  const timer = setInterval(draw, TICK_MS);
  // The bar never keeps the process alive: a command that is done exits.
  timer.unref();
  draw();
  return {
    update(n, current?: string) {
      done = n;
      what = current ?? '';
      draw();
    },
    line(text) {
      stream.write(`\r\x1b[2K${text}\n`);
      draw();
    },
    end() {
      if (ended) return;
      ended = true;
      clearInterval(timer);
      stream.write('\r\x1b[2K');
    },
  };
}
