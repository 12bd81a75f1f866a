// Reading a request body into memory within limits: the whole request's size (refused from its
// Content-Length before any byte is read, and again while reading), and a multipart upload's files
// and text fields (how many, how large, only the ones a route names). Routes get a checked Upload or
// an HttpError (400, 413, 415) that says what was expected.
import type { FastifyReply, FastifyRequest } from 'fastify';

import { quoteReceived } from '../../storage/checks.js';
import { InvalidIdError, StoreInputError } from '../../storage/errors.js';
import { MAX_INPUT_BYTES } from '../vision/image-input.js';
import { HttpError } from './errors.js';
import { RequestInputError } from './request-input-error.js';

/** 25 MiB: one large phone photo, or a batch of ordinary ones, per request. */
export const DEFAULT_BODY_LIMIT_BYTES = 25 * 1024 * 1024;
/** Enough photos for a good enrollment (at least 3 must be usable) without one request tying up the worker for minutes. */
export const MAX_ENROLL_IMAGES = 20;
/** Text fields (userId, name, department) are short; anything longer is not a name. */
const MAX_FIELD_BYTES = 1024;

export interface UploadedFile {
  field: string;
  name: string;
  bytes: Buffer;
}

export interface Upload {
  fields: Map<string, string>;
  files: UploadedFile[];
}

/**
 * The onRequest hook that refuses (413) a request whose Content-Length is over `bodyLimit`, before
 * its body is read (registered after the token check: an unauthenticated request gets its 401).
 */
export function bodyLengthHook(bodyLimit: number): (req: FastifyRequest, reply: FastifyReply) => Promise<unknown> {
  return async (req, reply) => {
    const length = Number(req.headers['content-length']);
    if (Number.isFinite(length) && length > bodyLimit) {
      return reply.code(413).send({ error: `Expected a request of at most ${bodyLimit} bytes but received ${length}` });
    }
    return undefined;
  };
}

/**
 * Reads a multipart body into memory within limits: each file at most `fileLimit` bytes, at most
 * `maxFiles` files, only the fields and file fields named, the whole at most `bodyLimit` bytes.
 * `onField` sees each text field as it arrives (ids are checked before any file is read).
 */
export async function readUpload(
  req: FastifyRequest,
  limits: { bodyLimit: number; maxFiles: number; fields: string[]; fileField: string },
  onField: (name: string, value: string) => void,
): Promise<Upload> {
  if (!req.isMultipart())
    throw new HttpError(
      415,
      `Expected a multipart/form-data body but received ${req.headers['content-type'] ?? 'no content type'}`,
    );
  const fileLimit = Math.min(MAX_INPUT_BYTES, limits.bodyLimit);
  const upload: Upload = { fields: new Map(), files: [] };
  const expectedFields = limits.fields.length ? `only the fields ${limits.fields.join(', ')}` : 'no text fields';
  let total = 0;
  try {
    // One field more than named: an unknown or repeated field arrives here and is refused by name (a 400), not as a parts limit.
    const parts = req.parts({
      limits: {
        fileSize: fileLimit,
        files: limits.maxFiles,
        fields: limits.fields.length + 1,
        fieldSize: MAX_FIELD_BYTES,
        parts: limits.maxFiles + limits.fields.length + 1,
      },
    });
    for await (const part of parts) {
      if (part.type === 'field') {
        if (!limits.fields.includes(part.fieldname)) {
          throw new HttpError(
            400,
            `Expected ${expectedFields} and files in the field ${limits.fileField} but received the field ${quoteReceived(part.fieldname, 40)}`,
          );
        }
        if (upload.fields.has(part.fieldname))
          throw new HttpError(400, `Expected the field ${part.fieldname} once but received it again`);
        if (part.valueTruncated || typeof part.value !== 'string') {
          throw new HttpError(400, `Expected ${part.fieldname} to be text of at most ${MAX_FIELD_BYTES} bytes`);
        }
        total += part.value.length;
        upload.fields.set(part.fieldname, part.value);
        onField(part.fieldname, part.value);
      } else {
        if (part.fieldname !== limits.fileField) {
          part.file.resume();
          throw new HttpError(
            400,
            `Expected files in the field ${limits.fileField} but received one in ${quoteReceived(part.fieldname, 40)}`,
          );
        }
        const bytes = await part.toBuffer();
        total += bytes.length;
        upload.files.push({
          field: part.fieldname,
          name: part.filename || `${limits.fileField}[${upload.files.length}]`,
          bytes,
        });
      }
      if (total > limits.bodyLimit)
        throw new HttpError(413, `Expected a request of at most ${limits.bodyLimit} bytes but received more`);
    }
  } catch (error) {
    if (
      error instanceof HttpError ||
      error instanceof RequestInputError ||
      error instanceof StoreInputError ||
      error instanceof InvalidIdError
    )
      throw error;
    const code = (error as { code?: unknown }).code;
    if (code === 'FST_REQ_FILE_TOO_LARGE')
      throw new HttpError(413, `Expected each image to be at most ${fileLimit} bytes but received a larger one`);
    if (code === 'FST_FILES_LIMIT')
      throw new HttpError(413, `Expected at most ${limits.maxFiles} image file(s) per request but received more`);
    if (code === 'FST_FIELDS_LIMIT' || code === 'FST_PARTS_LIMIT') {
      const fields = limits.fields.length ? `the fields ${limits.fields.join(', ')}` : 'no fields';
      throw new HttpError(413, `Expected ${fields} and at most ${limits.maxFiles} file(s) but received more parts`);
    }
    if (typeof (error as { statusCode?: unknown }).statusCode === 'number') throw error;
    // Anything else came from reading the body itself (busboy: no boundary, a part cut short, the
    // client gone): the client's fault, and nothing was written yet.
    const reason = error instanceof Error ? error.message : String(error);
    throw new HttpError(
      400,
      `Expected a well-formed multipart/form-data body but it could not be read (${reason.slice(0, 200)})`,
    );
  }
  return upload;
}

/** The one image file an upload must carry (POST /identify, "not this person"), or a 400 saying how many came. */
export function singleImage(upload: Upload): UploadedFile {
  if (upload.files.length !== 1)
    throw new HttpError(400, `Expected one image file in the field image but received ${upload.files.length}`);
  return upload.files[0] as UploadedFile;
}

/** A yes/no form field: "true" or "false", nothing else (a typo must not be read as either). */
export function formBoolean(name: string, value: string): boolean {
  if (value === 'true' || value === 'false') return value === 'true';
  throw new HttpError(400, `Expected ${name} to be true or false but received ${quoteReceived(value, 40)}`);
}
