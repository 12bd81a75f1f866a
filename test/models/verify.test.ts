// Model files verified against the manifest before use, on the real models in place: found, missing,
// corrupted, and hashed once per process while unchanged.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadManifest, modelId, type Manifest } from '../../src/models/manifest.js';
import {
  forgetVerifiedModelFiles,
  modelHashStats,
  ModelFileMissingError,
  ModelHashMismatchError,
  resolveModelFile,
  sha256File,
} from '../../src/models/verify.js';
import { MODELS_DIR } from '../helpers/shared-data.js';

// The real models, read in place (never copied into the repository).
const sharedModels = MODELS_DIR;

let manifest: Manifest;
let tmp: string;

beforeAll(async () => {
  manifest = await loadManifest();
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'facegate-models-'));
});

afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('resolveModelFile', () => {
  it('finds and verifies every real model in place', async () => {
    for (const entry of manifest.models) {
      const resolved = await resolveModelFile(entry.name, sharedModels, manifest);
      expect(resolved.path).toBe(path.join(path.resolve(sharedModels), entry.file));
      expect(resolved.id).toBe(modelId(entry));
      expect(resolved.entry).toBe(entry);
    }
  });

  it('loads the project manifest when none is given', async () => {
    expect((await resolveModelFile('mobilefacenet_128', sharedModels)).id).toBe('mobilefacenet_128@b7120c095d60');
  });

  it('refuses an unknown model name, listing the known ones', async () => {
    await expect(resolveModelFile('arcface', sharedModels, manifest)).rejects.toThrow(
      /Expected a model name from the manifest \(.*fr_feature.*\) but received "arcface"/,
    );
  });

  it('refuses a missing file, saying how to get it', async () => {
    const error = await resolveModelFile('fr_feature', path.join(tmp, 'empty'), manifest).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelFileMissingError);
    expect((error as Error).message).toMatch(/fr_feature\.onnx is missing: run `node dist\/scripts\/fetch-models\.js`/);
  });

  it('refuses a corrupted copy, naming the file, the expected and the actual hash', async () => {
    const dir = path.join(tmp, 'corrupt');
    await fs.mkdir(dir);
    const bytes = await fs.readFile(path.join(sharedModels, 'mobilefacenet_128.onnx'));
    bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] ?? 0) ^ 0xff;
    const file = path.join(dir, 'mobilefacenet_128.onnx');
    await fs.writeFile(file, bytes);
    const actual = await sha256File(file);

    const error = await resolveModelFile('mobilefacenet_128', dir, manifest).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelHashMismatchError);
    const mismatch = error as ModelHashMismatchError;
    expect(mismatch.file).toBe(file);
    expect(mismatch.expected).toBe('b7120c095d60094f28a4a54ba6a8bf51b297a6273fb40ef6350dfec1f63d9507');
    expect(mismatch.actual).toBe(actual);
    expect(mismatch.message).toContain(file);
    expect(mismatch.message).toContain(mismatch.expected);
    expect(mismatch.message).toContain(actual);
  });

  it('hashes a file once per process while it is unchanged, and again once it changes', async () => {
    const dir = path.join(tmp, 'cache');
    await fs.mkdir(dir);
    const file = path.join(dir, 'yunet_s_640_640.onnx');
    await fs.copyFile(path.join(sharedModels, 'yunet_s_640_640.onnx'), file);
    forgetVerifiedModelFiles();

    const before = modelHashStats().filesHashed;
    await Promise.all([
      resolveModelFile('yunet_s_640_640', dir, manifest),
      resolveModelFile('yunet_s_640_640', dir, manifest),
    ]);
    expect(modelHashStats().filesHashed).toBe(before + 1);
    for (let i = 0; i < 20; i++) await resolveModelFile('yunet_s_640_640', dir, manifest);
    expect(modelHashStats().filesHashed).toBe(before + 1);

    // Same size, mtime put back: the ctime still moves, so the change is seen.
    const { mtime, atime } = await fs.stat(file);
    const bytes = await fs.readFile(file);
    bytes[100] = (bytes[100] ?? 0) ^ 0x01;
    await fs.writeFile(file, bytes);
    await fs.utimes(file, atime, mtime);
    await expect(resolveModelFile('yunet_s_640_640', dir, manifest)).rejects.toBeInstanceOf(ModelHashMismatchError);
    expect(modelHashStats().filesHashed).toBe(before + 2);
  });
});
