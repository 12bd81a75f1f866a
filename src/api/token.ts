// The HTTP API's bearer token: made on first run, kept in <dataDir>/api-token readable by the
// service account only, and read back on every later start (clients keep working across restarts).
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';

import { writeFileAtomic } from '../../storage/index.js';

export const TOKEN_FILE = 'api-token';

/** 32 random bytes: 256 bits, beyond any guessing; base64url so it fits a header unescaped. */
const TOKEN_BYTES = 32;
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export class TokenFileError extends Error {
  override name = 'TokenFileError';
}

/**
 * The token in `<dataDir>/api-token`, created (mode 0600) when the file does not exist. An
 * existing file that is empty or not a token is refused, never silently replaced: replacing it
 * would lock out every client that holds the old one, and a damaged file deserves a look.
 */
export async function loadOrCreateToken(dataDir: string): Promise<string> {
  const file = path.join(dataDir, TOKEN_FILE);
  let text: string | undefined;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (text !== undefined) {
    const token = text.trim();
    if (!TOKEN_PATTERN.test(token)) {
      const what = token.length === 0 ? 'an empty file' : `${token.length} characters that are not one`;
      throw new TokenFileError(
        `Expected ${file} to hold an API token (43 base64url characters) but it holds ${what}; delete it to have a new token made`,
      );
    }
    return token;
  }
  const token = randomBytes(TOKEN_BYTES).toString('base64url');
  await writeFileAtomic(file, `${token}\n`, { mode: 0o600 });
  // POSIX: owner read/write only. On Windows chmod can only toggle the read-only flag, so this
  // is a no-op there: the file is as private as the data folder's ACL makes it.
  await fs.chmod(file, 0o600);
  return token;
}
