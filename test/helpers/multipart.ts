// A multipart/form-data body written by hand, as a browser or `curl -F` sends it: what the API
// tests post to /users and /identify (a kept library would hide the malformed bodies some of them
// need to send on purpose).
import { randomBytes } from 'node:crypto';

export type Part =
  { name: string; value: string } | { name: string; filename: string; bytes: Uint8Array; type?: string };

export function multipart(
  parts: readonly Part[],
  boundary = `----facegate${randomBytes(8).toString('hex')}`,
): { payload: Buffer; headers: Record<string, string> } {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    if ('value' in part) {
      chunks.push(
        Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"\r\n\r\n${part.value}\r\n`),
      );
    } else {
      chunks.push(
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"; filename="${part.filename}"\r\nContent-Type: ${part.type ?? 'image/jpeg'}\r\n\r\n`,
        ),
        Buffer.from(part.bytes),
        Buffer.from('\r\n'),
      );
    }
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

/** One image in the field /identify reads. */
export function multipartImage(
  filename: string,
  bytes: Uint8Array,
): { payload: Buffer; headers: Record<string, string> } {
  return multipart([{ name: 'image', filename, bytes }]);
}
