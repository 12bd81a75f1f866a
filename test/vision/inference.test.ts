import path from 'node:path';
import { Writable } from 'node:stream';

import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { readEnvironment } from '../../src/config/environment.js';
import { projectRoot } from '../../src/project-root.js';
import { concreteShape, createSession, preferredProvider, sessionIo, warmUp, type ModelSession } from '../../src/vision/inference.js';
import { loadManifest, resolveModelFile, type Manifest } from '../../src/vision/models.js';

// The real models, read in place and verified before use.
const sharedModels = readEnvironment().modelsDir ?? path.resolve(projectRoot(), '..', 'shared', 'models');

let manifest: Manifest;
const sessions: ModelSession[] = [];

async function open(name: string, options: Parameters<typeof createSession>[1] = { provider: 'cpu' }): Promise<ModelSession> {
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

describe('createSession', () => {
  it('runs on the CPU when asked, with no fallback', async () => {
    const { logger, lines } = recordingLogger();
    const created = await open('mobilefacenet_128', { provider: 'cpu', intraOpThreads: 1, logger });
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
    expect(warning).toMatchObject({ tried: 'cuda', requested: 'cuda', msg: 'GPU execution provider unavailable; falling back to CPU' });
    expect(lines.at(-1)).toMatchObject({ level: 30, provider: 'cpu', fallback: created.fallback });
  });

  it.skipIf(process.platform === 'win32')('falls back to the CPU when DirectML is asked for off Windows', async () => {
    const created = await open('mobilefacenet_128', { provider: 'dml' });
    expect(created.provider).toBe('cpu');
    expect(created.fallback).toMatch(/^dml execution provider unavailable: .*backend not found/);
  });

  it('auto takes the GPU the platform has, else the CPU, saying why', async () => {
    const created = await open('yunet_s_640_640', { provider: 'auto' });
    const wanted = preferredProvider('auto');
    if (wanted === 'cpu') expect(created.fallback).toBeUndefined();
    else if (created.provider === 'cpu') expect(created.fallback).toMatch(new RegExp(`^${wanted} execution provider unavailable \\(auto\\): `));
    expect(created.requested).toBe('auto');
  });

  it('refuses a bad provider, a bad thread count and a missing file', async () => {
    const file = path.join(sharedModels, 'mobilefacenet_128.onnx');
    await expect(createSession(file, { provider: 'gpu' as never })).rejects.toThrow('Expected provider auto | cpu | cuda | dml but received "gpu"');
    await expect(createSession(file, { provider: 'cpu', intraOpThreads: 0 })).rejects.toThrow(/intraOpThreads .* received 0/);
    await expect(createSession(path.join(sharedModels, 'absent.onnx'), { provider: 'cuda' })).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('the sessions of the real models', () => {
  it("declare the inputs and outputs the manifest lists", async () => {
    for (const entry of manifest.models) {
      const { session } = await open(entry.name);
      const io = sessionIo(session);
      expect(io.inputs, entry.name).toEqual([{ name: entry.input.name, type: 'float32', shape: entry.input.shape }]);
      expect(io.outputs.map((o) => ({ name: o.name, shape: o.shape })), entry.name).toEqual(entry.output);
    }
  });

  it('read the embedding dimension from the model: 512 for fr_feature, 128 for mobilefacenet', async () => {
    for (const [name, dim] of [['fr_feature', 512], ['mobilefacenet_128', 128]] as const) {
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
    expect(() => concreteShape(input)).toThrow('Expected a size for dynamic dimension "height" of input input (pass it in dims) but received none');
    await expect(warmUp(session)).rejects.toThrow(/dynamic dimension "height"/);
    const dynamic = await warmUp(session, { dims: { height: 320, width: 480 } });
    // stride 8 over 320 x 480: 40 x 60 anchors
    expect(dynamic.outputs).toMatchObject({ cls_8: [1, 2400, 1], kps_32: [1, 150, 10] });
  });
});
