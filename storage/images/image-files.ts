// What the user gallery (user-gallery.ts) and the unknown faces' date folders (unknown-crops.ts)
// both need: checking the bytes handed in as an image, listing a folder that may not exist yet,
// removing files the way Windows allows, and naming a file relative to the data root. Atomic
// writes and temp-file names are storage/fs/atomic-write.ts's, used by both as they are.
import { promises as fs, type Dirent } from 'node:fs';
import path from 'node:path';

import { describeReceived } from '../checks.js';
import { StoreInputError } from '../errors.js';

/**
 * 20 MiB: JPEGs straight from 12-24 MP phones and cameras are 3-12 MiB, so every real upload fits
 * with room to spare; the cap bounds what one request can make the appliance hold in memory,
 * hash and write, and a 112x112 aligned crop is a few kB, far below it.
 */
export const MAX_IMAGE_BYTES = 20 * 1024 * 1024;

export type ImageFormat = 'jpg' | 'png' | 'webp';
const FORMAT_NAMES: Record<ImageFormat, string> = { jpg: 'JPEG', png: 'PNG', webp: 'WebP' };

// Node's fs.rm retries EBUSY/EPERM/ENOTEMPTY itself when asked: on Windows an indexer or antivirus
// scanner briefly holding a file would otherwise fail a deletion the next attempt completes.
export const RM_OPTIONS = { recursive: true, force: true, maxRetries: 5, retryDelay: 100 } as const;

export function requireImage(bytes: Uint8Array, allowed: readonly ImageFormat[], what: string): ImageFormat {
  const names = allowed.map((format) => FORMAT_NAMES[format]);
  const formats = names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names.at(-1)}` : names.join('');
  const expected = `${formats} bytes (1 to ${MAX_IMAGE_BYTES} bytes) for ${what}`;
  if (!(bytes instanceof Uint8Array))
    throw new StoreInputError(`Expected ${expected} but received ${describeReceived(bytes)}`);
  if (bytes.length === 0 || bytes.length > MAX_IMAGE_BYTES) {
    throw new StoreInputError(`Expected ${expected} but received ${bytes.length} bytes`);
  }
  const format = sniffFormat(bytes);
  if (format === null || !allowed.includes(format)) {
    const seen = format === null ? 'an unrecognised format' : FORMAT_NAMES[format];
    const head = Buffer.from(bytes.subarray(0, 12))
      .toString('hex')
      .replace(/(..)(?!$)/g, '$1 ');
    throw new StoreInputError(`Expected ${expected} but received ${seen} (${bytes.length} bytes starting ${head})`);
  }
  return format;
}

/** The format from the file signature, never from a name or a declared type. */
function sniffFormat(bytes: Uint8Array): ImageFormat | null {
  const starts = (signature: readonly number[], at = 0): boolean =>
    bytes.length >= at + signature.length && signature.every((byte, i) => bytes[at + i] === byte);
  if (starts([0xff, 0xd8, 0xff])) return 'jpg';
  if (starts([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  // RIFF, a 4-byte size, then WEBP.
  if (starts([0x52, 0x49, 0x46, 0x46]) && starts([0x57, 0x45, 0x42, 0x50], 8)) return 'webp';
  return null;
}

/** A folder's entries; a folder not made yet has none. */
export async function listDir(dir: string): Promise<Dirent[]> {
  try {
    return await fs.readdir(dir, { withFileTypes: true });
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return [];
    throw error;
  }
}

/** A path relative to the data root, with forward slashes (portable in reports, events and JSON). */
export function relativeToDataRoot(dataRoot: string, full: string): string {
  return path.relative(dataRoot, full).split(path.sep).join('/');
}

export function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException | undefined)?.code ?? '';
}
