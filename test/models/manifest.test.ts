import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { projectRoot } from '../../core/project-root.js';
import {
  defaultManifestPath,
  defaultModel,
  defaultModelsDir,
  loadManifest,
  modelId,
  parseManifest,
  type Manifest,
} from '../../src/models/manifest.js';
import { MODELS_DIR } from '../helpers/shared-data.js';

// The real models, read in place (never copied into the repository).
const sharedModels = MODELS_DIR;
const sharedSums = path.resolve(sharedModels, '..', 'SHA256SUMS.data');

let manifest: Manifest;
let tmp: string;

beforeAll(async () => {
  manifest = await loadManifest();
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'facegate-models-'));
});

afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('the model manifest', () => {
  it('is models/manifest.json in the project and validates', async () => {
    expect(defaultManifestPath()).toBe(path.join(projectRoot(), 'models', 'manifest.json'));
    expect(manifest.models.map((m) => m.name).sort()).toEqual([
      'fr_feature',
      'mobilefacenet_128',
      'yunet_s_640_640',
      'yunet_s_dynamic',
    ]);
    await expect(loadManifest(path.join(tmp, 'nope.json'))).rejects.toThrow(
      /cannot read the model manifest .*nope\.json/,
    );
  });

  it('names the published sha256 and size of every shared model file', async () => {
    const sums = new Map(
      (await fs.readFile(sharedSums, 'utf8'))
        .split(/\r?\n/)
        .filter((l) => l.trim() !== '')
        .map((l) => {
          const [hash, file] = l.trim().split(/\s+/);
          return [path.basename(file ?? ''), hash] as const;
        }),
    );
    for (const entry of manifest.models) {
      expect(entry.sha256, entry.name).toBe(sums.get(entry.file));
      expect((await fs.stat(path.join(sharedModels, entry.file))).size, entry.name).toBe(entry.bytes);
    }
  });

  it('defaults to YuNet 640x640 and the 512-d fr_feature, with their roles', () => {
    expect(defaultModel(manifest, 'detector').name).toBe('yunet_s_640_640');
    expect(defaultModel(manifest, 'embedder').name).toBe('fr_feature');
    expect(
      manifest.models
        .filter((m) => m.role === 'embedder')
        .map((m) => m.name)
        .sort(),
    ).toEqual(['fr_feature', 'mobilefacenet_128']);
  });

  it('takes fr_feature from its npm package and the others from upstream URLs', () => {
    const source = (name: string) => manifest.models.find((m) => m.name === name)?.source;
    expect(source('fr_feature')).toEqual({
      npm: { package: 'faceplugin-face-recognition-js', version: '0.0.1', path: 'model/fr_feature.onnx' },
    });
    expect(source('yunet_s_640_640')).toEqual({
      url: expect.stringMatching(
        /^https:\/\/github\.com\/opencv\/opencv_zoo\/raw\/.*face_detection_yunet_2023mar\.onnx$/,
      ) as unknown,
    });
    expect(source('mobilefacenet_128')).toEqual({
      url: expect.stringMatching(
        /^https:\/\/github\.com\/foamliu\/MobileFaceNet\/raw\/.*weights\/MobileFaceNet\.onnx$/,
      ) as unknown,
    });
  });

  it('gives a model id of its name and the first 12 hex digits of its sha256', () => {
    const fr = manifest.models.find((m) => m.name === 'fr_feature');
    expect(fr && modelId(fr)).toBe('fr_feature@87aacdfe5751');
  });

  describe('refuses a manifest that is not valid, naming the key', () => {
    const valid = (): Record<string, unknown> => JSON.parse(JSON.stringify(manifest)) as Record<string, unknown>;
    const models = (m: Record<string, unknown>) => m.models as Record<string, unknown>[];
    const first = (m: Record<string, unknown>) => models(m)[0] as Record<string, unknown>;

    it('a sha256 that is not 64 hex digits', () => {
      const m = valid();
      first(m).sha256 = 'abc';
      expect(() => parseManifest(m)).toThrow(/models\.0\.sha256: expected 64 lower-case hex digits \(received "abc"\)/);
    });

    it('a file name with a folder in it, or reserved on Windows', () => {
      const m = valid();
      first(m).file = '../escape.onnx';
      expect(() => parseManifest(m)).toThrow(/models\.0\.file/);
      first(m).file = 'CON.onnx';
      expect(() => parseManifest(m)).toThrow(/models\.0\.file: a reserved file name on Windows/);
    });

    it('an npm version range instead of an exact version', () => {
      const m = valid();
      const at = models(m).findIndex((e) => e.name === 'fr_feature');
      const fr = models(m)[at] as { source: { npm: { version: string } } };
      fr.source.npm.version = '^0.0.1';
      expect(() => parseManifest(m)).toThrow(
        `models.${at}.source.npm.version: expected an exact version (x.y.z), not a range (received "^0.0.1")`,
      );
      (fr as { source: unknown }).source = { url: 'ftp://example.invalid/m.onnx' };
      expect(() => parseManifest(m)).toThrow(`models.${at}.source.url: Invalid URL`);
    });

    it('duplicate names and a default of the wrong role', () => {
      const m = valid();
      models(m).push({ ...first(m), file: 'other.onnx' });
      (m.default as Record<string, string>).embedder = 'yunet_s_640_640';
      expect(() => parseManifest(m, 'test manifest')).toThrow(/test manifest is not a valid model manifest/);
      expect(() => parseManifest(m)).toThrow(/duplicate model name yunet_s_640_640/);
      expect(() => parseManifest(m)).toThrow(
        /default\.embedder: expected the name of a listed embedder but received "yunet_s_640_640"/,
      );
    });

    it('an unknown key', () => {
      const m = valid();
      first(m).sha265 = 'typo';
      expect(() => parseManifest(m)).toThrow(/sha265/);
    });
  });
});

describe('the models folder', () => {
  it('is FACEGATE_MODELS_DIR when set, else var/models in the project', () => {
    expect(defaultModelsDir({ modelsDir: 'some/where' })).toBe(path.resolve('some/where'));
    expect(defaultModelsDir({})).toBe(path.join(projectRoot(), 'var', 'models'));
  });
});
