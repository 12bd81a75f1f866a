// `facegate enroll <userId> --name N [--department D] <images or folders>`.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { textField } from '../../api/text-fields.js';
import { decisionThresholdsOf } from '../../config/config.js';
import {
  enroll,
  EnrollmentRefusedError,
  type EnrollmentImage,
  type EnrollResult,
} from '../../recognition/enrollment.js';
import { openContext } from '../context.js';
import { progress } from '../progress.js';
import { UsageError } from '../usage-error.js';
import { visionFlags, visionFlagsUsage, visionOptionsFrom } from '../vision-flags.js';

export const enrollUsage = `facegate enroll <userId> --name NAME [--department D] <images or folders...> ${visionFlagsUsage} [--json]
  Enrolls a user from photos: each must show one good face that matches nobody else (faces much
  smaller or blurrier behind it are ignored, and the answer says so); at least 3 must, or nothing is kept.`;

const IMAGE_FILE = /\.(jpe?g|png|webp)$/i;

async function collect(paths: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const p of paths) {
    const stat = await fs.stat(p).catch(() => null);
    if (!stat) throw new UsageError(`Expected an image file or a folder but ${p} does not exist`);
    if (stat.isDirectory()) {
      const entries = (await fs.readdir(p)).filter((f) => IMAGE_FILE.test(f)).sort();
      files.push(...entries.map((f) => path.join(p, f)));
    } else files.push(p);
  }
  return files;
}

/** Lookalike pressure, told to the operator (src/recognition/lookalike.ts). */
export function lookalikeLines(r: Pick<EnrollResult, 'userId' | 'nearest' | 'lookalikes' | 'threshold'>): string[] {
  const lines = [
    r.nearest
      ? `  nearest other enrolled person: ${r.nearest.userId} at ${r.nearest.score.toFixed(3)}`
      : '  nearest other enrolled person: none',
  ];
  if (r.lookalikes.length > 0) {
    lines.push(
      `  lookalike: close to ${r.lookalikes.map((l) => `${l.userId} (${l.score.toFixed(3)})`).join(', ')}; ` +
        `their thresholds and ${r.userId}'s (now ${r.threshold.toFixed(3)}) were raised above that score so they are not taken for each other`,
    );
  }
  return lines;
}

export async function enrollCommand(argv: string[], out: (json: unknown, text: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...visionFlags,
      name: { type: 'string' },
      department: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const [userId, ...inputs] = positionals;
  if (!userId || inputs.length === 0) throw new UsageError('Expected a user id and at least one image or folder');
  if (!values.name) throw new UsageError('Expected --name');
  // The API's rule for what people type (no control characters), before any photo is read.
  const text = (flag: string, raw: string) => {
    try {
      return textField(flag, raw);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  };
  const name = text('--name', values.name);
  const department = values.department?.trim() ? text('--department', values.department) : null;
  const files = await collect(inputs);
  const images: EnrollmentImage[] = await Promise.all(
    files.map(async (file) => ({ name: file, bytes: await fs.readFile(file) })),
  );
  const ctx = await openContext({ vision: true, ...visionOptionsFrom(values) });
  const bar = progress('enroll', { total: images.length, json: values.json });
  try {
    // The site's thresholds (configured, calibrated or default: site-threshold.ts), as the API's
    // enrolment uses: "matches another user" and "one person" are judged at the site's match.
    const thresholds = decisionThresholdsOf(ctx.config, await ctx.siteThreshold());
    const result = await enroll(
      {
        analyzer: (ctx.vision as NonNullable<typeof ctx.vision>).analyzer,
        storage: ctx.storage,
        thresholds,
        onPhoto: (done, _total, file) => bar.update(done, path.basename(file)),
      },
      { userId, name, department, images },
    );
    bar.end();
    out(
      result,
      [
        `enrolled ${result.userId} with ${result.embeddings} embeddings`,
        ...(result.ignoredFaces ?? []).map(
          (n) =>
            `  ${n.file}: used the face at ${n.used.join(',')}; ${n.ignored} much smaller or blurrier face(s) ignored`,
        ),
        ...result.skipped.map((s) => `  skipped ${s.file}: ${s.reason}`),
        ...lookalikeLines(result),
      ].join('\n'),
    );
    return 0;
  } catch (error) {
    bar.end();
    if (error instanceof EnrollmentRefusedError) {
      out(
        { error: error.message, userId, embeddings: 0, skipped: error.skipped },
        [error.message, ...error.skipped.map((s) => `  skipped ${s.file}: ${s.reason}`)].join('\n'),
      );
      return 1;
    }
    throw error;
  } finally {
    bar.end();
    await ctx.close();
  }
}
