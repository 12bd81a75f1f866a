// `facegate identify <image>`: the decision for each face in a photo.
import { parseArgs } from 'node:util';

import { decisionThresholdsOf } from '../../config/config.js';
import { identifiedFaceJson, identify } from '../../recognition/identify.js';
import { UserDirectory } from '../../recognition/user-directory.js';
import { decodeImage } from '../../vision/index.js';
import { openContext } from '../context.js';
import { UsageError } from '../usage-error.js';
import { visionFlags, visionFlagsUsage, visionOptionsFrom } from '../vision-flags.js';

export const identifyUsage = `facegate identify <image> ${visionFlagsUsage} [--json]
  Each face: known (user and score) or unknown (and why).`;

export async function identifyCommand(argv: string[], out: (json: unknown, text: string) => void): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...visionFlags, json: { type: 'boolean', default: false } },
  });
  if (positionals.length !== 1) throw new UsageError(`Expected one image file but received ${positionals.length}`);
  const image = await decodeImage(positionals[0] as string);
  const ctx = await openContext({ vision: true, ...visionOptionsFrom(values) });
  try {
    const users = new UserDirectory(ctx.storage.db, ctx.storage.embeddings.modelId);
    await users.refresh();
    // The site's thresholds (configured, calibrated or default), as the service decides with.
    const thresholds = decisionThresholdsOf(ctx.config, await ctx.siteThreshold());
    const faces = await identify(
      {
        analyzer: (ctx.vision as NonNullable<typeof ctx.vision>).analyzer,
        embeddings: ctx.storage.embeddings,
        statusOf: users.statusOf,
        thresholdOf: users.thresholdOf,
        thresholds,
      },
      image,
    );
    const json = {
      faces: faces.map(identifiedFaceJson),
    };
    out(
      json,
      json.faces
        .map((f, i) => `face ${i + 1}: ${f.decision}${f.userId ? ` ${f.userId}` : ''} (${f.reason})`)
        .join('\n') || 'no faces',
    );
  } finally {
    await ctx.close();
  }
}
