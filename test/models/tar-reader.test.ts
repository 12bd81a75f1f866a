// The tar reader that takes a model out of an npm tarball, on tarballs built here: long names, any
// chunking, corrupt and truncated archives.
import { randomBytes } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { tarEntryChunks } from '../../src/models/tar-reader.js';

describe('the tar reader', () => {
  function tarHeader(name: string, size: number, type = '0'): Buffer {
    const h = Buffer.alloc(512);
    h.write(name, 0, 'utf8');
    h.write('0000644\0', 100);
    h.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
    h.write(type, 156);
    h.write('ustar\0' + '00', 257, 'latin1');
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    return h;
  }
  const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
  async function collect(chunks: AsyncIterable<Buffer>): Promise<Buffer> {
    const out: Buffer[] = [];
    for await (const c of chunks) out.push(c);
    return Buffer.concat(out);
  }
  async function* inPieces(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
    for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
    await Promise.resolve();
  }

  it('finds an entry under any top folder, through pax long names, whatever the chunking', async () => {
    const a = randomBytes(1000);
    const b = randomBytes(777);
    const longName = `package/${'deep/'.repeat(30)}b.bin`;
    const body = ` path=${longName}\n`;
    let length = body.length + 1;
    while (String(length).length + body.length !== length) length++;
    const pax = Buffer.from(`${length}${body}`);
    const tar = Buffer.concat([
      tarHeader('package/a.bin', a.length),
      pad(a),
      tarHeader('PaxHeader', pax.length, 'x'),
      pad(pax),
      tarHeader('package/truncated-name', b.length),
      pad(b),
      Buffer.alloc(1024),
    ]);
    for (const piece of [1, 7, 512, 100_000]) {
      expect(await collect(tarEntryChunks(inPieces(tar, piece), 'a.bin'))).toEqual(a);
      expect(await collect(tarEntryChunks(inPieces(tar, piece), `${'deep/'.repeat(30)}b.bin`))).toEqual(b);
    }
  });

  it('refuses a corrupt header and a truncated archive', async () => {
    const a = randomBytes(1000);
    const tar = Buffer.concat([tarHeader('package/a.bin', a.length), pad(a), Buffer.alloc(1024)]);
    const corrupt = Buffer.from(tar);
    corrupt[10] = 0x41;
    await expect(collect(tarEntryChunks(inPieces(corrupt, 4096), 'a.bin'))).rejects.toThrow(/checksum mismatch/);
    await expect(collect(tarEntryChunks(inPieces(tar.subarray(0, 800), 4096), 'a.bin'))).rejects.toThrow(
      /truncated tar archive/,
    );
    await expect(collect(tarEntryChunks(inPieces(tar, 4096), 'b.bin', 'test.tgz'))).rejects.toThrow(
      'test.tgz has no b.bin',
    );
  });
});
