import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { main } from '../../scripts/fetch-models.js';
import { freePort } from '../helpers/free-port.js';
import { fetchModels } from '../../src/models/fetch.js';
import { loadManifest, parseManifest, type Manifest, type ModelEntry } from '../../src/models/manifest.js';
import { sha256File } from '../../src/models/verify.js';
import { MODELS_DIR } from '../helpers/shared-data.js';

const sharedModels = MODELS_DIR;
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

// A local HTTP server stands in for the upstream URLs (unreachable here): it serves bytes whose
// hash the test controls, other bytes under a name that claims to be them, and errors.
const good = randomBytes(300_000);
const other = randomBytes(300_000);
let server: http.Server;
let base: string;
let tmp: string;
let realManifest: Manifest;
const requests: string[] = [];

function entry(name: string, sha: string, bytes: number, source: ModelEntry['source']): ModelEntry {
  return {
    name,
    role: 'embedder',
    file: `${name}.onnx`,
    sha256: sha,
    bytes,
    input: {
      name: 'input',
      layout: 'NCHW',
      shape: [1, 3, 112, 112],
      colourOrder: 'RGB',
      normalisation: { mean: 127.5, std: 128 },
    },
    output: [{ name: 'output', shape: [1, 4] }],
    licence: 'test',
    provenance: 'test bytes',
    source,
  };
}

function testManifest(...models: ModelEntry[]): Manifest {
  const detector = { ...entry('det', sha256(other), other.length, { url: `${base}/other` }), role: 'detector' };
  const embedder = entry('emb', sha256(good), good.length, { url: `${base}/good` });
  return parseManifest({
    version: 1,
    default: { detector: 'det', embedder: 'emb' },
    models: [detector, embedder, ...models],
  });
}

async function listDir(dir: string): Promise<string[]> {
  return (await fs.readdir(dir)).sort();
}

beforeAll(async () => {
  realManifest = await loadManifest();
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'facegate-fetch-'));
  server = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    const send = (body: Buffer) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
      res.end(body);
    };
    if (req.url === '/good') send(good);
    else if (req.url === '/other') send(other);
    else if (req.url === '/redirect') {
      res.writeHead(302, { location: '/good' });
      res.end();
    } else if (req.url === '/chunked-big') {
      // No content-length: the size limit must hold while streaming.
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write(good);
      res.end(good);
    } else {
      res.writeHead(404);
      res.end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('fetchModels from a URL', () => {
  it('downloads, verifies and then finds the file present', async () => {
    const dest = path.join(tmp, 'url-ok');
    const manifest = testManifest(entry('m', sha256(good), good.length, { url: `${base}/redirect` }));
    const [result] = await fetchModels({ dest, manifest, names: ['m'] });
    expect(result).toMatchObject({
      name: 'm',
      status: 'fetched',
      from: `${base}/redirect`,
      file: path.join(dest, 'm.onnx'),
    });
    expect(sha256(await fs.readFile(path.join(dest, 'm.onnx')))).toBe(sha256(good));

    const count = requests.length;
    const [again] = await fetchModels({ dest, manifest, names: ['m'] });
    expect(again).toMatchObject({ status: 'present', from: dest });
    expect(requests.length).toBe(count);
  });

  it('refuses bytes whose sha256 is not the manifest one, and leaves nothing at the destination', async () => {
    const dest = path.join(tmp, 'url-mismatch');
    const manifest = testManifest(entry('m', sha256(good), good.length, { url: `${base}/other` }));
    const [result] = await fetchModels({ dest, manifest, names: ['m'] });
    expect(result?.status).toBe('failed');
    expect(result?.error).toContain(
      `${base}/other has sha256 ${sha256(other)} but the manifest expects ${sha256(good)}`,
    );
    expect(await listDir(dest)).toEqual([]);
  });

  it('cuts off a download larger than the manifest says, with or without a content-length', async () => {
    const dest = path.join(tmp, 'url-big');
    const manifest = testManifest(
      entry('a', sha256(good), good.length - 1, { url: `${base}/good` }),
      entry('b', sha256(good), good.length, { url: `${base}/chunked-big` }),
    );
    const results = await fetchModels({ dest, manifest, names: ['a', 'b'] });
    expect(results.map((r) => r.status)).toEqual(['failed', 'failed']);
    expect(results[0]?.error).toMatch(/is 300000 bytes, larger than the manifest's 299999/);
    expect(results[1]?.error).toMatch(/chunked-big is larger than the manifest's 300000 bytes/);
    expect(await listDir(dest)).toEqual([]);
  });

  it('reports an HTTP error and an unreachable host, and goes on with the next model', async () => {
    const dest = path.join(tmp, 'url-errors');
    const closed = await freePort();
    const manifest = testManifest(
      entry('gone', sha256(good), good.length, { url: `${base}/gone` }),
      entry('unreachable', sha256(good), good.length, { url: `http://127.0.0.1:${closed}/x` }),
      entry('m', sha256(good), good.length, { url: `${base}/good` }),
    );
    const results = await fetchModels({ dest, manifest, names: ['gone', 'unreachable', 'm'] });
    expect(results.map((r) => r.status)).toEqual(['failed', 'failed', 'fetched']);
    expect(results[0]?.error).toMatch(/HTTP 404/);
    expect(results[1]?.error).toMatch(new RegExp(`cannot download http://127\\.0\\.0\\.1:${closed}/x: .*ECONNREFUSED`));
    expect(await listDir(dest)).toEqual(['m.onnx']);
  });

  it('replaces a wrong file already at the destination', async () => {
    const dest = path.join(tmp, 'url-replace');
    await fs.mkdir(dest);
    await fs.writeFile(path.join(dest, 'm.onnx'), 'not a model');
    const manifest = testManifest(entry('m', sha256(good), good.length, { url: `${base}/good` }));
    const [result] = await fetchModels({ dest, manifest, names: ['m'] });
    expect(result?.status).toBe('fetched');
    expect(result?.notes.join()).toMatch(/had sha256 [0-9a-f]{64}, not the manifest's: replacing it/);
    expect(sha256(await fs.readFile(path.join(dest, 'm.onnx')))).toBe(sha256(good));
  });

  it('refuses a model name the manifest does not have', async () => {
    await expect(fetchModels({ dest: path.join(tmp, 'x'), manifest: testManifest(), names: ['nope'] })).rejects.toThrow(
      /received "nope"/,
    );
  });
});

describe('fetchModels from a local folder', () => {
  it('copies the real models with the right hash from the shared folder', async () => {
    const dest = path.join(tmp, 'local');
    const results = await fetchModels({
      dest,
      from: sharedModels,
      manifest: realManifest,
      names: ['yunet_s_640_640', 'mobilefacenet_128'],
    });
    expect(results.map((r) => [r.name, r.status, r.from])).toEqual([
      ['yunet_s_640_640', 'copied', path.resolve(sharedModels)],
      ['mobilefacenet_128', 'copied', path.resolve(sharedModels)],
    ]);
    expect(await sha256File(path.join(dest, 'mobilefacenet_128.onnx'))).toBe(
      'b7120c095d60094f28a4a54ba6a8bf51b297a6273fb40ef6350dfec1f63d9507',
    );
    expect(await listDir(dest)).toEqual(['mobilefacenet_128.onnx', 'yunet_s_640_640.onnx']);
  });

  it('passes over a local copy with the wrong hash and goes to the source', async () => {
    const from = path.join(tmp, 'local-wrong');
    const dest = path.join(tmp, 'local-wrong-dest');
    await fs.mkdir(from);
    await fs.writeFile(path.join(from, 'm.onnx'), other);
    const manifest = testManifest(entry('m', sha256(good), good.length, { url: `${base}/good` }));
    const [result] = await fetchModels({ dest, from, manifest, names: ['m'] });
    expect(result).toMatchObject({ status: 'fetched', from: `${base}/good` });
    expect(result?.notes.join()).toContain(
      `local copy not used: ${path.join(from, 'm.onnx')} has sha256 ${sha256(other)}`,
    );
  });
});

describe('fetchModels from an npm package', () => {
  it('takes fr_feature out of faceplugin-face-recognition-js@0.0.1 with npm pack (real registry)', async () => {
    const dest = path.join(tmp, 'npm');
    const fr = realManifest.models.find((m) => m.name === 'fr_feature');
    if (fr === undefined || !('npm' in fr.source))
      throw new Error('fr_feature with an npm source missing from the manifest');
    // A second entry from the same package whose path is not in it: one pack serves both.
    const missing = {
      ...fr,
      name: 'fr_missing',
      file: 'fr_missing.onnx',
      source: { npm: { ...fr.source.npm, path: 'model/nope.onnx' } },
    };
    const manifest = parseManifest({ ...realManifest, models: [...realManifest.models, missing] });
    const started = performance.now();
    const results = await fetchModels({ dest, manifest, names: ['fr_feature', 'fr_missing'] });
    console.info(`npm pack + extract of fr_feature: ${Math.round(performance.now() - started)} ms`);
    expect(results[0]).toMatchObject({
      name: 'fr_feature',
      status: 'fetched',
      from: 'npm faceplugin-face-recognition-js@0.0.1',
    });
    expect(await sha256File(path.join(dest, 'fr_feature.onnx'))).toBe(fr.sha256);
    expect(results[1]).toMatchObject({
      status: 'failed',
      error: 'npm faceplugin-face-recognition-js@0.0.1 has no model/nope.onnx',
    });
    expect(await listDir(dest)).toEqual(['fr_feature.onnx']);
  });

  it('reports a package npm cannot find', async () => {
    const manifest = testManifest(
      entry('m', sha256(good), good.length, {
        npm: { package: 'facegate-no-such-package-zz9', version: '0.0.1', path: 'm.onnx' },
      }),
    );
    const [result] = await fetchModels({ dest: path.join(tmp, 'npm-missing'), manifest, names: ['m'] });
    expect(result?.status).toBe('failed');
    expect(result?.error).toMatch(/npm pack facegate-no-such-package-zz9@0\.0\.1 failed: exit code/);
  });
});

describe('scripts/fetch-models', () => {
  function capture() {
    const out: string[] = [];
    const err: string[] = [];
    return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
  }

  it('prints one line per model and exits 0, then finds them present', async () => {
    const dest = path.join(tmp, 'script');
    const first = capture();
    expect(
      await main(['--dest', dest, '--from', sharedModels, '--only', 'yunet_s_640_640,mobilefacenet_128'], first.io),
    ).toBe(0);
    expect(first.out).toHaveLength(2);
    expect(first.out[0]).toMatch(
      /^copied {2}yunet_s_640_640 {2}from .* to .*yunet_s_640_640\.onnx \((\d+ ms|\d+\.\d s)\)$/,
    );
    expect(first.out[1]).toMatch(/^copied {2}mobilefacenet_128 /);

    const second = capture();
    expect(
      await main(['--dest', dest, '--only', 'yunet_s_640_640', '--only', 'mobilefacenet_128', '--json'], second.io),
    ).toBe(0);
    const report = JSON.parse(second.out.join('')) as { ok: boolean; models: { status: string }[] };
    expect(report.ok).toBe(true);
    expect(report.models.map((m) => m.status)).toEqual(['present', 'present']);
  });

  it('exits 1 when a model fails, 2 on a usage error or an unknown model', async () => {
    const manifestFile = path.join(tmp, 'bad-manifest.json');
    await fs.writeFile(
      manifestFile,
      JSON.stringify(testManifest(entry('m', sha256(good), good.length, { url: `${base}/other` }))),
    );
    const failing = capture();
    expect(
      await main(['--manifest', manifestFile, '--dest', path.join(tmp, 'script-bad'), '--only', 'm'], failing.io),
    ).toBe(1);
    expect(failing.err).toHaveLength(1);
    expect(failing.err[0]).toMatch(/^failed {3}m {2}.*has sha256/);

    const usage = capture();
    expect(await main(['--bogus'], usage.io)).toBe(2);
    expect(usage.err.join()).toMatch(/usage: fetch-models/);
    const unknown = capture();
    expect(await main(['--dest', path.join(tmp, 'script-unknown'), '--only', 'nope'], unknown.io)).toBe(2);
    expect(unknown.err.join()).toMatch(/received "nope"/);
  });
});
