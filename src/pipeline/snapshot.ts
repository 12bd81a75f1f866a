// A camera's latest view for people (the console's cameras page): its last frame as JPEG with the
// faces the pipeline is tracking drawn on it, each boxed and named as decided (a name, "unknown",
// or "…" while the track is still deciding). The frame is one the pipeline already holds; drawing
// happens only when someone asks, in sharp, never in the frame worker's way.
import sharp from 'sharp';

import type { RgbImage } from '../vision/types.js';

export interface TrackedBox {
  box: [number, number, number, number];
  /** The decided name, "unknown", or null while deciding. */
  label: string | null;
  known: boolean;
}

export interface CameraView {
  image: RgbImage;
  at: Date;
  faces: TrackedBox[];
}

const escapeXml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] as string,
  );

/** The view as a JPEG, at most `maxWidth` wide (the boxes drawn at that size: sharp resizes before it composites). */
export async function renderView(view: CameraView, maxWidth = 960): Promise<Buffer> {
  const { width, height, data } = view.image;
  const scale = Math.min(1, maxWidth / width);
  const outWidth = Math.round(width * scale);
  const outHeight = Math.round(height * scale);
  const stroke = Math.max(2, Math.round(outWidth / 400));
  const font = Math.max(14, Math.round(outWidth / 60));
  const shapes = view.faces
    .map(({ box, label, known }) => {
      const [x, y, w, h] = box.map((v) => Math.round(v * scale)) as [number, number, number, number];
      const colour = label === null ? '#f0c000' : known ? '#2ecc71' : '#ff5a4f';
      const text = escapeXml(label ?? '…');
      const ty = y > font + 6 ? y - 6 : y + h + font + 2;
      return `<rect x="${x}" y="${y}" width="${w}" height="${h}" fill="none" stroke="${colour}" stroke-width="${stroke}"/>
<text x="${x}" y="${ty}" font-family="sans-serif" font-size="${font}" fill="${colour}" stroke="#000" stroke-width="${Math.max(1, stroke / 2)}" paint-order="stroke">${text}</text>`;
    })
    .join('\n');
  const svg = Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${outWidth}" height="${outHeight}">${shapes}</svg>`,
  );
  return sharp(Buffer.from(data.buffer, data.byteOffset, data.byteLength), { raw: { width, height, channels: 3 } })
    .resize({ width: outWidth, height: outHeight })
    .composite([{ input: svg, top: 0, left: 0 }])
    .jpeg({ quality: 80 })
    .toBuffer();
}
