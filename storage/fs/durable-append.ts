// The one way a JSON-lines journal (the event spool, the outputs' outboxes) appends: every byte
// written, then fsync'd, or nothing. A nearly full disk takes part of a write without an error (a
// short write: FileHandle.write does one write(2) and reports what it took), so the write loops
// until all of it is on disk or the disk says ENOSPC; a failure cuts the file back to where it
// was, so no half line is left for the next append to continue (an acknowledged line lost inside
// an unreadable one). When even the cut fails, the next append starts on a fresh line.
import type { FileHandle } from 'node:fs/promises';

/** Appends `text` to the open journal and fsyncs it; on failure leaves the file as it was and rejects. */
export async function appendDurably(handle: FileHandle, text: string): Promise<void> {
  const before = (await handle.stat()).size;
  const bytes = Buffer.from(text, 'utf8');
  try {
    for (let at = 0; at < bytes.length;) {
      const { bytesWritten } = await handle.write(bytes, at, bytes.length - at);
      if (bytesWritten === 0) throw new Error(`Expected to write ${bytes.length - at} more bytes but wrote none`);
      at += bytesWritten;
    }
    await handle.sync();
  } catch (error) {
    await handle.truncate(before).catch(() => startOnFreshLine(handle));
    throw error;
  }
}

// The half line is then skipped, with a warning, by the journal's next read.
async function startOnFreshLine(handle: FileHandle): Promise<void> {
  try {
    const { size } = await handle.stat();
    if (size === 0) return;
    const last = Buffer.alloc(1);
    await handle.read(last, 0, 1, size - 1);
    if (last[0] !== 0x0a) await handle.write('\n');
  } catch {
    // Nothing more can be done here; the next read skips what it cannot parse.
  }
}
