import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Writable } from 'node:stream';

import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { readEnvironment } from '../../src/config/environment.js';
import { projectRoot } from '../../core/project-root.js';
import {
  concreteShape,
  createSession,
  DEFAULT_INTRA_OP_THREADS,
  facegateCpuTuning,
  ORT_DEFAULT_CPU,
  preferredProvider,
  providerFor,
  sessionIo,
  sessionOptions,
  warmUp,
  type ModelSession,
} from '../../src/vision/inference.js';
import { loadManifest, type Manifest } from '../../src/models/manifest.js';
import { resolveModelFile } from '../../src/models/verify.js';

// The real models, read in place and verified before use.
const sharedModels = readEnvironment().modelsDir ?? path.resolve(projectRoot(), '..', 'shared', 'models');

let manifest: Manifest;
const sessions: ModelSession[] = [];

async function open(
  name: string,
  options: Parameters<typeof createSession>[1] = { provider: 'cpu' },
): Promise<ModelSession> {
  const { path: file } = await resolveModelFile(name, sharedModels, manifest);
  const created = await createSession(file, options);
  sessions.push(created);
  return created;
}

function recordingLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

beforeAll(async () => {
  manifest = await loadManifest();
});

afterAll(async () => {
  for (const { session } of sessions) await session.release();
});

describe('preferredProvider', () => {
  it('asks auto for DirectML on Windows, CUDA on Linux x64 and the CPU elsewhere', () => {
    expect(preferredProvider('auto', 'win32', 'x64')).toBe('dml');
    expect(preferredProvider('auto', 'win32', 'arm64')).toBe('dml');
    expect(preferredProvider('auto', 'linux', 'x64')).toBe('cuda');
    expect(preferredProvider('auto', 'linux', 'arm64')).toBe('cpu');
    expect(preferredProvider('auto', 'darwin', 'arm64')).toBe('cpu');
    expect(preferredProvider('cuda', 'win32', 'x64')).toBe('cuda');
    expect(preferredProvider('cpu', 'linux', 'x64')).toBe('cpu');
  });
});

describe('sessionOptions', () => {
  it('flushes denormals and does not spin, for both models, with the measured threads per model', () => {
    for (const role of ['detector', 'embedder'] as const) {
      const o = sessionOptions('cpu', facegateCpuTuning(role));
      expect(o.extra).toEqual({
        session: { set_denormal_as_zero: '1', intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } },
      });
      expect(o.intraOpNumThreads).toBe(DEFAULT_INTRA_OP_THREADS[role]);
      expect(o.executionProviders).toEqual(['cpu']);
    }
    // The embedder is small: one thread beat two on both CPUs measured.
    expect(sessionOptions('cpu', facegateCpuTuning('embedder')).intraOpNumThreads).toBe(1);
    // The config's inference.intraOpThreads overrides both models' threads, nothing else.
    expect(sessionOptions('cpu', facegateCpuTuning('detector', 3))).toMatchObject({
      intraOpNumThreads: 3,
      extra: { session: { set_denormal_as_zero: '1' } },
    });
  });

  it("builds ONNX Runtime's defaults for the benchmark's baseline", () => {
    const o = sessionOptions('cpu', ORT_DEFAULT_CPU);
    expect(o.intraOpNumThreads).toBeUndefined();
    expect(o.extra).toEqual({
      session: { set_denormal_as_zero: '0', intra_op: { allow_spinning: '1' }, inter_op: { allow_spinning: '1' } },
    });
  });

  // ONNX Runtime ignores config keys it does not know, silently: only its own log shows whether the
  // entries took effect. A child process (the flush-to-zero flag is set once per process).
  it('reach ONNX Runtime as the config entries it acts on', async () => {
    const { path: model } = await resolveModelFile('mobilefacenet_128', sharedModels, manifest);
    const run = (tuning: typeof ORT_DEFAULT_CPU) => {
      const options = JSON.stringify({ ...sessionOptions('cpu', tuning), logSeverityLevel: 1 });
      const script = `import ort from 'onnxruntime-node';
        ort.env.logLevel = 'info';
        const s = await ort.InferenceSession.create(${JSON.stringify(model)}, ${options});
        await s.release();`;
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        cwd: projectRoot(),
        encoding: 'utf8',
      });
      expect(r.status, r.stderr).toBe(0);
      return r.stdout + r.stderr;
    };
    const ours = run(facegateCpuTuning('embedder'));
    expect(ours).toContain('Flush-to-zero and denormal-as-zero are on');
    expect(ours).toMatch(/session\.intra_op\.allow_spinning: 0/);
    expect(ours).toMatch(/intra_op_param:OrtThreadPoolParams \{ thread_pool_size: 1 /);
    const defaults = run(ORT_DEFAULT_CPU);
    expect(defaults).toContain('Flush-to-zero and denormal-as-zero are off');
    expect(defaults).toMatch(/session\.intra_op\.allow_spinning: 1/);
  });
});

describe('createSession', () => {
  it('runs on the CPU when asked, with no fallback', async () => {
    const { logger, lines } = recordingLogger();
    const created = await open('mobilefacenet_128', { provider: 'cpu', cpu: facegateCpuTuning('embedder', 1), logger });
    expect(created.provider).toBe('cpu');
    expect(created.requested).toBe('cpu');
    expect(created.fallback).toBeUndefined();
    expect(created.ms).toBeGreaterThan(0);
    expect(lines.map((l) => [l.level, l.msg, l.provider])).toEqual([[30, 'inference session ready', 'cpu']]);
  });

  // No GPU and no CUDA libraries on this machine kind (TOOLING.md): the GPU paths must fail soft.
  it.skipIf(process.platform !== 'linux')('falls back to the CPU with the reason when CUDA cannot load', async () => {
    const { logger, lines } = recordingLogger();
    const created = await open('fr_feature', { provider: 'cuda', logger });
    if (created.provider === 'cuda') return; // a machine with a working CUDA
    expect(created.provider).toBe('cpu');
    expect(created.requested).toBe('cuda');
    expect(created.fallback).toMatch(/^cuda execution provider unavailable: .*Failed to load shared library/);
    const warning = lines.find((l) => l.level === 40);
    expect(warning).toMatchObject({
      tried: 'cuda',
      requested: 'cuda',
      msg: 'GPU execution provider unavailable; falling back to CPU',
    });
    expect(lines.at(-1)).toMatchObject({ level: 30, provider: 'cpu', fallback: created.fallback });
  });

  it.skipIf(process.platform === 'win32')('falls back to the CPU when DirectML is asked for off Windows', async () => {
    const created = await open('mobilefacenet_128', { provider: 'dml' });
    expect(created.provider).toBe('cpu');
    expect(created.fallback).toMatch(/^dml execution provider unavailable: .*backend not found/);
  });

  // WebGPU is bundled in onnxruntime-node; with no GPU it finds no adapter, and falls back like the others.
  it('falls back to the CPU with the reason when WebGPU finds no adapter', async () => {
    const created = await open('fr_feature', { provider: 'webgpu' });
    if (created.provider === 'webgpu') return; // a machine with a GPU and its Vulkan driver
    expect(created.provider).toBe('cpu');
    expect(created.requested).toBe('webgpu');
    expect(created.fallback).toMatch(/^webgpu execution provider unavailable: .*adapter/);
  });

  it('gives WebGPU the embedder only: the detectors measured slower there than on one CPU thread', () => {
    expect(providerFor('embedder', 'webgpu')).toBe('webgpu');
    expect(providerFor('detector', 'webgpu')).toBe('cpu');
    for (const p of ['auto', 'cpu', 'cuda', 'dml'] as const) {
      expect(providerFor('detector', p)).toBe(p);
      expect(providerFor('embedder', p)).toBe(p);
    }
    expect(sessionOptions('webgpu', facegateCpuTuning('embedder')).executionProviders).toEqual(['webgpu']);
  });

  it('auto takes the GPU the platform has, else the CPU, saying why', async () => {
    const created = await open('yunet_s_640_640', { provider: 'auto' });
    const wanted = preferredProvider('auto');
    if (wanted === 'cpu') expect(created.fallback).toBeUndefined();
    else if (created.provider === 'cpu')
      expect(created.fallback).toMatch(new RegExp(`^${wanted} execution provider unavailable \\(auto\\): `));
    expect(created.requested).toBe('auto');
  });

  it('refuses a bad provider, a bad thread count and a missing file', async () => {
    const file = path.join(sharedModels, 'mobilefacenet_128.onnx');
    await expect(createSession(file, { provider: 'gpu' as never })).rejects.toThrow(
      'Expected provider auto | cpu | cuda | dml | webgpu but received "gpu"',
    );
    await expect(createSession(file, { provider: 'cpu', cpu: facegateCpuTuning('embedder', 0) })).rejects.toThrow(
      /intraOpThreads .* received 0/,
    );
    await expect(createSession(path.join(sharedModels, 'absent.onnx'), { provider: 'cuda' })).rejects.toMatchObject({
      code: 'ENOENT',
    });
  });
});

describe('the sessions of the real models', () => {
  it('declare the inputs and outputs the manifest lists', async () => {
    for (const entry of manifest.models) {
      const { session } = await open(entry.name);
      const io = sessionIo(session);
      expect(io.inputs, entry.name).toEqual([{ name: entry.input.name, type: 'float32', shape: entry.input.shape }]);
      expect(
        io.outputs.map((o) => ({ name: o.name, shape: o.shape })),
        entry.name,
      ).toEqual(entry.output);
    }
  });

  it('read the embedding dimension from the model: 512 for fr_feature, 128 for mobilefacenet', async () => {
    for (const [name, dim] of [
      ['fr_feature', 512],
      ['mobilefacenet_128', 128],
    ] as const) {
      const { session } = await open(name);
      const [output] = sessionIo(session).outputs;
      expect(output?.shape.at(-1)).toBe(dim);
      const run = await warmUp(session);
      expect(run.outputs[output?.name ?? '']).toEqual([1, dim]);
    }
  });

  it('warm up on zeros of the input shape, the dynamic detector at the size it is given', async () => {
    const fixed = await warmUp((await open('yunet_s_640_640')).session);
    expect(fixed.outputs).toMatchObject({ cls_8: [1, 6400, 1], bbox_16: [1, 1600, 4], kps_32: [1, 400, 10] });
    expect(fixed.ms).toBeGreaterThan(0);

    const { session } = await open('yunet_s_dynamic');
    const [input] = sessionIo(session).inputs;
    if (input === undefined) throw new Error('no input');
    expect(() => concreteShape(input)).toThrow(
      'Expected a size for dynamic dimension "height" of input input (pass it in dims) but received none',
    );
    await expect(warmUp(session)).rejects.toThrow(/dynamic dimension "height"/);
    const dynamic = await warmUp(session, { dims: { height: 320, width: 480 } });
    // stride 8 over 320 x 480: 40 x 60 anchors
    expect(dynamic.outputs).toMatchObject({ cls_8: [1, 2400, 1], kps_32: [1, 150, 10] });
  });
});
