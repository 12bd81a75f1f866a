// `facegate bench decode`: the service's memory under a burst of large images. N parallel
// POST /identify, each a solid-colour PNG of side x side pixels (a few kB that decode to
// side^2 x 3 bytes: the "pixel bomb" a client can send within every byte limit), against the API
// as `serve` builds it (real models, a scratch data root on PGlite). Each load runs in a process
// of its own, so each peak RSS is that load's alone: one request (the floor), the burst with the
// decode budget off (the baseline), and the burst with the budget on (what the service does).
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import sharp from 'sharp';

import { openStorage, parseStorageConfig } from '../../storage/index.js';
import { cameralessApiDeps } from '../api/api-deps.js';
import { buildApi } from '../api/server.js';
import { cpuInfo } from '../../core/native/index.js';
import { UserDirectory } from '../recognition/user-directory.js';
import { DEFAULT_DECODE_BUDGET_PIXELS, setDecodeBudget } from '../vision/image-input.js';
import { openVision, type VisionOptions } from '../vision/index.js';
import { benchInOwnProcess } from './own-process.js';

/** One load, run in a process of its own. `budgetPixels` null: no bound (the baseline). */
export interface DecodeScenario {
  name: string;
  requests: number;
  side: number;
  budgetPixels: number | null;
}

export interface DecodeRunReport extends DecodeScenario {
  pngBytes: number;
  /** HTTP status -> count. */
  statuses: Record<string, number>;
  /** Resident memory once the models and stores are open, before any request. */
  rssReadyMb: number;
  /** The process's peak resident memory over the whole run (getrusage maxrss, or Windows' peak working set). */
  peakRssMb: number;
  /** Resident memory a second after the last answer: what the service keeps holding. */
  rssAfterMb: number;
  wallMs: number;
}

export interface DecodeBenchReport {
  cpu: { model: string; vendor: string; cores: number };
  runs: DecodeRunReport[];
}

const MB = 1024 * 1024;

/** Checks `--scenario` (it comes from runDecodeBench, but is read like any input). */
export function parseDecodeScenario(raw: string): DecodeScenario {
  const v = JSON.parse(raw) as Partial<DecodeScenario>;
  const positive = (n: unknown) => Number.isInteger(n) && (n as number) >= 1;
  if (
    typeof v.name !== 'string' ||
    !positive(v.requests) ||
    !positive(v.side) ||
    !(v.budgetPixels === null || positive(v.budgetPixels))
  ) {
    throw new TypeError(
      `Expected --scenario {"name", "requests", "side", "budgetPixels" (a positive integer or null)} but received ${raw.slice(0, 200)}`,
    );
  }
  return v as DecodeScenario;
}

/** Runs one scenario in this process: the API on a loopback port, the requests from here. */
export async function runDecodeScenario(scenario: DecodeScenario, vision: VisionOptions): Promise<DecodeRunReport> {
  setDecodeBudget(scenario.budgetPixels ?? Infinity);
  const png = await sharp({
    create: { width: scenario.side, height: scenario.side, channels: 3, background: { r: 90, g: 120, b: 150 } },
  })
    .png({ compressionLevel: 9 })
    .toBuffer();
  const dataRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'facegate-bench-decode-'));
  const opened = await openVision(vision);
  const storage = await openStorage(parseStorageConfig({ dataRoot }), {
    embeddingModel: { id: opened.embedder.modelId, dim: opened.embedder.dim },
  });
  const token = 'bench-decode-token';
  const users = new UserDirectory(storage.db, storage.embeddings.modelId);
  const app = buildApi(cameralessApiDeps({ storage, vision: opened, users }), { token, dataRoot });
  try {
    await users.refresh();
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const rssReady = process.memoryUsage().rss;
    const started = performance.now();
    const answers = await Promise.all(
      Array.from({ length: scenario.requests }, async () => {
        const form = new FormData();
        form.append('image', new Blob([new Uint8Array(png)], { type: 'image/png' }), 'bomb.png');
        const res = await fetch(`${url}/identify`, {
          method: 'POST',
          body: form,
          headers: { authorization: `Bearer ${token}` },
        });
        await res.arrayBuffer();
        return res.status;
      }),
    );
    const wallMs = performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const statuses: Record<string, number> = {};
    for (const s of answers) statuses[s] = (statuses[s] ?? 0) + 1;
    return {
      ...scenario,
      pngBytes: png.length,
      statuses,
      rssReadyMb: rssReady / MB,
      // resourceUsage().maxRSS is in kilobytes on every platform Node runs on.
      peakRssMb: (process.resourceUsage().maxRSS * 1024) / MB,
      rssAfterMb: process.memoryUsage().rss / MB,
      wallMs,
    };
  } finally {
    await app.close();
    await storage.close();
    await fs.rm(dataRoot, { recursive: true, force: true });
  }
}

/** The three loads, each in a process of its own (own-process.ts), one after another. */
export async function runDecodeBench(options: {
  requests: number;
  side: number;
  budgetPixels?: number;
  args: string[];
  progress?: (message: string) => void;
}): Promise<DecodeBenchReport> {
  const budget = options.budgetPixels ?? DEFAULT_DECODE_BUDGET_PIXELS;
  const scenarios: DecodeScenario[] = [
    { name: 'one request', requests: 1, side: options.side, budgetPixels: budget },
    { name: 'burst, no bound (baseline)', requests: options.requests, side: options.side, budgetPixels: null },
    { name: 'burst, decode budget', requests: options.requests, side: options.side, budgetPixels: budget },
  ];
  const runs: DecodeRunReport[] = [];
  for (const scenario of scenarios) {
    options.progress?.(
      `${scenario.name}: ${scenario.requests} x ${scenario.side}x${scenario.side} PNG in a process of its own`,
    );
    runs.push(
      await benchInOwnProcess<DecodeRunReport>(['decode', ...options.args, '--scenario', JSON.stringify(scenario)]),
    );
  }
  const cpu = cpuInfo();
  return { cpu: { model: cpu.model, vendor: cpu.vendor, cores: os.availableParallelism() }, runs };
}

export function formatDecodeBench(r: DecodeBenchReport): string {
  const first = r.runs[0];
  const mb = (n: number) => n.toFixed(0).padStart(7);
  const lines = [
    `decode benchmark: POST /identify with a ${first?.side ?? 0}x${first?.side ?? 0} solid PNG (${first?.pngBytes ?? 0} bytes), each load in its own process`,
    `CPU: ${r.cpu.model || '(no brand string)'} (${r.cpu.vendor}), ${r.cpu.cores} cores`,
    '',
    'load                            requests  budget MP   ready MB   peak MB  after MB   wall ms  statuses',
  ];
  for (const run of r.runs) {
    const budget = run.budgetPixels === null ? 'none' : (run.budgetPixels / 1e6).toFixed(0);
    const statuses = Object.entries(run.statuses)
      .map(([status, n]) => `${n} x ${status}`)
      .join(', ');
    lines.push(
      `${run.name.padEnd(32)}${String(run.requests).padStart(8)}${budget.padStart(11)}${mb(run.rssReadyMb)}   ${mb(run.peakRssMb)}  ${mb(run.rssAfterMb)}  ${run.wallMs.toFixed(0).padStart(8)}  ${statuses}`,
    );
  }
  return lines.join('\n');
}
