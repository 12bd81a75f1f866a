// A real full disk for tests: a small tmpfs mounted on a fresh folder (Linux, as root; the test
// machines run as root). Where mount is not permitted the test fails saying so, never skips:
// a disk-full path that is never exercised is a disk-full path that is never known to work.
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface SmallDisk {
  /** The mount point: an empty folder on a file system of `size` bytes. */
  dir: string;
  /** Fills the disk until a write fails with ENOSPC, leaving `leaveBytes` that free() gives back. */
  fill(leaveBytes?: number): Promise<void>;
  /** Gives back the space fill() set aside (and with everything: removes the filler). */
  free(everything?: boolean): Promise<void>;
  /** Bytes the file system says are available to us. */
  available(): Promise<number>;
  unmount(): Promise<void>;
}

const CHUNK = 64 * 1024;

export async function mountSmallDisk(name: string, sizeBytes: number): Promise<SmallDisk> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `facegate-${name}-disk-`));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (error) {
    await fs.rmdir(dir).catch(() => undefined);
    const why = (error as { stderr?: Buffer }).stderr?.toString().trim() || (error as Error).message;
    throw new Error(
      `Expected to mount a ${sizeBytes}-byte tmpfs at ${dir} (a real full disk; needs Linux and root or CAP_SYS_ADMIN) but mount failed: ${why}`,
    );
  }
  // Outside the data root the code under test uses, so nothing it lists sees them.
  const filler = path.join(dir, 'filler.bin');
  const reserve = path.join(dir, 'reserve.bin');
  return {
    dir,
    async fill(leaveBytes = 0) {
      if (leaveBytes > 0) await fs.writeFile(reserve, Buffer.alloc(leaveBytes, 1));
      const handle = await fs.open(filler, 'a');
      try {
        for (const size of [CHUNK, 4096, 512, 1]) {
          const chunk = Buffer.alloc(size, 1);
          for (;;) {
            try {
              await handle.write(chunk);
            } catch (error) {
              if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
              throw error;
            }
          }
        }
      } finally {
        await handle.close();
      }
    },
    async free(everything = false) {
      await fs.rm(reserve, { force: true });
      if (everything) await fs.rm(filler, { force: true });
    },
    async available() {
      const s = await fs.statfs(dir);
      return s.bavail * s.bsize;
    },
    async unmount() {
      execFileSync('umount', [dir], { stdio: 'pipe' });
      await fs.rmdir(dir);
    },
  };
}
