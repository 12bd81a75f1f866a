// The HTTP API's identify route (src/recognition/identify.ts does the work):
//   POST /identify   multipart image (one photo): each face found, with who it is or that it is unknown
// The decoded pixels count against the shared decode budget (vision/image-input.ts) until the faces
// are found; a full budget is a 503 with Retry-After (errors.ts).
import type { FastifyInstance } from 'fastify';

import { identifiedFaceJson, identify } from '../recognition/identify.js';
import { withDecodedImage } from '../vision/image-input.js';
import type { ApiDeps } from './api-deps.js';
import { readUpload, singleImage } from './upload.js';

export function registerIdentifyRoutes(app: FastifyInstance, deps: ApiDeps, options: { bodyLimit: number }): void {
  const { storage } = deps;
  const { bodyLimit } = options;

  app.post('/identify', async (req) => {
    // Two allowed so that a second file is refused with a clear 400 rather than a parts-limit 413.
    const upload = await readUpload(req, { bodyLimit, maxFiles: 2, fields: [], fileField: 'image' }, () => undefined);
    const file = singleImage(upload);
    const faces = await withDecodedImage(file.bytes, (image) =>
      identify(
        {
          analyzer: deps.analyzer,
          embeddings: storage.embeddings,
          statusOf: deps.users.statusOf,
          thresholdOf: deps.users.thresholdOf,
          thresholds: deps.thresholds,
        },
        image,
      ),
    );
    return {
      faces: faces.map(identifiedFaceJson),
    };
  });
}
