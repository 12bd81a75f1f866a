import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, it } from 'vitest';
import { decodeImage } from '../../src/vision/image-input.js';
import { FACES_DIR } from '../helpers/shared-data.js';
import { openTestAppliance, type TestAppliance } from '../helpers/test-appliance.js';

let appliance: TestAppliance;
beforeAll(async () => { appliance = await openTestAppliance('explore'); });
afterAll(async () => { await appliance?.close(); });
it('explore', async () => {
  const all: { name: string; v: Float32Array }[] = [];
  for (const folder of ['obama', 'biden', 'mixed']) {
    for (const f of (await fs.readdir(path.join(FACES_DIR, folder))).sort()) {
      const t = Date.now();
      const faces = await appliance.vision.analyzer.analyze(await decodeImage(await fs.readFile(path.join(FACES_DIR, folder, f))));
      faces.forEach((fa, i) => {
        console.log(folder, f, i, fa.face.box.map(Math.round), fa.quality.score.toFixed(3), fa.quality.accepted, fa.quality.reasons, !!fa.embedding, Date.now() - t);
        if (fa.embedding) all.push({ name: `${folder}/${f}#${i}`, v: fa.embedding.vector });
      });
    }
  }
  for (let i = 0; i < all.length; i++) {
    const row = all.map((b) => { let s = 0; for (let k = 0; k < b.v.length; k++) s += all[i]!.v[k]! * b.v[k]!; return s.toFixed(2); });
    console.log(all[i]!.name.padEnd(40), row.join(' '));
  }
}, 120000);
