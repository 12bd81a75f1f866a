#!/usr/bin/env node
// Does ONNX Runtime's WebGPU execution provider (bundled in onnxruntime-node for Linux x64 and
// Windows; over Vulkan on Linux) run facegate's models, with the CPU's results, and at what cost
// per face? Plain JavaScript with onnxruntime-node alone, so that it runs on a GPU machine that has
// nothing else of the project (issue 15's GPU check).
//
//   node scripts/webgpu-check.mjs --models DIR --inputs DIR [--repeat R] [--json]
//
// --models holds fr_feature.onnx, yunet_s_640_640.onnx and yunet_s_dynamic.onnx (the shared
// models). --inputs holds faces.f32 (N aligned faces as the embedder's input, 3 x 112 x 112 float32
// each, from real photos) and detector-640.f32 (one real photo as the detector's 3 x 640 x 640 input).
// It prints, for the CPU (facegate's settings: one intra-op thread, flush-to-zero, no spinning) and
// for WebGPU: whether each session was created, the embeddings' cosine between the two (the issue
// asks > 0.999), the detector outputs' largest difference, and the time per face and per frame.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
// CommonJS resolution: NODE_PATH may point at an onnxruntime-node carried beside this script.
const ort = require('onnxruntime-node');

const { values } = parseArgs({
  options: {
    models: { type: 'string' },
    inputs: { type: 'string' },
    repeat: { type: 'string', default: '5' },
    json: { type: 'boolean', default: false },
  },
});
if (!values.models || !values.inputs) {
  console.error('Expected --models DIR and --inputs DIR (see the header of scripts/webgpu-check.mjs)');
  process.exit(2);
}
const repeat = Number(values.repeat);
if (!Number.isInteger(repeat) || repeat < 1) {
  console.error(`Expected a positive integer for --repeat but received ${values.repeat}`);
  process.exit(2);
}
ort.env.logLevel = 'warning';

const CPU = {
  executionProviders: ['cpu'],
  graphOptimizationLevel: 'all',
  intraOpNumThreads: 1,
  extra: { session: { set_denormal_as_zero: '1', intra_op: { allow_spinning: '0' } } },
};
const WEBGPU = { executionProviders: ['webgpu'], graphOptimizationLevel: 'all' };

function floats(file) {
  const b = readFileSync(file);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}

async function open(file, options) {
  const t0 = performance.now();
  try {
    const session = await ort.InferenceSession.create(file, options);
    return { session, ms: performance.now() - t0 };
  } catch (error) {
    return { error: String(error?.message ?? error).split('\n')[0], ms: performance.now() - t0 };
  }
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))] : NaN;
};

function unit(v) {
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n);
  return Float32Array.from(v, (x) => x / n);
}

function cosine(a, b) {
  const ua = unit(a),
    ub = unit(b);
  let d = 0;
  for (let i = 0; i < ua.length; i++) d += ua[i] * ub[i];
  return d;
}

async function timed(session, feeds) {
  const t0 = performance.now();
  const out = await session.run(feeds);
  return { out, ms: performance.now() - t0 };
}

const report = {
  onnxruntime: ort.env.versions,
  backends: ort.listSupportedBackends(),
  embedder: {},
  detectors: {},
};

// --- the embedder: every face on both, cosine per face, time per face ---
const faces = floats(path.join(values.inputs, 'faces.f32'));
const faceSize = 3 * 112 * 112;
const n = faces.length / faceSize;
const embedderFile = path.join(values.models, 'fr_feature.onnx');
const sessions = { cpu: await open(embedderFile, CPU), webgpu: await open(embedderFile, WEBGPU) };
const vectors = {};
for (const [name, s] of Object.entries(sessions)) {
  report.embedder[name] = { created: !s.error, createMs: Math.round(s.ms), ...(s.error ? { error: s.error } : {}) };
  if (s.error) continue;
  const input = s.session.inputNames[0];
  const feed = (i) => ({
    [input]: new ort.Tensor('float32', faces.slice(i * faceSize, (i + 1) * faceSize), [1, 3, 112, 112]),
  });
  for (let w = 0; w < 3; w++) await s.session.run(feed(0)); // warm: the first runs plan and upload
  const times = [];
  vectors[name] = [];
  for (let r = 0; r < repeat; r++) {
    for (let i = 0; i < n; i++) {
      const { out, ms } = await timed(s.session, feed(i));
      times.push(ms);
      if (r === 0) vectors[name].push(Float32Array.from(out[s.session.outputNames[0]].data));
    }
  }
  report.embedder[name].msPerFace = { p50: pct(times, 0.5), p95: pct(times, 0.95) };
}
if (vectors.cpu && vectors.webgpu) {
  const cos = vectors.cpu.map((v, i) => cosine(v, vectors.webgpu[i]));
  report.embedder.agreement = { faces: n, minCosine: Math.min(...cos), medianCosine: pct(cos, 0.5) };
}

// --- the detectors: one real frame, the outputs' largest difference, time per frame ---
const frame = floats(path.join(values.inputs, 'detector-640.f32'));
const cropped = (w, h) => {
  // The top-left w x h of the 640 x 640 input: a 16:9 camera frame at the camera detector's size.
  const t = new Float32Array(3 * w * h);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < h; y++)
      t.set(frame.subarray(c * 640 * 640 + y * 640, c * 640 * 640 + y * 640 + w), c * w * h + y * w);
  return t;
};
const detectorRuns = [
  { name: 'yunet_s_640_640 at 640x640', file: 'yunet_s_640_640.onnx', w: 640, h: 640 },
  { name: 'yunet_s_dynamic at 416x256', file: 'yunet_s_dynamic.onnx', w: 416, h: 256 },
];
for (const d of detectorRuns) {
  const file = path.join(values.models, d.file);
  const data = d.w === 640 && d.h === 640 ? frame : cropped(d.w, d.h);
  const entry = {};
  const outputs = {};
  for (const [name, options] of [
    ['cpu', CPU],
    ['webgpu', WEBGPU],
  ]) {
    const s = await open(file, options);
    entry[name] = { created: !s.error, createMs: Math.round(s.ms), ...(s.error ? { error: s.error } : {}) };
    if (s.error) continue;
    const feeds = { [s.session.inputNames[0]]: new ort.Tensor('float32', data, [1, 3, d.h, d.w]) };
    for (let w = 0; w < 3; w++) await s.session.run(feeds);
    const times = [];
    let last;
    for (let r = 0; r < repeat * 4; r++) {
      const { out, ms } = await timed(s.session, feeds);
      times.push(ms);
      last = out;
    }
    outputs[name] = last;
    entry[name].msPerFrame = { p50: pct(times, 0.5), p95: pct(times, 0.95) };
  }
  if (outputs.cpu && outputs.webgpu) {
    let maxDiff = 0;
    let faces = { cpu: 0, webgpu: 0 };
    for (const key of Object.keys(outputs.cpu)) {
      const a = outputs.cpu[key].data,
        b = outputs.webgpu[key].data;
      for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
    }
    for (const stride of [8, 16, 32]) {
      for (const name of ['cpu', 'webgpu']) {
        const cls = outputs[name][`cls_${stride}`].data,
          obj = outputs[name][`obj_${stride}`].data;
        for (let i = 0; i < cls.length; i++)
          if (Math.sqrt(Math.max(0, cls[i]) * Math.max(0, obj[i])) >= 0.8) faces[name]++;
      }
    }
    entry.agreement = { maxAbsDiff: maxDiff, anchorsOver08: faces };
  }
  report.detectors[d.name] = entry;
}

if (values.json) {
  console.log(JSON.stringify(report, null, 2));
} else {
  const f = (x) => (typeof x === 'number' ? x.toFixed(2) : String(x));
  const line = (label, e) =>
    e.created
      ? `${label}: created in ${e.createMs} ms; p50 ${f((e.msPerFace ?? e.msPerFrame).p50)} ms, p95 ${f((e.msPerFace ?? e.msPerFrame).p95)} ms`
      : `${label}: NOT created (${e.error})`;
  console.log(
    `onnxruntime-node ${report.onnxruntime.node ?? '?'}; backends: ${report.backends.map((b) => b.name).join(', ')}`,
  );
  console.log(`embedder fr_feature, ${n} real faces x ${repeat}:`);
  console.log(`  ${line('cpu (1 thread)', report.embedder.cpu)}`);
  console.log(`  ${line('webgpu', report.embedder.webgpu)}`);
  if (report.embedder.agreement)
    console.log(
      `  cosine cpu vs webgpu: min ${report.embedder.agreement.minCosine.toFixed(6)}, median ${report.embedder.agreement.medianCosine.toFixed(6)}`,
    );
  for (const [name, e] of Object.entries(report.detectors)) {
    console.log(`detector ${name}:`);
    console.log(`  ${line('cpu (1 thread)', e.cpu)}`);
    console.log(`  ${line('webgpu', e.webgpu)}`);
    if (e.agreement)
      console.log(
        `  outputs' largest difference ${e.agreement.maxAbsDiff.toExponential(2)}; anchors scoring >= 0.8: cpu ${e.agreement.anchorsOver08.cpu}, webgpu ${e.agreement.anchorsOver08.webgpu}`,
      );
  }
}
