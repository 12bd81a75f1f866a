// The outbox on a real file system (a mkdtemp folder; a small tmpfs for the full disk): what is
// appended survives a restart and a crash, what is removed stays removed, damage costs only the
// damaged line, the bound drops the oldest with one warning per burst, and compaction keeps the
// journal small without losing or reviving anything.
import { appendFile, copyFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';

import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import type { OutputMessage, RecognitionMessage } from '../../src/outputs/message.js';
import { COMPACT_AFTER, Outbox, type OutboxOptions } from '../../src/outputs/outbox.js';
import { silentLogger } from '../../storage/logger.js';
import { mountSmallDisk } from '../helpers/full-disk.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'facegate-outbox-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const JOURNAL = 'outbox.jsonl';

function msg(n: number, pad = 0): OutputMessage {
  return { type: 'test', id: `m${n}`, timestamp: '2025-01-02T03:04:05.000Z', text: `message ${n} ${'x'.repeat(pad)}` };
}
const ids = (messages: OutputMessage[]) => messages.map((m) => m.id);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** A pino logger whose lines the test reads (level 40 is warn, 30 info). */
function recordingLogger() {
  const lines: { level: number; msg: string; [key: string]: unknown }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as (typeof lines)[number]);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), warnings: () => lines.filter((l) => l.level === 40), lines };
}

function open(at = dir, options: Partial<OutboxOptions> = {}): Promise<Outbox> {
  return Outbox.open(at, { name: 'broker', maxMessages: 10_000, logger: silentLogger, ...options });
}

async function journalLines(at = dir): Promise<string[]> {
  return (await readFile(path.join(at, JOURNAL), 'utf8')).split('\n').filter((l) => l !== '');
}

describe('Outbox', () => {
  it('keeps messages in the order appended, whole, and peeks the oldest first', async () => {
    const recognition: RecognitionMessage = {
      type: 'recognition',
      applianceId: 'appliance-1',
      id: '0190f3c4-7b1e-7c3a-9d2e-123456789abc',
      timestamp: '2025-01-02T03:04:05.000Z',
      cameraId: 'front-door',
      matchedUserId: 'U1',
      userName: 'Zoë "Z" Ångström\nline two',
      isUnknown: false,
      confidence: 0.91,
      trackId: 't-7',
      modelId: 'arcface-r100',
      threshold: 0.5,
      access: null,
      cropUrl: null,
    };
    const outbox = await open();
    await outbox.append([msg(1), msg(2)]);
    await outbox.append([recognition]);
    await outbox.append([msg(3)]);
    expect(outbox.size()).toBe(4);
    expect(ids(outbox.peek(2))).toEqual(['m1', 'm2']);
    expect(outbox.peek(10)).toEqual([msg(1), msg(2), recognition, msg(3)]);
    await outbox.close();
    await expect(outbox.append([msg(4)])).rejects.toThrow('Expected an open outbox (broker)');
    const again = await open();
    expect(again.peek(10)).toEqual([msg(1), msg(2), recognition, msg(3)]);
    await again.close();
  });

  it('keeps the first of two messages with one id, and delivers that id once', async () => {
    const outbox = await open();
    await outbox.append([msg(1)]);
    await outbox.append([
      { type: 'test', id: 'm1', timestamp: '2025-01-02T03:04:05.000Z', text: 'the repeat' },
      msg(2),
      msg(2),
    ]);
    expect(outbox.peek(10)).toEqual([msg(1), msg(2)]);
    await outbox.close();
    const again = await open();
    expect(again.peek(10)).toEqual([msg(1), msg(2)]);
    await again.remove(['m1']);
    expect(ids(again.peek(10))).toEqual(['m2']);
    await again.close();
  });

  it('keeps a removal across a reopen, ignoring unknown ids', async () => {
    const outbox = await open();
    await outbox.append([msg(1), msg(2), msg(3), msg(4)]);
    await outbox.remove(['m2', 'no-such-id']);
    await outbox.remove([]);
    await outbox.remove(['m4', 'm4']);
    expect(ids(outbox.peek(10))).toEqual(['m1', 'm3']);
    await outbox.close();
    const again = await open();
    expect(ids(again.peek(10))).toEqual(['m1', 'm3']);
    expect(again.size()).toBe(2);
    await again.close();
  });

  it('keeps what was pending after a crash (never closed), and appends after it', async () => {
    const crashed = await open();
    await crashed.append([msg(1), msg(2), msg(3)]);
    await crashed.remove(['m1']);
    // No close(): the next run opens the folder as a crash left it.
    const next = await open();
    expect(ids(next.peek(10))).toEqual(['m2', 'm3']);
    await next.append([msg(4)]);
    const third = await open();
    expect(ids(third.peek(10))).toEqual(['m2', 'm3', 'm4']);
    await third.close();
    await next.close();
    await crashed.close();
  });

  it('cuts a half-written last message line at open, so the next message is not lost inside it', async () => {
    const first = await open();
    await first.append([msg(1)]);
    await first.close();
    await appendFile(path.join(dir, JOURNAL), '{"message":{"type":"test","id":"m2","timest'); // a power cut mid-write
    const log = recordingLogger();
    const outbox = await open(dir, { logger: log.logger });
    expect(ids(outbox.peek(10))).toEqual(['m1']);
    expect(log.warnings().map((l) => l.msg)).toEqual([expect.stringContaining('half-written last line')]);
    await outbox.append([msg(3)]);
    await outbox.close();
    const again = await open();
    expect(ids(again.peek(10))).toEqual(['m1', 'm3']);
    await again.close();
  });

  it('cuts a half-written last removal line: the removal was never acknowledged, so the message stays', async () => {
    const first = await open();
    await first.append([msg(1), msg(2)]);
    await first.close();
    await appendFile(path.join(dir, JOURNAL), '{"done":["m1"'); // a power cut during remove(['m1'])
    const outbox = await open();
    expect(ids(outbox.peek(10))).toEqual(['m1', 'm2']);
    await outbox.remove(['m2']);
    await outbox.close();
    const again = await open();
    expect(ids(again.peek(10))).toEqual(['m1']);
    await again.close();
  });

  it('skips an unreadable line in the middle with one warning and keeps the rest', async () => {
    const first = await open();
    await first.append([msg(1)]);
    await first.close();
    await appendFile(path.join(dir, JOURNAL), 'not json at all\n{"message":{"id":"m9"}}\n');
    const second = await open();
    await second.append([msg(2)]);
    await second.close();
    const log = recordingLogger();
    const outbox = await open(dir, { logger: log.logger });
    expect(ids(outbox.peek(10))).toEqual(['m1', 'm2']);
    expect(log.warnings()).toEqual([
      expect.objectContaining({
        output: 'broker',
        unreadable: 2,
        lines: [2, 3],
        msg: expect.stringContaining('unreadable') as string,
      }),
    ]);
    await outbox.close();
  });

  it('drops the oldest beyond the bound, counts them, and warns once per burst', async () => {
    const log = recordingLogger();
    const outbox = await open(dir, { maxMessages: 5, logger: log.logger });
    await outbox.append(range(1, 5).map((n) => msg(n)));
    expect(outbox.dropped()).toBe(0);
    await outbox.append([msg(6), msg(7)]);
    await outbox.append([msg(8)]);
    expect(ids(outbox.peek(10))).toEqual(['m4', 'm5', 'm6', 'm7', 'm8']);
    expect(outbox.dropped()).toBe(3);
    expect(log.warnings()).toEqual([expect.objectContaining({ output: 'broker', dropped: 2, maxMessages: 5 })]);

    // Deliveries make room: the burst ends (an info line with its total), and the next drop is a new burst.
    await outbox.remove(['m4', 'm5']);
    expect(log.lines.filter((l) => l.level === 30)).toEqual([expect.objectContaining({ dropped: 3, maxMessages: 5 })]);
    await outbox.append([msg(9), msg(10), msg(11)]);
    expect(ids(outbox.peek(10))).toEqual(['m7', 'm8', 'm9', 'm10', 'm11']);
    expect(outbox.dropped()).toBe(4);
    expect(log.warnings()).toHaveLength(2);

    // More at once than the bound: only the newest five are kept.
    await outbox.append(range(12, 18).map((n) => msg(n)));
    expect(ids(outbox.peek(10))).toEqual(['m14', 'm15', 'm16', 'm17', 'm18']);
    expect(outbox.dropped()).toBe(11);
    expect(log.warnings()).toHaveLength(2);
    await outbox.close();

    const again = await open(dir, { maxMessages: 5 });
    expect(ids(again.peek(10))).toEqual(['m14', 'm15', 'm16', 'm17', 'm18']);
    expect(again.dropped()).toBe(0);
    await again.close();
    // A smaller bound at the next start drops the oldest there too, durably.
    const smaller = await open(dir, { maxMessages: 2 });
    expect(ids(smaller.peek(10))).toEqual(['m17', 'm18']);
    expect(smaller.dropped()).toBe(3);
    const after = await open(dir, { maxMessages: 5 });
    expect(ids(after.peek(10))).toEqual(['m17', 'm18']);
    await after.close();
    await smaller.close();
  });

  it('refuses a bound that is not a positive integer, saying what it received', async () => {
    await expect(open(dir, { maxMessages: 0 })).rejects.toThrow(
      "Expected a positive integer for the outbox's maxMessages but received",
    );
  });

  it('compacts the journal once delivered messages dominate it, keeping the pending ones in order', async () => {
    const total = COMPACT_AFTER + 500;
    const outbox = await open();
    await outbox.append(range(1, total).map((n) => msg(n)));
    const before = (await stat(path.join(dir, JOURNAL))).size;
    await outbox.remove(range(1, COMPACT_AFTER).map((n) => `m${n}`));
    const lines = await journalLines();
    expect(lines).toHaveLength(500);
    expect(JSON.parse(lines[0] ?? '')).toEqual({ message: msg(COMPACT_AFTER + 1) });
    expect((await stat(path.join(dir, JOURNAL))).size).toBeLessThan(before / 2);
    // Appends after the rewrite go to the new journal.
    await outbox.append([msg(total + 1)]);
    await outbox.remove([`m${COMPACT_AFTER + 1}`]);
    // Reopened as a crash leaves it (never closed).
    const again = await open();
    expect(ids(again.peek(total))).toEqual(range(COMPACT_AFTER + 2, total + 1).map((n) => `m${n}`));
    expect(await readdir(dir)).toEqual([JOURNAL]);
    await again.close();
    await outbox.close();
  });

  it('loses nothing when a crash interrupts compaction before its rename', async () => {
    const total = COMPACT_AFTER + 500;
    const outbox = await open();
    await outbox.append(range(1, total).map((n) => msg(n)));
    await outbox.remove(range(1, 700).map((n) => `m${n}`));
    // The journal as it stands just before the removal that compacts it.
    await copyFile(path.join(dir, JOURNAL), path.join(dir, 'before-compaction'));
    await outbox.remove(range(701, COMPACT_AFTER).map((n) => `m${n}`));
    await outbox.close();
    const compacted = await readFile(path.join(dir, JOURNAL));
    // The crash: the removal was journaled, the rewrite was half written to its temporary file, the rename never ran.
    await copyFile(path.join(dir, 'before-compaction'), path.join(dir, JOURNAL));
    await rm(path.join(dir, 'before-compaction'));
    await appendFile(
      path.join(dir, JOURNAL),
      `${JSON.stringify({ done: range(701, COMPACT_AFTER).map((n) => `m${n}`) })}\n`,
    );
    const temp = path.join(dir, `.${JOURNAL}.0123456789ab.tmp`);
    await writeFile(temp, compacted.subarray(0, compacted.length / 2));

    const pending = range(COMPACT_AFTER + 1, total).map((n) => `m${n}`);
    const reopened = await open();
    expect(ids(reopened.peek(total))).toEqual(pending);
    expect(await readdir(dir)).toEqual([JOURNAL]); // the leftover temporary file is gone
    // The next removal compacts again, and the result is the same.
    await reopened.remove([`m${total}`]);
    expect(await journalLines()).toHaveLength(pending.length - 1);
    await reopened.close();
    const last = await open();
    expect(ids(last.peek(total))).toEqual(pending.slice(0, -1));
    await last.close();
  });

  it('dead-letters a refused message with the reason, and it is not pending after a reopen', async () => {
    const outbox = await open();
    await outbox.append([msg(1), msg(2), msg(3)]);
    await outbox.deadLetter([msg(2)], 'HTTP 422: field "cameraId" rejected');
    expect(ids(outbox.peek(10))).toEqual(['m1', 'm3']);
    const dead = (await readFile(path.join(dir, 'dead-letter.jsonl'), 'utf8')).trim().split('\n');
    expect(dead.map((l) => JSON.parse(l) as unknown)).toEqual([
      { message: msg(2), reason: 'HTTP 422: field "cameraId" rejected', at: expect.any(String) as string },
    ]);
    await outbox.close();
    const again = await open();
    expect(ids(again.peek(10))).toEqual(['m1', 'm3']);
    await again.close();
  });
});

describe('Outbox on a full disk', () => {
  it('rejects an append that does not fit, leaves the journal as it was, and works once there is room', async () => {
    const disk = await mountSmallDisk('outbox', 1024 * 1024);
    try {
      const at = path.join(disk.dir, 'broker');
      const outbox = await open(at);
      await outbox.append([msg(1), msg(2)]);
      const before = await readFile(path.join(at, JOURNAL));

      // Nothing free: the write itself fails.
      await disk.fill(16 * 1024);
      await expect(outbox.append([msg(3, 64 * 1024)])).rejects.toMatchObject({ code: 'ENOSPC' });
      expect(await readFile(path.join(at, JOURNAL))).toEqual(before);
      // 16 KiB free: part of a 64 KiB batch is written before the disk says ENOSPC (a short write).
      await disk.free();
      await expect(outbox.append([msg(4, 32 * 1024), msg(5, 32 * 1024)])).rejects.toMatchObject({ code: 'ENOSPC' });
      expect(await readFile(path.join(at, JOURNAL))).toEqual(before);
      expect(ids(outbox.peek(10))).toEqual(['m1', 'm2']);

      await disk.free(true);
      await outbox.append([msg(6)]);
      await outbox.close();
      const log = recordingLogger();
      const again = await open(at, { logger: log.logger });
      expect(ids(again.peek(10))).toEqual(['m1', 'm2', 'm6']);
      expect(log.warnings()).toEqual([]);
      await again.close();
    } finally {
      await disk.free(true);
      await disk.unmount();
    }
  });

  it('keeps the removal and the old journal when compaction does not fit, and compacts once there is room', async () => {
    const disk = await mountSmallDisk('outbox-compact', 2 * 1024 * 1024);
    try {
      const at = path.join(disk.dir, 'broker');
      const log = recordingLogger();
      const total = COMPACT_AFTER + 300;
      const outbox = await open(at, { logger: log.logger });
      // 300 pending of ~1 KiB each: the rewrite needs ~300 KiB; the removal line ~10 KiB.
      await outbox.append(range(1, total).map((n) => msg(n, 1000)));
      await disk.fill(64 * 1024);
      await disk.free();
      await outbox.remove(range(1, COMPACT_AFTER).map((n) => `m${n}`));
      expect(log.warnings()).toEqual([
        expect.objectContaining({ msg: expect.stringContaining('could not compact') as string }),
      ]);
      expect((await readdir(at)).sort()).toEqual([JOURNAL]);
      expect(await journalLines(at)).toHaveLength(total + 1);
      const pending = range(COMPACT_AFTER + 1, total).map((n) => `m${n}`);
      expect(ids(outbox.peek(total))).toEqual(pending);
      const crashed = await open(at);
      expect(ids(crashed.peek(total))).toEqual(pending);
      await crashed.close();

      await disk.free(true);
      await outbox.remove([`m${total}`]);
      expect(await journalLines(at)).toHaveLength(pending.length - 1);
      await outbox.close();
      const again = await open(at);
      expect(ids(again.peek(total))).toEqual(pending.slice(0, -1));
      await again.close();
    } finally {
      await disk.free(true);
      await disk.unmount();
    }
  });
});
