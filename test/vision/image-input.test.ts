// Image input on the real photos in ../shared/faces (read in place) and on broken, hostile and
// edge-case files made in a temporary directory.
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';

import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  DecodeBusyError,
  decodeImage,
  DEFAULT_DECODE_BUDGET_PIXELS,
  encodePng,
  ImageDecodeError,
  MAX_INPUT_BYTES,
  MAX_INPUT_PIXELS,
  setDecodeBudget,
  withDecodedImage,
} from '../../src/vision/image-input.js';
import { FACES_DIR } from '../helpers/shared-data.js';

const FACES = FACES_DIR;
const photo = (name: string) => join(FACES, name);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'facegate-image-input-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function tempFile(name: string, content: Uint8Array | string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}

/** A PNG written by hand, so that the bit depth and colour type are exactly what the test says. */
function handmadePng(
  width: number,
  height: number,
  colorType: 0 | 2 | 4 | 6,
  bitDepth: 8 | 16,
  samples: number[],
): Buffer {
  const channels = { 0: 1, 2: 3, 4: 2, 6: 4 }[colorType];
  const bytesPerSample = bitDepth / 8;
  const chunk = (type: string, data: Buffer): Buffer => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body) >>> 0, body.length + 4);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = bitDepth;
  ihdr[9] = colorType;
  const rowBytes = 1 + width * channels * bytesPerSample;
  const raw = Buffer.alloc(Math.min(height, 64) * rowBytes); // filter byte 0 on each row
  let k = 0;
  for (let y = 0; y < Math.min(height, 64); y++) {
    for (let i = 0; i < width * channels && k < samples.length; i++, k++) {
      const at = y * rowBytes + 1 + i * bytesPerSample;
      if (bitDepth === 16) raw.writeUInt16BE(samples[k] as number, at);
      else raw[at] = samples[k] as number;
    }
  }
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([
    signature,
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

async function expectRefused(input: Uint8Array | string, detail?: RegExp): Promise<ImageDecodeError> {
  const error: unknown = await decodeImage(input).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ImageDecodeError);
  const e = error as ImageDecodeError;
  expect(e.name).toBe('ImageDecodeError');
  expect(e.message.startsWith('corrupted image: ')).toBe(true);
  if (detail) expect(e.message).toMatch(detail);
  return e;
}

describe('decodeImage on the real photos', () => {
  it.each([
    'obama/obama.jpg',
    'obama/obama2.jpg',
    'obama/obama3.jpg',
    'obama/obama-480p.jpg',
    'obama/obama_small.jpg',
    'biden/biden.jpg',
    'biden/biden2.jpg',
    'mixed/two_people.jpg',
  ])('decodes %s to 8-bit RGB at its displayed size', async (name) => {
    const image = await decodeImage(photo(name));
    const meta = await sharp(photo(name)).metadata();
    // Orientations 5-8 swap width and height when applied.
    const swapped = (meta.orientation ?? 1) >= 5;
    expect([image.width, image.height]).toEqual(swapped ? [meta.height, meta.width] : [meta.width, meta.height]);
    expect(image.data).toBeInstanceOf(Uint8Array);
    expect(image.data.length).toBe(image.width * image.height * 3);
  });

  it('decodes the PNG with an alpha channel (32bit.png) to 3 channels, the same picture as obama2.jpg', async () => {
    const png = await decodeImage(photo('mixed/32bit.png'));
    const jpeg = await decodeImage(photo('obama/obama2.jpg'));
    expect([png.width, png.height]).toEqual([626, 1200]);
    expect(png.data.length).toBe(626 * 1200 * 3);
    // Misread channels (RGBA taken as RGB) would differ by ~100 on average; JPEG noise is ~1.4.
    let diff = 0;
    for (let i = 0; i < png.data.length; i++) diff += Math.abs((png.data[i] as number) - (jpeg.data[i] as number));
    expect(diff / png.data.length).toBeLessThan(4);
  });

  it('gives the same pixels from bytes as from the path', async () => {
    const fromPath = await decodeImage(photo('obama/obama_small.jpg'));
    const fromBytes = await decodeImage(await readFile(photo('obama/obama_small.jpg')));
    expect(fromBytes).toEqual(fromPath);
  });
});

describe('decodeImage normalises what it accepts to 8-bit sRGB, 3 channels', () => {
  it('applies the EXIF orientation', async () => {
    // 32 x 16, red on the left half and blue on the right; orientation 6 means "rotate 90 degrees
    // clockwise to display", so the displayed picture is 16 x 32 with red on top.
    const raw = Buffer.alloc(32 * 16 * 3);
    for (let i = 0; i < 32 * 16; i++) raw.set(i % 32 < 16 ? [255, 0, 0] : [0, 0, 255], i * 3);
    const jpeg = await sharp(raw, { raw: { width: 32, height: 16, channels: 3 } })
      .jpeg({ quality: 95 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const image = await decodeImage(jpeg);
    expect([image.width, image.height]).toEqual([16, 32]);
    const at = (x: number, y: number) => Array.from(image.data.subarray((y * 16 + x) * 3, (y * 16 + x) * 3 + 3));
    expect(at(8, 4)[0]).toBeGreaterThan(200);
    expect(at(8, 4)[2]).toBeLessThan(60);
    expect(at(8, 27)[2]).toBeGreaterThan(200);
    expect(at(8, 27)[0]).toBeLessThan(60);
  });

  it('expands a grayscale JPEG to three equal channels', async () => {
    const jpeg = await sharp(Buffer.alloc(16 * 16, 128), { raw: { width: 16, height: 16, channels: 1 } })
      .toColourspace('b-w')
      .jpeg()
      .toBuffer();
    expect((await sharp(jpeg).metadata()).channels).toBe(1);
    const image = await decodeImage(jpeg);
    expect(image.data.length).toBe(16 * 16 * 3);
    for (let i = 0; i < image.data.length; i += 3) {
      expect(Math.abs((image.data[i] as number) - 128)).toBeLessThanOrEqual(1);
      expect(image.data[i + 1]).toBe(image.data[i]);
      expect(image.data[i + 2]).toBe(image.data[i]);
    }
  });

  it('reduces a 16-bit RGB PNG to 8 bits', async () => {
    const png = handmadePng(2, 1, 2, 16, [0, 32896, 65535, 65535, 257 * 10, 0]);
    expect((await sharp(png).metadata()).depth).toBe('ushort');
    const image = await decodeImage(png);
    expect(Array.from(image.data)).toEqual([0, 128, 255, 255, 10, 0]);
  });

  it('drops the alpha of a 16-bit grey + alpha PNG, compositing onto black', async () => {
    // grey 0 opaque, grey 32896 opaque, white fully transparent
    const png = handmadePng(3, 1, 4, 16, [0, 65535, 32896, 65535, 65535, 0]);
    const image = await decodeImage(png);
    expect(Array.from(image.data)).toEqual([0, 0, 0, 128, 128, 128, 0, 0, 0]);
  });

  it('accepts WebP', async () => {
    const webp = await sharp(photo('obama/obama_small.jpg')).webp().toBuffer();
    const image = await decodeImage(await tempFile('small.webp', webp));
    expect([image.width, image.height]).toEqual([320, 240]);
  });
});

describe('decodeImage refuses with ImageDecodeError, never another error', () => {
  it('a zero-byte file', async () => {
    await expectRefused(await tempFile('empty.jpg', new Uint8Array(0)), /0 bytes/);
    await expectRefused(new Uint8Array(0), /0 bytes/);
  });

  it("a truncated JPEG (first half), which sharp's lenient mode would decode", async () => {
    const bytes = await readFile(photo('obama/obama.jpg'));
    const half = bytes.subarray(0, bytes.length >> 1);
    // The fixture really is the dangerous case: with failOn 'none' it decodes to a grey bottom half.
    await expect(sharp(half, { failOn: 'none' }).raw().toBuffer()).resolves.toBeInstanceOf(Buffer);
    await expectRefused(await tempFile('half.jpg', half), /premature end/i);
  });

  it('a JPEG missing only its end marker', async () => {
    const bytes = await readFile(photo('obama/obama_small.jpg'));
    await expectRefused(bytes.subarray(0, bytes.length - 2));
  });

  it('a JPEG with corrupt data in the middle', async () => {
    const bytes = Buffer.from(await readFile(photo('obama/obama.jpg')));
    const mid = bytes.length >> 1;
    for (let i = 0; i < 200; i++) bytes[mid + i] = (i * 37) & 0xff;
    await expectRefused(bytes, /corrupt/i);
  });

  it('a truncated PNG', async () => {
    const bytes = await readFile(photo('mixed/32bit.png'));
    await expectRefused(bytes.subarray(0, bytes.length >> 1));
  });

  it('garbage bytes', async () => {
    const garbage = new Uint8Array(4096);
    for (let i = 0, x = 12345; i < garbage.length; i++) garbage[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
    garbage[0] = 0x00; // make sure the noise does not start with an image signature
    await expectRefused(await tempFile('garbage.jpg', garbage), /unknown format/);
  });

  it('garbage behind a JPEG signature', async () => {
    await expectRefused(Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(1000, 0x41)]), /JPEG/);
  });

  it('a text file named .jpg', async () => {
    await expectRefused(await tempFile('notes.jpg', 'This is not a photo.\r\nIt is a note.\r\n'), /plain text/);
  });

  it('an SVG, even though sharp could render it', async () => {
    const svg =
      '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64" fill="red"/></svg>';
    await expect(sharp(Buffer.from(svg)).raw().toBuffer()).resolves.toBeInstanceOf(Buffer);
    await expectRefused(await tempFile('face.svg', svg), /SVG/);
    await expectRefused(await tempFile('face.jpg', svg), /SVG/);
  });

  it.each(['gif', 'tiff'] as const)('a %s image (readable by sharp, not accepted here)', async (format) => {
    const bytes = await sharp(photo('obama/obama_small.jpg'))[format]().toBuffer();
    await expectRefused(bytes, new RegExp(format === 'gif' ? 'GIF' : 'TIFF'));
  });

  it('a file over the byte limit, without reading it', async () => {
    const path = join(dir, 'huge.jpg');
    await writeFile(path, await readFile(photo('obama/obama_small.jpg')));
    await truncate(path, MAX_INPUT_BYTES + 1); // sparse: the test does not write 30 MiB
    await expectRefused(path, new RegExp(`at most ${MAX_INPUT_BYTES} bytes`));
  });

  it('bytes over the byte limit', async () => {
    const bytes = new Uint8Array(MAX_INPUT_BYTES + 1);
    bytes.set([0xff, 0xd8, 0xff]);
    await expectRefused(bytes, new RegExp(`at most ${MAX_INPUT_BYTES} bytes`));
  });

  it('a pixel bomb: a small PNG declaring a 60 MP canvas', async () => {
    const bomb = handmadePng(10_000, 6_000, 0, 8, []);
    expect(bomb.length).toBeLessThan(100_000);
    await expectRefused(bomb, new RegExp(`at most ${MAX_INPUT_PIXELS} pixels but received 10000 x 6000`));
  });

  it('a path that does not exist, and a directory', async () => {
    await expectRefused(join(dir, 'missing.jpg'), /ENOENT/);
    await expectRefused(dir, /not a regular file|EISDIR/);
  });
});

describe('encodePng', () => {
  it('round-trips an RGB image exactly', async () => {
    const data = new Uint8Array(112 * 112 * 3);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919) % 256;
    const png = await encodePng({ width: 112, height: 112, data });
    expect(Array.from(png.subarray(1, 4), (c) => String.fromCharCode(c)).join('')).toBe('PNG');
    const back = await decodeImage(png);
    expect(back.width).toBe(112);
    expect(Buffer.from(back.data).equals(Buffer.from(data))).toBe(true);
  });

  it('refuses data that does not match the size', async () => {
    await expect(encodePng({ width: 2, height: 2, data: new Uint8Array(11) })).rejects.toThrow(RangeError);
  });
});

describe('decode budget (pixels decoded at once, across callers)', () => {
  const solid = (side: number) =>
    sharp({ create: { width: side, height: side, channels: 3, background: '#456' } })
      .png()
      .toBuffer();

  it('refuses a decode that does not fit beside those in flight, before decoding it, and admits it once they are done', async () => {
    setDecodeBudget(1_000_000);
    try {
      const [a, b] = await Promise.all([solid(800), solid(700)]);
      const inner = await withDecodedImage(a, async (held) => {
        expect(held.width).toBe(800);
        // 0.64 MP held, 0.49 MP more would pass 1 MP: refused with the numbers, not queued.
        const refused = await decodeImage(b).catch((e: unknown) => e);
        expect(refused).toBeInstanceOf(DecodeBusyError);
        expect(refused).not.toBeInstanceOf(ImageDecodeError);
        expect((refused as Error).message).toMatch(
          /at most 1\.0 megapixels decoding at once but 0\.6 are in flight and this image has 0\.5/,
        );
        return 'done';
      });
      expect(inner).toBe('done');
      // Given back when `use` settled: the same image now decodes.
      expect((await decodeImage(b)).width).toBe(700);
      // Given back when `use` threw, too.
      await expect(withDecodedImage(a, () => Promise.reject(new Error('analysis failed')))).rejects.toThrow(
        'analysis failed',
      );
      expect((await decodeImage(b)).width).toBe(700);
    } finally {
      setDecodeBudget(DEFAULT_DECODE_BUDGET_PIXELS);
    }
  });

  it('always admits one image alone, even one larger than the budget', async () => {
    setDecodeBudget(100_000);
    try {
      expect((await decodeImage(await solid(800))).height).toBe(800);
    } finally {
      setDecodeBudget(DEFAULT_DECODE_BUDGET_PIXELS);
    }
  });

  it('leaves room for two images at the per-image limit, and refuses a budget below one pixel', () => {
    expect(DEFAULT_DECODE_BUDGET_PIXELS).toBeGreaterThanOrEqual(2 * MAX_INPUT_PIXELS);
    expect(() => setDecodeBudget(0)).toThrow(/at least 1 pixel/);
    expect(() => setDecodeBudget(Number.NaN)).toThrow(/at least 1 pixel/);
  });
});
