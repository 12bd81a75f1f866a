// Image input: photo bytes (enrollment images, `identify` arguments, stored originals) to raw
// 8-bit sRGB, refusing anything that is not a whole, reasonably sized JPEG, PNG or WebP with one
// typed error that callers log and skip. Camera frames do not come through here: ffmpeg already
// hands them over as raw RGB.
import { type FileHandle, open } from 'node:fs/promises';

import sharp from 'sharp';

import type { RgbImage } from './types.js';

/**
 * Largest file accepted, in bytes. A 48 MP phone photo is 10-20 MB as JPEG and a 12 MP photo
 * saved as PNG is 15-25 MB, so real photos fit; anything bigger is read into memory for no gain
 * (the detector works at 640 px) and is far more likely an attack or a mistake than a face.
 */
export const MAX_INPUT_BYTES = 30 * 1024 * 1024;

/**
 * Largest decoded size, in pixels (width x height, checked before decoding). 50 MP covers the
 * 48 MP sensors of current phones; decoded it is 150 MB of RGB, which a 2-core appliance can still
 * afford for one image. A "pixel bomb" (a tiny file declaring a huge canvas) is refused from its
 * header, before any pixel memory is allocated. sharp's own default (268 MP) would allow 800 MB.
 */
export const MAX_INPUT_PIXELS = 50_000_000;

/**
 * Pixels decoded at once across the whole process (every identify, enrollment and CLI decode),
 * from the header's size until the caller is done with the pixels. Each decoded megapixel costs
 * about 3 MB of RGB plus libvips' working copies; without a bound, 32 parallel requests of a 6 kB
 * 7000x7000 PNG took the service to 5.3 GB. 100 MP: two images at the per-image limit, or a dozen
 * 8 MP photos, at once; one image is always admitted when nothing else is decoding.
 */
export const DEFAULT_DECODE_BUDGET_PIXELS = 2 * MAX_INPUT_PIXELS;

// libvips' operation cache keeps recent results (up to 50 MB, 100 operations) for a repeat of the
// same operation on the same input; every image here is decoded once, so the cache only holds memory
// after the request is answered.
sharp.cache(false);

/** Refused for now, not for its content: the decode budget is taken. The API answers 503 with Retry-After. */
export class DecodeBusyError extends Error {
  override readonly name = 'DecodeBusyError';
}

/** Pixels in flight against a limit; taken before a decode, given back when the pixels are let go. */
class PixelBudget {
  inFlight = 0;
  constructor(public limit: number) {}

  take(pixels: number): void {
    // Alone, an image within MAX_INPUT_PIXELS always goes: a budget below it must not starve it.
    if (this.inFlight > 0 && this.inFlight + pixels > this.limit) {
      const mp = (n: number) => (n / 1e6).toFixed(1);
      throw new DecodeBusyError(
        `busy: expected at most ${mp(this.limit)} megapixels decoding at once but ${mp(this.inFlight)} are in flight and this image has ${mp(pixels)}; try again shortly`,
      );
    }
    this.inFlight += pixels;
  }

  give(pixels: number): void {
    this.inFlight -= pixels;
  }
}

const budget = new PixelBudget(DEFAULT_DECODE_BUDGET_PIXELS);

/** Sets the process-wide decode budget in pixels (Infinity: no bound, for a benchmark's baseline). */
export function setDecodeBudget(pixels: number): void {
  if (!(pixels >= 1))
    throw new RangeError(`Expected a decode budget of at least 1 pixel (or Infinity) but received ${pixels}`);
  budget.limit = pixels;
}

/** A file that cannot be turned into an image. Callers log it and skip the file; it is never fatal. */
export class ImageDecodeError extends Error {
  override readonly name = 'ImageDecodeError';

  constructor(detail: string, options?: { cause?: unknown }) {
    super(`corrupted image: ${detail}`, options);
  }
}

type AcceptedFormat = 'jpeg' | 'png' | 'webp';

const EXPECTED = 'a JPEG, PNG or WebP image';

/**
 * The formats accepted, recognised by their signature before sharp sees a byte. Only these three:
 * they are what cameras, phones and browsers produce. Everything else sharp could read is refused:
 * SVG because rendering it means running an XML/CSS engine on untrusted input (external
 * references, entity expansion), GIF because it is palette-quantised (poor face detail) and may be
 * animated, TIFF/HEIF/JP2/PDF and the rest because each is another large decoder exposed to
 * untrusted bytes for no real user. Checking the signature ourselves means libvips never picks a
 * loader by its own sniffing.
 */
function sniffFormat(bytes: Uint8Array): AcceptedFormat | undefined {
  const at = (i: number): number => bytes[i] ?? -1;
  if (at(0) === 0xff && at(1) === 0xd8 && at(2) === 0xff) return 'jpeg';
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (png.every((b, i) => at(i) === b)) return 'png';
  // RIFF <size> WEBP
  if (ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 12) === 'WEBP') return 'webp';
  return undefined;
}

function ascii(bytes: Uint8Array, from: number, to: number): string {
  return String.fromCharCode(...bytes.subarray(from, to));
}

/** What the refused bytes look like, for the error message. */
function describeBytes(bytes: Uint8Array): string {
  const head = ascii(bytes, 0, 16);
  let kind = 'an unknown format';
  if (head.startsWith('GIF8')) kind = 'a GIF image';
  else if (head.startsWith('II*\0') || head.startsWith('MM\0*')) kind = 'a TIFF image';
  else if (head.startsWith('BM')) kind = 'a BMP image';
  else if (head.startsWith('%PDF')) kind = 'a PDF document';
  else if (head.slice(4, 8) === 'ftyp') kind = 'an ISO media file (HEIF/AVIF/MP4)';
  else if (/^\s*</.test(head)) kind = /<svg|<\?xml/i.test(ascii(bytes, 0, 512)) ? 'SVG/XML text' : 'markup text';
  else if (bytes.subarray(0, 512).every((b) => b === 9 || b === 10 || b === 13 || (b >= 32 && b < 127)))
    kind = 'plain text';
  const hex = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return `${kind} (${bytes.length} bytes starting ${hex})`;
}

/** Reads a file, refusing one over the byte limit without reading it. */
async function readLimited(path: string): Promise<Uint8Array> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(path, 'r');
    const stat = await handle.stat();
    if (!stat.isFile()) throw new ImageDecodeError(`expected ${EXPECTED} file but ${path} is not a regular file`);
    if (stat.size > MAX_INPUT_BYTES) {
      throw new ImageDecodeError(`expected at most ${MAX_INPUT_BYTES} bytes but ${path} has ${stat.size}`);
    }
    return await handle.readFile();
  } catch (error) {
    if (error instanceof ImageDecodeError) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new ImageDecodeError(`expected a readable file but could not read ${path} (${code})`, { cause: error });
  } finally {
    await handle?.close();
  }
}

/**
 * Decodes a JPEG, PNG or WebP (bytes, or a file path) into 8-bit sRGB, 3 channels: EXIF orientation
 * applied, alpha composited onto black (so transparent pixels do not show whatever colour the
 * encoder left under them), grayscale expanded, 16-bit reduced, embedded ICC profiles and CMYK
 * converted to sRGB. Anything else throws ImageDecodeError, never another error (DecodeBusyError
 * aside: see withDecodedImage). The decode budget is held while decoding only; a caller that keeps
 * the pixels while other decodes may run (a server) uses withDecodedImage instead.
 */
export async function decodeImage(input: Uint8Array | string): Promise<RgbImage> {
  return withDecodedImage(input, (image) => Promise.resolve(image));
}

/**
 * Decodes as decodeImage does and hands the pixels to `use`, holding their share of the decode
 * budget until `use` settles. Throws DecodeBusyError, before any pixel is allocated, when the
 * image does not fit beside the decodes already in flight.
 */
export async function withDecodedImage<T>(
  input: Uint8Array | string,
  use: (image: RgbImage) => Promise<T>,
): Promise<T> {
  const bytes = typeof input === 'string' ? await readLimited(input) : input;
  if (bytes.length === 0) throw new ImageDecodeError(`expected ${EXPECTED} but received 0 bytes`);
  if (bytes.length > MAX_INPUT_BYTES) {
    throw new ImageDecodeError(`expected at most ${MAX_INPUT_BYTES} bytes but received ${bytes.length}`);
  }
  const format = sniffFormat(bytes);
  if (!format) throw new ImageDecodeError(`expected ${EXPECTED} but received ${describeBytes(bytes)}`);

  // failOn 'warning' (the strictest level, sharp's advice for untrusted input): a truncated file
  // and corrupt entropy-coded data both fail instead of decoding to grey smears ('truncated' and
  // 'error' let mid-file corruption through in libjpeg; measured with sharp 0.35 / libvips 8.18).
  const options = { failOn: 'warning', limitInputPixels: MAX_INPUT_PIXELS } as const;
  // The header is read without the pixel limit (it allocates no pixels) so that a refusal can
  // say the size it found; the decode below enforces the limit again, inside libvips.
  const metadata = await sharp(bytes, { ...options, limitInputPixels: false })
    .metadata()
    .catch((error: unknown) => {
      throw new ImageDecodeError(`expected a valid ${format.toUpperCase()} header but ${reason(error)}`, {
        cause: error,
      });
    });
  const { width = 0, height = 0 } = metadata;
  if (metadata.format !== format) {
    throw new ImageDecodeError(`expected ${format.toUpperCase()} content but the decoder found ${metadata.format}`);
  }
  if (width * height > MAX_INPUT_PIXELS) {
    throw new ImageDecodeError(`expected at most ${MAX_INPUT_PIXELS} pixels but received ${width} x ${height}`);
  }

  const pixels = width * height;
  budget.take(pixels);
  try {
    return await use(await decodePixels(bytes, format, options));
  } finally {
    budget.give(pixels);
  }
}

async function decodePixels(
  bytes: Uint8Array,
  format: AcceptedFormat,
  options: { readonly failOn: 'warning'; readonly limitInputPixels: number },
): Promise<RgbImage> {
  try {
    const { data, info } = await sharp(bytes, options)
      .rotate()
      .flatten()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
      throw new Error(
        `decoder returned ${info.channels} channels and ${data.length} bytes for ${info.width} x ${info.height}`,
      );
    }
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  } catch (error) {
    throw new ImageDecodeError(`expected a complete, valid ${format.toUpperCase()} but ${reason(error)}`, {
      cause: error,
    });
  }
}

function reason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return `the decoder reported: ${message.trim().replace(/\s*\n\s*/g, '; ')}`;
}

/** Encodes an RGB image (an aligned crop, for a stored or inspected face) as PNG. */
export async function encodePng(image: RgbImage): Promise<Buffer> {
  const { width, height, data } = image;
  if (
    !Number.isInteger(width) ||
    !Number.isInteger(height) ||
    width < 1 ||
    height < 1 ||
    data.length !== width * height * 3
  ) {
    throw new RangeError(
      `Expected a non-empty RGB image with ${width} x ${height} x 3 bytes but received ${width} x ${height} with ${data.length} bytes`,
    );
  }
  return sharp(data, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
}
