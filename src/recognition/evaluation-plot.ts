// The picture of an evaluation (issue 13: people look at this, not at a table): the genuine and
// impostor score histograms on one axis, the match threshold as a line. Drawn as SVG and rendered
// to PNG by sharp (librsvg), so no plotting dependency.
import sharp from 'sharp';

import type { PairScores } from './evaluation.js';

export interface PlotOptions {
  title: string;
  /** The decision rule's match threshold (drawn as a solid line). */
  matchThreshold: number;
  /** The threshold at zero observed false matches (the highest impostor score; dashed), if any. */
  zeroFmThreshold?: number;
}

const WIDTH = 1000;
const HEIGHT = 600;
const MARGIN = { left: 80, right: 30, top: 90, bottom: 70 };
/** 0.02 of cosine per bar: 100 bars over [-1, 1], about 50 over the range real scores cover. */
const BIN_WIDTH = 0.02;
const GENUINE_COLOUR = '#1f77b4';
const IMPOSTOR_COLOUR = '#d62728';
const FONT = "font-family='DejaVu Sans, Liberation Sans, Arial, sans-serif'";

const escapeXml = (s: string) => s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** Each class as a share of its own pairs per bin: 450 genuine and 4,500 impostor pairs on one scale. */
function histogram(scores: readonly number[], lo: number, bins: number): number[] {
  const counts = new Array<number>(bins).fill(0);
  for (const s of scores) {
    const i = Math.min(bins - 1, Math.max(0, Math.floor((s - lo) / BIN_WIDTH + 1e-9)));
    counts[i] = (counts[i] as number) + 1;
  }
  return counts.map((c) => (scores.length === 0 ? 0 : (100 * c) / scores.length));
}

export function evaluationSvg(scores: PairScores, options: PlotOptions): string {
  const all = [...scores.genuine, ...scores.impostor, options.matchThreshold];
  const lo = Math.floor(Math.min(...all) / 0.1) * 0.1;
  const hi = Math.min(1, Math.ceil(Math.max(...all) / 0.1) * 0.1);
  const bins = Math.max(1, Math.round((hi - lo) / BIN_WIDTH));
  const genuine = histogram(scores.genuine, lo, bins);
  const impostor = histogram(scores.impostor, lo, bins);
  const yMaxRaw = Math.max(1, ...genuine, ...impostor);
  const yStep = yMaxRaw > 20 ? 5 : yMaxRaw > 8 ? 2 : 1;
  const yMax = Math.ceil(yMaxRaw / yStep) * yStep;

  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (v: number) => MARGIN.left + ((v - lo) / (hi - lo)) * plotW;
  const y = (v: number) => MARGIN.top + plotH - (v / yMax) * plotH;
  const out: string[] = [
    `<svg xmlns='http://www.w3.org/2000/svg' width='${WIDTH}' height='${HEIGHT}' viewBox='0 0 ${WIDTH} ${HEIGHT}'>`,
    `<rect width='100%' height='100%' fill='white'/>`,
    `<text x='${WIDTH / 2}' y='32' text-anchor='middle' font-size='20' font-weight='bold' ${FONT}>${escapeXml(options.title)}</text>`,
  ];
  // Grid and ticks: x every 0.1 of cosine, y every yStep percent.
  for (let k = 0; k <= Math.round((hi - lo) / 0.1); k++) {
    const v = lo + k * 0.1;
    // Math.abs: -0.0 is printed 0.0.
    const label = (Math.abs(v) < 1e-9 ? 0 : v).toFixed(1);
    out.push(`<line x1='${x(v)}' y1='${MARGIN.top}' x2='${x(v)}' y2='${MARGIN.top + plotH}' stroke='#e5e5e5'/>`);
    out.push(
      `<text x='${x(v)}' y='${MARGIN.top + plotH + 20}' text-anchor='middle' font-size='13' ${FONT}>${label}</text>`,
    );
  }
  for (let v = 0; v <= yMax + 1e-9; v += yStep) {
    out.push(`<line x1='${MARGIN.left}' y1='${y(v)}' x2='${MARGIN.left + plotW}' y2='${y(v)}' stroke='#e5e5e5'/>`);
    out.push(`<text x='${MARGIN.left - 8}' y='${y(v) + 4}' text-anchor='end' font-size='13' ${FONT}>${v}</text>`);
  }
  const bars = (values: number[], colour: string) =>
    values
      .map((v, i) =>
        v === 0
          ? ''
          : `<rect x='${x(lo + i * BIN_WIDTH)}' y='${y(v)}' width='${plotW / bins}' height='${y(0) - y(v)}' fill='${colour}' fill-opacity='0.55' stroke='${colour}' stroke-width='0.8'/>`,
      )
      .join('');
  out.push(bars(impostor, IMPOSTOR_COLOUR), bars(genuine, GENUINE_COLOUR));
  // Axes and their labels.
  out.push(
    `<line x1='${MARGIN.left}' y1='${MARGIN.top + plotH}' x2='${MARGIN.left + plotW}' y2='${MARGIN.top + plotH}' stroke='black'/>`,
    `<line x1='${MARGIN.left}' y1='${MARGIN.top}' x2='${MARGIN.left}' y2='${MARGIN.top + plotH}' stroke='black'/>`,
    `<text x='${MARGIN.left + plotW / 2}' y='${HEIGHT - 22}' text-anchor='middle' font-size='15' ${FONT}>cosine similarity of the two photos' embeddings (bins of ${BIN_WIDTH})</text>`,
    `<text transform='translate(24 ${MARGIN.top + plotH / 2}) rotate(-90)' text-anchor='middle' font-size='15' ${FONT}>share of that kind's pairs (%)</text>`,
  );
  // Threshold lines, labelled at the top of the plot.
  // Each label on the side of its line away from the other line, so the two never cross.
  const vline = (v: number, colour: string, dash: string, label: string, row: number, side: 'left' | 'right') => {
    const anchor = side === 'left' ? 'end' : 'start';
    const dx = anchor === 'end' ? -6 : 6;
    out.push(
      `<line x1='${x(v)}' y1='${MARGIN.top}' x2='${x(v)}' y2='${MARGIN.top + plotH}' stroke='${colour}' stroke-width='2.5' stroke-dasharray='${dash}'/>`,
      `<text x='${x(v) + dx}' y='${MARGIN.top + 18 + row * 18}' text-anchor='${anchor}' font-size='14' fill='${colour}' ${FONT}>${escapeXml(label)}</text>`,
    );
  };
  const zero = options.zeroFmThreshold;
  const matchSide = zero === undefined || zero <= options.matchThreshold ? 'right' : 'left';
  vline(options.matchThreshold, 'black', 'none', `match threshold ${options.matchThreshold}`, 0, matchSide);
  if (zero !== undefined) {
    vline(zero, '#555555', '8 5', `highest impostor ${zero.toFixed(3)}`, 1, matchSide === 'right' ? 'left' : 'right');
  }
  // Legend: one row between the title and the plot, where no bar can hide it.
  const entry = (left: number, colour: string, text: string) =>
    `<rect x='${left}' y='${MARGIN.top - 36}' width='18' height='14' fill='${colour}' fill-opacity='0.55' stroke='${colour}'/>` +
    `<text x='${left + 26}' y='${MARGIN.top - 24}' font-size='14' ${FONT}>${escapeXml(text)}</text>`;
  out.push(
    entry(MARGIN.left, GENUINE_COLOUR, `genuine: same person (${scores.genuine.length.toLocaleString('en-US')} pairs)`),
    entry(
      MARGIN.left + plotW / 2,
      IMPOSTOR_COLOUR,
      `impostor: different people (${scores.impostor.length.toLocaleString('en-US')} pairs)`,
    ),
    '</svg>',
  );
  return out.join('\n');
}

/** The plot as PNG bytes. */
export async function evaluationPng(scores: PairScores, options: PlotOptions): Promise<Buffer> {
  return sharp(Buffer.from(evaluationSvg(scores, options)))
    .png()
    .toBuffer();
}
