// FsImageStore against the real filesystem, one fresh temp data root per test, with real photos
// from /work/shared/faces as image bytes (read in place, never copied into the repository).
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import pino from 'pino';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { CorruptedImageError, InvalidIdError, StoreInputError } from '../../../storage/errors.js';
import { FsImageStore, MAX_IMAGE_BYTES } from '../../../storage/images/fs-image-store.js';
import type { Logger } from '../../../storage/logger.js';
import { FACES_DIR } from '../../helpers/shared-data.js';

const FACES = FACES_DIR;

let obamaJpg: Buffer;
let obama2Jpg: Buffer;
let alphaPng: Buffer;
/** There is no WebP among the photos: a RIFF/WEBP header with a VP8L chunk tag is what format detection looks at. */
const webp = Buffer.concat([
  Buffer.from('RIFF'),
  Buffer.from([0x24, 0, 0, 0]),
  Buffer.from('WEBPVP8L'),
  Buffer.alloc(28, 7),
]);

beforeAll(async () => {
  [obamaJpg, obama2Jpg, alphaPng] = await Promise.all([
    fs.readFile(path.join(FACES, 'obama', 'obama.jpg')),
    fs.readFile(path.join(FACES, 'obama', 'obama2.jpg')),
    fs.readFile(path.join(FACES, 'mixed', '32bit.png')),
  ]);
});

let tmp: string;
let root: string;

beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'facegate-images-'));
  // The data root sits one level down, so anything escaping it ("../x") would still land in tmp and be seen.
  root = path.join(tmp, 'root');
});

afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

function recordingLogger(): { logger: Logger; warnings: Record<string, unknown>[] } {
  const warnings: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'warn' },
    {
      write: (line: string) => {
        warnings.push(JSON.parse(line) as Record<string, unknown>);
      },
    },
  );
  return { logger, warnings };
}

/** Every file under `dir`, relative, with forward slashes, sorted. */
async function filesUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  async function walk(current: string): Promise<void> {
    let entries;
    try {
      entries = await fs.readdir(current, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const entry of entries) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) await walk(full);
      else found.push(path.relative(dir, full).split(path.sep).join('/'));
    }
  }
  await walk(dir);
  return found.sort();
}

/** Compared by digest: a deep equality over a photo's hundreds of thousands of bytes takes seconds. */
function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function userPath(...parts: string[]): string {
  return path.join(root, 'images', 'users', ...parts);
}

async function readJson(file: string): Promise<Record<string, unknown>> {
  return JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>;
}

describe('FsImageStore keeps user images in the LLD layout', () => {
  it('stores originals, aligned crops and metadata.json exactly where the LLD says', async () => {
    const store = new FsImageStore(root);
    const first = await store.saveOriginal('U123', obamaJpg);
    const second = await store.saveOriginal('U123', alphaPng);
    const face = await store.saveAligned('U123', alphaPng);

    expect([first.file, second.file, face.file]).toEqual(['img_001.jpg', 'img_002.png', 'face_001.png']);
    expect(await filesUnder(tmp)).toEqual([
      'root/images/users/U123/aligned/face_001.png',
      'root/images/users/U123/metadata.json',
      'root/images/users/U123/original/img_001.jpg',
      'root/images/users/U123/original/img_002.png',
    ]);
    expect(sha256(await fs.readFile(userPath('U123', 'original', 'img_001.jpg')))).toBe(sha256(obamaJpg));
    expect(sha256(await fs.readFile(userPath('U123', 'aligned', 'face_001.png')))).toBe(sha256(alphaPng));
    expect(await store.listUsers()).toEqual(['U123']);
  });

  it('writes the LLD keys of the latest image and every image with its sha256 into metadata.json', async () => {
    const store = new FsImageStore(root);
    await store.saveOriginal('U123', obamaJpg, {
      cameraId: 'cam_01',
      qualityScore: 0.5,
      createdAt: new Date('2024-01-02T03:04:05.006Z'),
    });
    const latest = await store.saveAligned('U123', alphaPng, {
      cameraId: 'cam_02',
      qualityScore: 0.87,
      createdAt: new Date('2024-01-03T00:00:00.000Z'),
    });

    const onDisk = await readJson(userPath('U123', 'metadata.json'));
    expect(Object.keys(onDisk).sort()).toEqual([
      'camera_id',
      'created_at',
      'images',
      'kept_originals',
      'quality_score',
    ]);
    expect(onDisk).toEqual({
      created_at: '2024-01-03T00:00:00.000Z',
      camera_id: 'cam_02',
      quality_score: 0.87,
      images: [
        {
          kind: 'original',
          file: 'img_001.jpg',
          sha256: sha256(obamaJpg),
          bytes: obamaJpg.length,
          createdAt: '2024-01-02T03:04:05.006Z',
          cameraId: 'cam_01',
          qualityScore: 0.5,
        },
        {
          kind: 'aligned',
          file: 'face_001.png',
          sha256: sha256(alphaPng),
          bytes: alphaPng.length,
          createdAt: '2024-01-03T00:00:00.000Z',
          cameraId: 'cam_02',
          qualityScore: 0.87,
        },
      ],
      kept_originals: [],
    });
    expect(latest).toEqual((onDisk.images as unknown[])[1]);
    expect(await store.readMetadata('U123')).toEqual(onDisk);
    expect(await store.readMetadata('U999')).toBeNull();
  });

  it('names originals by the format in their bytes: JPEG .jpg, PNG .png, WebP .webp', async () => {
    const store = new FsImageStore(root);
    const names = [];
    for (const bytes of [obamaJpg, alphaPng, webp]) names.push((await store.saveOriginal('U1', bytes)).file);
    expect(names).toEqual(['img_001.jpg', 'img_002.png', 'img_003.webp']);
    expect(sha256(await store.readUserImage('U1', 'original', 'img_003.webp'))).toBe(sha256(webp));
  });

  it('continues numbering after the highest existing file, with more digits past 999', async () => {
    const store = new FsImageStore(root);
    await fs.mkdir(userPath('U1', 'original'), { recursive: true });
    await fs.mkdir(userPath('U1', 'aligned'), { recursive: true });
    await fs.writeFile(userPath('U1', 'original', 'img_001.jpg'), obamaJpg);
    await fs.writeFile(userPath('U1', 'original', 'img_007.png'), alphaPng);
    await fs.writeFile(userPath('U1', 'aligned', 'face_999.png'), alphaPng);

    expect((await store.saveOriginal('U1', obama2Jpg)).file).toBe('img_008.jpg');
    expect((await store.saveAligned('U1', alphaPng)).file).toBe('face_1000.png');
    expect((await store.saveAligned('U1', alphaPng)).file).toBe('face_1001.png');
    expect((await store.readMetadata('U1'))?.images.map((image) => image.file)).toEqual([
      'img_008.jpg',
      'face_1000.png',
      'face_1001.png',
    ]);
  });
  it('never reuses the name of a recorded image that went missing', async () => {
    const store = new FsImageStore(root);
    await store.saveAligned('U1', alphaPng);
    await store.saveAligned('U1', alphaPng);
    await fs.rm(userPath('U1', 'aligned', 'face_002.png'));

    expect((await store.saveAligned('U1', alphaPng)).file).toBe('face_003.png');
    expect((await store.scanUser('U1')).corrupted.map((image) => [image.file, image.reason])).toEqual([
      ['face_002.png', 'missing'],
    ]);
  });
});

describe('FsImageStore refuses bad input with expected and received', () => {
  it('refuses originals that are not JPEG, PNG or WebP, empty, or over 20 MiB, and writes nothing', async () => {
    const store = new FsImageStore(root);
    const gif = Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1');
    await expect(store.saveOriginal('U1', gif)).rejects.toThrow(
      'Expected JPEG, PNG or WebP bytes (1 to 20971520 bytes) for an original image ' +
        'but received an unrecognised format (10 bytes starting 47 49 46 38 39 61 01 00 01 00)',
    );
    await expect(store.saveOriginal('U1', Buffer.from('<html>hello</html>'))).rejects.toBeInstanceOf(StoreInputError);
    await expect(store.saveOriginal('U1', new Uint8Array(0))).rejects.toThrow(/but received 0 bytes$/);
    // A RIFF container that is not WebP (a WAV file) is not an image.
    await expect(store.saveOriginal('U1', Buffer.from('RIFF\x24\x00\x00\x00WAVEfmt ', 'latin1'))).rejects.toThrow(
      /received an unrecognised format/,
    );

    const tooBig = Buffer.alloc(MAX_IMAGE_BYTES + 1);
    obamaJpg.copy(tooBig, 0, 0, 1024);
    await expect(store.saveOriginal('U1', tooBig)).rejects.toThrow(/but received 20971521 bytes$/);
    expect(await filesUnder(tmp)).toEqual([]);

    expect((await store.saveOriginal('U1', tooBig.subarray(0, MAX_IMAGE_BYTES))).bytes).toBe(20 * 1024 * 1024);
  });

  it('accepts only PNG for aligned crops and unknown faces', async () => {
    const store = new FsImageStore(root);
    await expect(store.saveAligned('U1', obamaJpg)).rejects.toThrow(
      /^Expected PNG bytes .* for an aligned face crop but received JPEG \(\d+ bytes starting ff d8 ff/,
    );
    await expect(store.saveUnknown('cam_01', webp)).rejects.toThrow(/for an unknown face crop but received WebP/);
    expect(await filesUnder(tmp)).toEqual([]);
  });

  it('refuses quality scores outside 0..1, bad camera ids and invalid dates in image info', async () => {
    const store = new FsImageStore(root);
    await expect(store.saveAligned('U1', alphaPng, { qualityScore: 1.2 })).rejects.toThrow(
      /Expected qualityScore between 0 and 1 \(or null\) but received 1.2 of type number/,
    );
    await expect(store.saveAligned('U1', alphaPng, { qualityScore: Number.NaN })).rejects.toBeInstanceOf(
      StoreInputError,
    );
    await expect(store.saveAligned('U1', alphaPng, { cameraId: 'cam:1' })).rejects.toBeInstanceOf(InvalidIdError);
    await expect(store.saveAligned('U1', alphaPng, { createdAt: new Date('nope') })).rejects.toThrow(
      /Expected createdAt to be a valid Date .* but received an invalid Date/,
    );
    await expect(store.saveUnknown('cam_01', alphaPng, new Date(Date.UTC(10_000, 0, 1)))).rejects.toBeInstanceOf(
      StoreInputError,
    );
    expect(await filesUnder(tmp)).toEqual([]);
  });

  const hostile = ['../x', '..', 'CON', 'nul.txt', 'a:b', 'a/b', 'a\\b', '.hidden', 'x'.repeat(10_000), ''];

  it.each(hostile.map((id) => [id.length > 20 ? `${id.slice(0, 5)}... (${id.length} chars)` : JSON.stringify(id), id]))(
    'rejects hostile ids %s everywhere and touches no path',
    async (_label, id) => {
      const store = new FsImageStore(root);
      const calls: Array<() => Promise<unknown>> = [
        () => store.saveOriginal(id, obamaJpg),
        () => store.saveAligned(id, alphaPng),
        () => store.readUserImage(id, 'original', 'img_001.jpg'),
        () => store.scanUser(id),
        () => store.readMetadata(id),
        () => store.removeUser(id, { includeOriginals: true }),
        () => store.saveUnknown(id, alphaPng),
        () => store.saveOriginal('U1', obamaJpg, { cameraId: id }),
      ];
      for (const call of calls) await expect(call()).rejects.toBeInstanceOf(InvalidIdError);
      expect(await fs.readdir(tmp)).toEqual([]);
    },
  );

  it('refuses file names that could leave the image folder, and names that are not recorded', async () => {
    const store = new FsImageStore(root);
    await store.saveOriginal('U1', obamaJpg);
    for (const file of [
      '../metadata.json',
      '..\\metadata.json',
      'img_001.jpg/../../x',
      '/etc/passwd',
      'C:\\x',
      '',
      'img_1.jpg',
    ]) {
      await expect(store.readUserImage('U1', 'original', file)).rejects.toThrow(
        /^Expected an original file name like img_001\.jpg but received /,
      );
    }
    await expect(store.readUserImage('U1', 'aligned', 'img_001.jpg')).rejects.toBeInstanceOf(StoreInputError);
    await expect(store.readUserImage('U1', 'original', 'img_002.jpg')).rejects.toThrow(
      /"img_002.jpg", which is not recorded/,
    );
    await expect(store.readUserImage('U2', 'original', 'img_001.jpg')).rejects.toBeInstanceOf(StoreInputError);
    expect(sha256(await store.readUserImage('U1', 'original', 'img_001.jpg'))).toBe(sha256(obamaJpg));
  });
});

describe('FsImageStore logs and skips corrupted images', () => {
  it('reports a truncated image and skips it, once per scan', async () => {
    const { logger, warnings } = recordingLogger();
    const store = new FsImageStore(root, logger);
    await store.saveAligned('U1', alphaPng);
    await store.saveAligned('U1', alphaPng);
    await fs.truncate(userPath('U1', 'aligned', 'face_001.png'), 100);

    const scan = await store.scanUser('U1');
    expect(scan.ok.map((image) => image.file)).toEqual(['face_002.png']);
    expect(scan.corrupted).toEqual([
      { userId: 'U1', kind: 'aligned', file: 'face_001.png', reason: `truncated: 100 of ${alphaPng.length} bytes` },
    ]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({
      level: 40,
      userId: 'U1',
      file: 'face_001.png',
      msg: 'corrupted image skipped',
    });
    expect(store.corruptedCount()).toBe(1);

    await store.scanUser('U1');
    expect(warnings).toHaveLength(2);
    expect(store.corruptedCount()).toBe(2);
  });

  it('refuses to read a truncated, overwritten or missing image, naming the file and the reason', async () => {
    const { logger, warnings } = recordingLogger();
    const store = new FsImageStore(root, logger);
    for (let i = 0; i < 4; i++) await store.saveAligned('U1', alphaPng);
    const aligned = (file: string): string => userPath('U1', 'aligned', file);
    await fs.writeFile(aligned('face_001.png'), alphaPng.subarray(0, alphaPng.length - 1));
    const flipped = Buffer.from(alphaPng);
    flipped[5000] = (flipped[5000] ?? 0) ^ 0xff;
    await fs.writeFile(aligned('face_002.png'), flipped);
    await fs.rm(aligned('face_003.png'));

    await expect(store.readUserImage('U1', 'aligned', 'face_001.png')).rejects.toThrow(
      new CorruptedImageError(
        `Image aligned/face_001.png of user U1 is corrupted: truncated: ${alphaPng.length - 1} of ${alphaPng.length} bytes`,
      ),
    );
    await expect(store.readUserImage('U1', 'aligned', 'face_002.png')).rejects.toThrow(
      `Image aligned/face_002.png of user U1 is corrupted: sha256 mismatch: ${sha256(flipped)}, ${sha256(alphaPng)} recorded`,
    );
    await expect(store.readUserImage('U1', 'aligned', 'face_003.png')).rejects.toThrow(
      /^Image aligned\/face_003.png of user U1 is corrupted: missing$/,
    );
    expect(sha256(await store.readUserImage('U1', 'aligned', 'face_004.png'))).toBe(sha256(alphaPng));
    expect(store.corruptedCount()).toBe(3);
    expect(warnings.map((warning) => warning.file)).toEqual(['face_001.png', 'face_002.png', 'face_003.png']);

    const scan = await store.scanUser('U1');
    expect(scan.ok.map((image) => image.file)).toEqual(['face_004.png']);
    expect(scan.corrupted.map((image) => [image.file, image.reason.split(':')[0]])).toEqual([
      ['face_001.png', 'truncated'],
      ['face_002.png', 'sha256 mismatch'],
      ['face_003.png', 'missing'],
    ]);
  });

  it('trusts no image while metadata.json is unreadable, and rebuilds it from the files on the next save', async () => {
    const { logger, warnings } = recordingLogger();
    const store = new FsImageStore(root, logger);
    await store.saveOriginal('U1', obamaJpg, { cameraId: 'cam_01' });
    await store.saveAligned('U1', alphaPng);
    await fs.writeFile(userPath('U1', 'metadata.json'), '{"created_at": "2024-01-0');

    const scan = await store.scanUser('U1');
    expect(scan).toEqual({
      ok: [],
      corrupted: [
        { userId: 'U1', kind: 'original', file: 'img_001.jpg', reason: 'metadata.json unreadable' },
        { userId: 'U1', kind: 'aligned', file: 'face_001.png', reason: 'metadata.json unreadable' },
      ],
    });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ userId: 'U1', file: 'metadata.json' });
    expect(String(warnings[0]?.reason)).toMatch(/^not JSON/);
    expect(store.corruptedCount()).toBe(1);
    await expect(store.readMetadata('U1')).rejects.toBeInstanceOf(CorruptedImageError);
    await expect(store.readUserImage('U1', 'original', 'img_001.jpg')).rejects.toThrow(
      /^Cannot verify original\/img_001.jpg of user U1: metadata.json unreadable \(not JSON/,
    );

    expect((await store.saveAligned('U1', alphaPng)).file).toBe('face_002.png');
    const rebuilt = await store.readMetadata('U1');
    expect(rebuilt?.images.map((image) => [image.file, image.sha256, image.bytes, image.cameraId])).toEqual([
      ['img_001.jpg', sha256(obamaJpg), obamaJpg.length, null],
      ['face_001.png', sha256(alphaPng), alphaPng.length, null],
      ['face_002.png', sha256(alphaPng), alphaPng.length, null],
    ]);
    expect((await store.scanUser('U1')).corrupted).toEqual([]);
  });

  it.each([
    ['a field of the wrong type', () => ({ created_at: 1, camera_id: null, quality_score: null, images: [] })],
    [
      'an image pointing outside its folder',
      () => ({
        created_at: '2024-01-01T00:00:00.000Z',
        camera_id: null,
        quality_score: null,
        images: [
          {
            kind: 'original',
            file: '../../../../outside.jpg',
            sha256: sha256(obamaJpg),
            bytes: obamaJpg.length,
            createdAt: '2024-01-01T00:00:00.000Z',
            cameraId: null,
            qualityScore: null,
          },
        ],
      }),
    ],
  ])('treats metadata.json with %s as unreadable', async (_label, metadata) => {
    const { logger, warnings } = recordingLogger();
    const store = new FsImageStore(root, logger);
    await store.saveOriginal('U1', obamaJpg);
    await fs.writeFile(userPath('U1', 'metadata.json'), JSON.stringify(metadata()));

    const scan = await store.scanUser('U1');
    expect(scan.ok).toEqual([]);
    expect(scan.corrupted.map((image) => image.file)).toEqual(['img_001.jpg']);
    expect(String(warnings[0]?.reason)).toMatch(/^wrong shape \(/);
    await expect(store.readMetadata('U1')).rejects.toThrow(/^metadata.json of user U1 is unreadable: wrong shape/);
  });

  it('reads a metadata.json saved by Notepad, with a byte-order mark and CRLF line endings', async () => {
    const store = new FsImageStore(root);
    await store.saveOriginal('U1', obamaJpg);
    const file = userPath('U1', 'metadata.json');
    await fs.writeFile(file, `\uFEFF${(await fs.readFile(file, 'utf8')).replace(/\n/g, '\r\n')}`);

    expect((await store.readMetadata('U1'))?.images.map((image) => image.file)).toEqual(['img_001.jpg']);
    expect((await store.scanUser('U1')).ok).toHaveLength(1);
    expect(store.corruptedCount()).toBe(0);
  });
});

describe('FsImageStore removes users', () => {
  it('keeps originals when a user is deleted', async () => {
    const store = new FsImageStore(root);
    await store.saveOriginal('U1', obamaJpg, { cameraId: 'cam_01', qualityScore: 0.9 });
    await store.saveOriginal('U1', obama2Jpg, { cameraId: 'cam_02', qualityScore: 0.8 });
    await store.saveAligned('U1', alphaPng, { cameraId: 'cam_03', qualityScore: 0.7 });
    await store.saveAligned('U1', alphaPng);

    await store.markOriginalsKept('U1');
    await store.removeUser('U1', { includeOriginals: false });

    expect(await filesUnder(userPath('U1'))).toEqual(['metadata.json', 'original/img_001.jpg', 'original/img_002.jpg']);
    expect(sha256(await fs.readFile(userPath('U1', 'original', 'img_001.jpg')))).toBe(sha256(obamaJpg));
    expect(sha256(await fs.readFile(userPath('U1', 'original', 'img_002.jpg')))).toBe(sha256(obama2Jpg));
    const metadata = await store.readMetadata('U1');
    expect(metadata?.images.map((image) => image.file)).toEqual(['img_001.jpg', 'img_002.jpg']);
    expect([metadata?.camera_id, metadata?.quality_score]).toEqual(['cam_02', 0.8]);
    expect(await store.listUsers()).toEqual(['U1']);
    expect((await store.scanUser('U1')).ok).toHaveLength(2);
    // Re-enrolling after deletion starts aligned crops afresh; originals keep counting.
    expect((await store.saveAligned('U1', alphaPng)).file).toBe('face_001.png');
    expect((await store.saveOriginal('U1', obamaJpg)).file).toBe('img_003.jpg');
  });

  it('removes the whole user folder on an explicit purge with includeOriginals', async () => {
    const store = new FsImageStore(root);
    await store.saveOriginal('U1', obamaJpg);
    await store.saveAligned('U1', alphaPng);
    await store.saveOriginal('U2', obamaJpg);

    await store.removeUser('U1', { includeOriginals: true });

    expect(await filesUnder(path.join(root, 'images'))).toEqual([
      'users/U2/metadata.json',
      'users/U2/original/img_001.jpg',
    ]);
    expect(await store.listUsers()).toEqual(['U2']);
    expect(await store.readMetadata('U1')).toBeNull();
  });

  it('removes the folder of a user who only had aligned crops, and accepts removing an unknown user', async () => {
    const store = new FsImageStore(root);
    await store.saveAligned('U1', alphaPng);
    await store.removeUser('U1', { includeOriginals: false });
    expect(await store.listUsers()).toEqual([]);
    await expect(fs.stat(userPath('U1'))).rejects.toMatchObject({ code: 'ENOENT' });

    await expect(store.removeUser('U404', { includeOriginals: false })).resolves.toBeUndefined();
    await expect(store.removeUser('U404', { includeOriginals: true })).resolves.toBeUndefined();
  });

  it('refuses a removal whose includeOriginals is not a boolean', async () => {
    const store = new FsImageStore(root);
    await store.saveOriginal('U1', obamaJpg);
    const loose = { includeOriginals: 'yes' } as unknown as { includeOriginals: boolean };
    await expect(store.removeUser('U1', loose)).rejects.toThrow(
      /^Expected options.includeOriginals to be true or false but received "yes"$/,
    );
    expect(await filesUnder(userPath('U1'))).toEqual(['metadata.json', 'original/img_001.jpg']);
  });

  it('lists users with valid ids only', async () => {
    const store = new FsImageStore(root);
    await store.saveAligned('U2', alphaPng);
    await store.saveAligned('U1', alphaPng);
    await fs.mkdir(userPath('a b'));
    await fs.mkdir(userPath('.trash'));
    await fs.writeFile(userPath('U3'), 'a file, not a user folder');
    expect(await store.listUsers()).toEqual(['U1', 'U2']);
  });
});

describe('FsImageStore under concurrency and crashes', () => {
  it('numbers concurrent saves without collisions', async () => {
    const store = new FsImageStore(root);
    const [aligned, originals] = await Promise.all([
      Promise.all(Array.from({ length: 20 }, (_, i) => store.saveAligned('U1', alphaPng, { qualityScore: i / 20 }))),
      Promise.all(Array.from({ length: 5 }, () => store.saveOriginal('U1', obamaJpg))),
    ]);

    const expectedFaces = Array.from({ length: 20 }, (_, i) => `face_${String(i + 1).padStart(3, '0')}.png`);
    expect(aligned.map((image) => image.file).sort()).toEqual(expectedFaces);
    expect(originals.map((image) => image.file).sort()).toEqual([
      'img_001.jpg',
      'img_002.jpg',
      'img_003.jpg',
      'img_004.jpg',
      'img_005.jpg',
    ]);
    expect((await fs.readdir(userPath('U1', 'aligned'))).sort()).toEqual(expectedFaces);
    const metadata = await store.readMetadata('U1');
    expect(metadata?.images).toHaveLength(25);
    expect(new Set(metadata?.images.map((image) => image.file)).size).toBe(25);
    expect((await store.scanUser('U1')).ok).toHaveLength(25);
  });

  it('never leaves a temp file behind, even when a write fails', async () => {
    const store = new FsImageStore(root);
    await Promise.all([
      ...Array.from({ length: 10 }, () => store.saveAligned('U1', alphaPng)),
      ...Array.from({ length: 5 }, () => store.saveUnknown('cam_01', alphaPng, new Date('2024-05-06T07:08:09.010Z'))),
      store.saveOriginal('U2', obamaJpg),
    ]);
    await expect(store.saveOriginal('U1', Buffer.from('not an image'))).rejects.toBeInstanceOf(StoreInputError);
    await store.markOriginalsKept('U2');
    await store.removeUser('U2', { includeOriginals: false });
    // A folder where metadata.json should be: the image is written, then the metadata rename fails.
    await store.saveOriginal('U3', obamaJpg);
    await fs.rm(userPath('U3', 'metadata.json'));
    await fs.mkdir(userPath('U3', 'metadata.json'));
    await expect(store.saveAligned('U3', alphaPng)).rejects.toThrow();

    const files = await filesUnder(tmp);
    expect(files.filter((file) => path.basename(file).startsWith('.') || file.endsWith('.tmp'))).toEqual([]);
    expect(files).toHaveLength(10 + 1 + 5 + 1 + 2 + 1);
  });

  it('ignores temp files left by a crash: never listed, numbered or counted', async () => {
    const store = new FsImageStore(root);
    await fs.mkdir(userPath('U1', 'aligned'), { recursive: true });
    await fs.writeFile(userPath('U1', 'aligned', '.face_005.png.0a1b2c3d4e5f.tmp'), alphaPng.subarray(0, 10));
    const oldDay = path.join(root, 'images', 'unknown', '2020-01-01');
    await fs.mkdir(oldDay, { recursive: true });
    await fs.writeFile(path.join(oldDay, '.cam_01_000000000.png.0a1b2c3d4e5f.tmp'), 'partial');
    await fs.writeFile(path.join(oldDay, 'cam_01_000000000.png'), alphaPng);

    expect((await store.saveAligned('U1', alphaPng)).file).toBe('face_001.png');
    expect((await store.scanUser('U1')).ok.map((image) => image.file)).toEqual(['face_001.png']);
    expect(await store.purgeUnknown(30, new Date('2024-01-01T00:00:00Z'))).toEqual({
      removedDates: ['2020-01-01'],
      removedFiles: 1,
    });
  });
});

describe('FsImageStore keeps unknown faces by UTC date', () => {
  it('names unknown faces {camera}_{HHmmssSSS}.png in their UTC date folder, with no colon', async () => {
    const store = new FsImageStore(root);
    // 23:59:59.999 at UTC-2 is already the next day in UTC.
    const saved = await store.saveUnknown('cam_01', alphaPng, new Date('2024-05-06T23:59:59.999-02:00'));

    expect(saved).toEqual({
      date: '2024-05-07',
      file: 'cam_01_015959999.png',
      relativePath: 'images/unknown/2024-05-07/cam_01_015959999.png',
    });
    expect(await filesUnder(root)).toEqual(['images/unknown/2024-05-07/cam_01_015959999.png']);
    expect(sha256(await fs.readFile(path.join(root, ...saved.relativePath.split('/'))))).toBe(sha256(alphaPng));
    expect(saved.file).toMatch(/^cam_01_\d{9}\.png$/);
    expect(saved.file).not.toContain(':');
  });

  it('adds _2, _3 when a camera saves twice in one millisecond', async () => {
    const store = new FsImageStore(root);
    const at = new Date('2024-05-06T07:08:09.010Z');
    const saved = await Promise.all([1, 2, 3].map(() => store.saveUnknown('cam_01', alphaPng, at)));
    const other = await store.saveUnknown('cam_02', alphaPng, at);

    expect(saved.map((image) => image.file).sort()).toEqual([
      'cam_01_070809010.png',
      'cam_01_070809010_2.png',
      'cam_01_070809010_3.png',
    ]);
    expect(other.file).toBe('cam_02_070809010.png');
    expect(await fs.readdir(path.join(root, 'images', 'unknown', '2024-05-06'))).toHaveLength(4);
  });

  it('purges whole unknown date folders older than N days and keeps the rest', async () => {
    const store = new FsImageStore(root);
    const save = (iso: string): Promise<unknown> => store.saveUnknown('cam_01', alphaPng, new Date(iso));
    await save('2024-02-28T10:00:00.000Z');
    await save('2024-02-28T11:00:00.000Z');
    await save('2024-03-02T23:59:59.999Z');
    await save('2024-03-03T00:00:00.000Z');
    await save('2024-03-10T08:00:00.000Z');
    const unknown = path.join(root, 'images', 'unknown');
    await fs.mkdir(path.join(unknown, 'not-a-date'));
    await fs.writeFile(path.join(unknown, 'not-a-date', 'keep.png'), alphaPng);
    await fs.mkdir(path.join(unknown, '2024-02-30'));
    expect(await store.listUnknownDates()).toEqual(['2024-02-28', '2024-03-02', '2024-03-03', '2024-03-10']);

    // 7 days before 2024-03-10 is 2024-03-03: strictly older folders go, that day stays.
    const result = await store.purgeUnknown(7, new Date('2024-03-10T12:00:00.000Z'));

    expect(result).toEqual({ removedDates: ['2024-02-28', '2024-03-02'], removedFiles: 3 });
    expect((await fs.readdir(unknown)).sort()).toEqual(['2024-02-30', '2024-03-03', '2024-03-10', 'not-a-date']);
    expect(sha256(await fs.readFile(path.join(unknown, 'not-a-date', 'keep.png')))).toBe(sha256(alphaPng));
    expect(await store.purgeUnknown(7, new Date('2024-03-10T12:00:00.000Z'))).toEqual({
      removedDates: [],
      removedFiles: 0,
    });
  });

  it('purges every day before today with 0 days, and refuses a retention that is not a whole number of days', async () => {
    const store = new FsImageStore(root);
    await store.saveUnknown('cam_01', alphaPng, new Date('2024-03-09T23:59:59.999Z'));
    await store.saveUnknown('cam_01', alphaPng, new Date('2024-03-10T00:00:00.000Z'));
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      await expect(store.purgeUnknown(bad, new Date('2024-03-10T12:00:00Z'))).rejects.toThrow(
        new StoreInputError(`Expected olderThanDays to be an integer >= 0 but received ${String(bad)} of type number`),
      );
    }
    await expect(store.purgeUnknown('7' as unknown as number)).rejects.toThrow(/but received "7"$/);
    expect(await store.listUnknownDates()).toEqual(['2024-03-09', '2024-03-10']);

    expect(await store.purgeUnknown(0, new Date('2024-03-10T00:00:00.000Z'))).toEqual({
      removedDates: ['2024-03-09'],
      removedFiles: 1,
    });
    expect(await store.purgeUnknown(Number.MAX_SAFE_INTEGER, new Date('2024-03-10T00:00:00.000Z'))).toEqual({
      removedDates: [],
      removedFiles: 0,
    });
    expect(await store.listUnknownDates()).toEqual(['2024-03-10']);
  });
});

describe('FsImageStore removes what crashes left (sweepLeftovers)', () => {
  it('removes the originals of a failed re-enrollment and keeps those recorded as kept at deletion', async () => {
    const store = new FsImageStore(root);
    await store.saveOriginal('U1', obamaJpg);
    await store.saveAligned('U1', alphaPng);
    await store.markOriginalsKept('U1');
    await store.removeUser('U1', { includeOriginals: false });
    // The same id enrolled again, and that enrollment fails: its new original is nobody's.
    await store.saveOriginal('U1', obama2Jpg);
    await store.saveAligned('U1', alphaPng);
    await store.removeUser('U1', { includeOriginals: false });

    expect(await filesUnder(userPath('U1'))).toEqual(['metadata.json', 'original/img_001.jpg']);
    expect(await store.readMetadata('U1')).toMatchObject({ kept_originals: ['img_001.jpg'] });
  });

  it('keeps what a committed user records and removes unlisted files and temp files', async () => {
    const store = new FsImageStore(root);
    await store.saveOriginal('U1', obamaJpg);
    await store.saveAligned('U1', alphaPng);
    // A crash between an image's rename and its record, and one inside an atomic write.
    await fs.writeFile(userPath('U1', 'aligned', 'face_002.png'), alphaPng);
    await fs.writeFile(userPath('U1', 'original', 'img_002.jpg'), obamaJpg);
    await fs.writeFile(userPath('U1', 'original', '.img_003.jpg.0a1b2c3d4e5f.tmp'), obamaJpg.subarray(0, 100));
    await fs.writeFile(userPath('U1', '.metadata.json.0a1b2c3d4e5f.tmp'), '{');

    const report = await store.sweepLeftovers(['u1']);

    expect(report.removed.sort()).toEqual([
      'images/users/U1/.metadata.json.0a1b2c3d4e5f.tmp',
      'images/users/U1/aligned/face_002.png',
      'images/users/U1/original/.img_003.jpg.0a1b2c3d4e5f.tmp',
      'images/users/U1/original/img_002.jpg',
    ]);
    expect(report.removedFolders).toEqual([]);
    expect(await filesUnder(userPath('U1'))).toEqual(['aligned/face_001.png', 'metadata.json', 'original/img_001.jpg']);
    expect((await store.scanUser('U1')).ok).toHaveLength(2);
  });

  it('removes the whole folder of an enrollment that never committed, originals included', async () => {
    const store = new FsImageStore(root);
    await store.saveOriginal('ghost', obamaJpg);
    await store.saveAligned('ghost', alphaPng);
    // Cut before its first record: files only.
    await fs.mkdir(userPath('ghost2', 'aligned'), { recursive: true });
    await fs.writeFile(userPath('ghost2', 'aligned', 'face_001.png'), alphaPng);

    const report = await store.sweepLeftovers([]);

    expect(report.removedFolders.sort()).toEqual(['images/users/ghost', 'images/users/ghost2']);
    expect(await store.listUsers()).toEqual([]);
  });

  it("keeps a deleted user's kept originals, and removes crops and originals of a re-enrollment that never committed", async () => {
    const store = new FsImageStore(root);
    await store.saveOriginal('U1', obamaJpg);
    await store.saveAligned('U1', alphaPng);
    await store.markOriginalsKept('U1');
    await store.removeUser('U1', { includeOriginals: false });
    await store.saveOriginal('U1', obama2Jpg);
    await store.saveAligned('U1', alphaPng);

    const report = await store.sweepLeftovers([]);

    expect(report.removed.sort()).toEqual([
      'images/users/U1/aligned/face_001.png',
      'images/users/U1/original/img_002.jpg',
    ]);
    expect(await filesUnder(userPath('U1'))).toEqual(['metadata.json', 'original/img_001.jpg']);
    expect((await store.readMetadata('U1'))?.images.map((image) => image.file)).toEqual(['img_001.jpg']);
    // Run again: nothing left to do.
    expect(await store.sweepLeftovers([])).toEqual({ removed: [], removedFolders: [], untouched: [] });
  });

  it('keeps the originals of a record written before kept_originals existed (a user deleted then)', async () => {
    const store = new FsImageStore(root);
    await store.saveOriginal('old', obamaJpg);
    await store.saveAligned('old', alphaPng);
    const record = await readJson(userPath('old', 'metadata.json'));
    delete record.kept_originals;
    await fs.writeFile(userPath('old', 'metadata.json'), JSON.stringify(record));

    await store.sweepLeftovers([]);

    expect(await filesUnder(userPath('old'))).toEqual(['metadata.json', 'original/img_001.jpg']);
  });

  it('leaves a folder whose metadata.json is unreadable untouched, and says so', async () => {
    const store = new FsImageStore(root);
    await store.saveOriginal('U1', obamaJpg);
    await fs.writeFile(userPath('U1', 'metadata.json'), 'not json');

    const report = await store.sweepLeftovers([]);

    expect(report.untouched).toEqual([
      { path: 'images/users/U1', reason: expect.stringMatching(/^metadata.json unreadable/) as string },
    ]);
    expect(await filesUnder(userPath('U1'))).toEqual(['metadata.json', 'original/img_001.jpg']);
  });

  it('removes temp files from unknown date folders and keeps the crops', async () => {
    const store = new FsImageStore(root);
    const saved = await store.saveUnknown('cam_01', alphaPng, new Date('2024-05-06T07:08:09.010Z'));
    const day = path.join(root, 'images', 'unknown', '2024-05-06');
    await fs.writeFile(path.join(day, '.cam_01_070809011.png.0a1b2c3d4e5f.tmp'), 'partial');

    const report = await store.sweepLeftovers([]);

    expect(report.removed).toEqual(['images/unknown/2024-05-06/.cam_01_070809011.png.0a1b2c3d4e5f.tmp']);
    expect(await filesUnder(day)).toEqual([saved.file]);
  });
});
