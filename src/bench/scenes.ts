// `bench pipeline --scene site`: recorded scenes that look like a site, so that the benchmark
// measures what a camera PC does (mostly empty corridors, a queue, someone standing still) and not
// only the face-dense worst case. The scenes are composed here from the shared photos (faces cut
// from them, blended onto a still backdrop), encoded ONCE before the run with ffmpeg's libx264
// (1280x720 H.264 at 5 fps) into a scratch folder, and then played by the cameras in real time
// (`replay:<file>`, camera/ffmpeg-args.ts) without re-encoding, so no encoder competes with the
// pipeline. Each scene keeps its script: who is in view when, the ground truth that says whether
// every person got a decision and whether the enrolled person was named.
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import sharp from 'sharp';

import { seededRandom } from '../seeded-random.js';
import type { FaceAnalyzer } from '../vision/face-analyzer.js';
import type { RgbImage } from '../vision/types.js';

export const SCENE_NAMES = ['corridor', 'queue', 'standing'] as const;
export type SceneName = (typeof SCENE_NAMES)[number];

/** The enrolled person's user id (obama/ is enrolled as the known person). */
export const KNOWN_USER_ID = 'obama';

/** One person in view: from startS to endS of the scene's clock (fully inside the frame). */
export interface Passage {
  person: string;
  known: boolean;
  startS: number;
  endS: number;
}

/** One encoded scene and its ground truth (scenes.json in the scenes folder). */
export interface SceneScript {
  /** "corridor-1": the scene and its variant (cameras on the same scene get different variants). */
  id: string;
  scene: SceneName;
  /** The H.264 file, relative to the scenes folder. */
  file: string;
  seconds: number;
  fps: number;
  width: number;
  height: number;
  passages: Passage[];
}

export interface SceneSet {
  dir: string;
  scripts: SceneScript[];
}

export const SCENE_FPS = 5;
export const SCENE_WIDTH = 1280;
export const SCENE_HEIGHT = 720;
const MANIFEST = 'scenes.json';

// ---------------------------------------------------------------------------------------------
// People and their faces

interface Person {
  name: string;
  known: boolean;
  photos: string[];
}

/** A face cut from a photo, scaled to an eye distance, with a feathered elliptic alpha. */
interface Sprite {
  width: number;
  height: number;
  rgb: Uint8Array;
  /** 0..255 per pixel. */
  alpha: Uint8Array;
}

async function people(photosDir: string): Promise<{ known: Person; strangers: Person[] }> {
  const list = async (dir: string) =>
    (await fs.readdir(dir))
      .filter((f) => /\.(jpe?g|png)$/i.test(f))
      .sort()
      .map((f) => path.join(dir, f));
  const known: Person = { name: KNOWN_USER_ID, known: true, photos: await list(path.join(photosDir, 'obama')) };
  const strangers: Person[] = [{ name: 'biden', known: false, photos: await list(path.join(photosDir, 'biden')) }];
  const lfw = path.join(photosDir, 'lfw10');
  for (const entry of (await fs.readdir(lfw, { withFileTypes: true })).filter((e) => e.isDirectory()).sort()) {
    // Photos are tried in turn until one's face passes the quality gate (some are in profile).
    strangers.push({ name: entry.name, known: false, photos: await list(path.join(lfw, entry.name)) });
  }
  if (known.photos.length === 0 || strangers.length < 2) {
    throw new Error(
      `Expected obama/ with photos and at least two strangers (biden/, lfw10/<person>/) in ${photosDir} but found ${known.photos.length} known photo(s) and ${strangers.length} stranger(s)`,
    );
  }
  return { known, strangers };
}

class SpriteMaker {
  private readonly faces = new Map<string, { image: RgbImage; box: number[]; eyes: number } | null>();
  private readonly sprites = new Map<string, Sprite | null>();

  constructor(private readonly analyzer: FaceAnalyzer) {}

  /** The largest accepted face of a photo (null when it has none the quality gate accepts). */
  private async face(file: string) {
    if (!this.faces.has(file)) {
      const { data, info } = await sharp(file).rotate().removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const image: RgbImage = { width: info.width, height: info.height, data: new Uint8Array(data) };
      const found = (await this.analyzer.analyze(image))
        .filter((a) => a.quality.accepted)
        .sort((a, b) => b.face.box[2] * b.face.box[3] - a.face.box[2] * a.face.box[3])[0];
      const eyes = found
        ? Math.hypot(
            found.face.landmarks.leftEye[0] - found.face.landmarks.rightEye[0],
            found.face.landmarks.leftEye[1] - found.face.landmarks.rightEye[1],
          )
        : 0;
      this.faces.set(file, found && eyes > 0 ? { image, box: found.face.box, eyes } : null);
    }
    return this.faces.get(file) ?? null;
  }

  async sprite(file: string, eyePx: number): Promise<Sprite | null> {
    const key = `${file}@${eyePx}`;
    if (!this.sprites.has(key)) {
      const face = await this.face(file);
      let sprite: Sprite | null = null;
      if (face) {
        const [bx = 0, by = 0, bw = 0, bh = 0] = face.box;
        const side = 2 * Math.max(bw, bh);
        const cx = bx + bw / 2;
        const cy = by + bh / 2;
        const left = Math.max(0, Math.round(cx - side / 2));
        const top = Math.max(0, Math.round(cy - side / 2));
        const width = Math.min(face.image.width, Math.round(cx + side / 2)) - left;
        const height = Math.min(face.image.height, Math.round(cy + side / 2)) - top;
        const scale = eyePx / face.eyes;
        const out = { w: Math.max(8, Math.round(width * scale)), h: Math.max(8, Math.round(height * scale)) };
        const rgb = await sharp(Buffer.from(face.image.data), {
          raw: { width: face.image.width, height: face.image.height, channels: 3 },
        })
          .extract({ left, top, width, height })
          .resize(out.w, out.h)
          .raw()
          .toBuffer();
        // An ellipse around the face, feathered over its outer fifth: no hard edge of a pasted card.
        const alpha = new Uint8Array(out.w * out.h);
        for (let y = 0; y < out.h; y++) {
          for (let x = 0; x < out.w; x++) {
            const dx = (x + 0.5 - out.w / 2) / (out.w / 2);
            const dy = (y + 0.5 - out.h / 2) / (out.h / 2);
            const r = Math.sqrt(dx * dx + dy * dy);
            alpha[y * out.w + x] = Math.round(255 * Math.min(1, Math.max(0, (1 - r) / 0.2)));
          }
        }
        sprite = { width: out.w, height: out.h, rgb: new Uint8Array(rgb), alpha };
      }
      this.sprites.set(key, sprite);
    }
    return this.sprites.get(key) ?? null;
  }

  /** A usable photo of the person (one whose face the gate accepts), the n-th in turn. */
  async photoOf(person: Person, n: number): Promise<string> {
    for (let i = 0; i < person.photos.length; i++) {
      const file = person.photos[(n + i) % person.photos.length] as string;
      if (await this.face(file)) return file;
    }
    throw new Error(`Expected a photo of ${person.name} with a face the quality gate accepts but found none`);
  }
}

// ---------------------------------------------------------------------------------------------
// The scenes' scripts: who is where, frame by frame

/** One person on screen: the passage and where the sprite's top-left corner is at time t. */
interface Actor {
  passage: Passage;
  photo: string;
  eyePx: number;
  at(t: number): { x: number; y: number };
}

interface PeopleCycle {
  next(wantKnown: boolean): Person;
}

function cycle(known: Person, strangers: Person[], offset: number): PeopleCycle {
  let s = offset;
  return { next: (wantKnown) => (wantKnown ? known : (strangers[s++ % strangers.length] as Person)) };
}

/** A plain corridor: a person crosses the frame in ~3 s now and then (7-10 s apart), known and strangers in turn. */
function corridor(seconds: number, rnd: () => number, who: PeopleCycle): Omit<Actor, 'photo'>[] {
  const actors: Omit<Actor, 'photo'>[] = [];
  let t = 1 + rnd() * 2;
  for (let i = 0; t + 3 < seconds; i++) {
    const person = who.next(i % 2 === 0);
    const cross = 2.6 + rnd() * 0.8;
    const start = t;
    const eyePx = 46 + Math.round(rnd() * 24);
    const y = 120 + rnd() * 260;
    const leftToRight = rnd() < 0.5;
    const span = SCENE_WIDTH - 4 * eyePx - 40;
    actors.push({
      passage: { person: person.name, known: person.known, startS: start, endS: start + cross },
      eyePx,
      at: (now) => {
        const f = (now - start) / cross;
        return { x: 20 + span * (leftToRight ? f : 1 - f), y: y + 6 * Math.sin(f * Math.PI * 3) };
      },
    });
    t = start + cross + 7 + rnd() * 3;
  }
  return actors;
}

/**
 * A queue: four places in view, each holding a person for ~40 s, swaying a few px per frame; the
 * places change hands 10 s apart, so someone leaves and someone new arrives every ~10 s. Every
 * fourth arrival is the known person (never twice at once).
 */
function queue(seconds: number, rnd: () => number, who: PeopleCycle): Omit<Actor, 'photo'>[] {
  const actors: Omit<Actor, 'photo'>[] = [];
  const places = 4;
  const dwell = 39;
  let arrival = 0;
  for (let place = 0; place < places; place++) {
    // Everyone is in place at 0; the first departures are 10 s apart.
    let start = 0;
    let end = 10 * (place + 1) - 1;
    while (start < seconds) {
      const person = who.next(arrival++ % 4 === 1);
      const eyePx = 42 + Math.round(rnd() * 14);
      const baseX = 40 + place * 310 + rnd() * 40;
      const baseY = 140 + rnd() * 200;
      const phase = rnd() * 6;
      const from = start;
      actors.push({
        passage: { person: person.name, known: person.known, startS: from, endS: Math.min(end, seconds) },
        eyePx,
        at: (now) => ({
          x: baseX + 8 * Math.sin(now * 1.3 + phase),
          y: baseY + 5 * Math.sin(now * 0.9 + phase * 2),
        }),
      });
      start = end + 1;
      end = start + dwell;
    }
  }
  return actors;
}

/** Someone standing still for 20 s, then 5 s of nobody, then someone else; known and strangers in turn. */
function standing(seconds: number, rnd: () => number, who: PeopleCycle): Omit<Actor, 'photo'>[] {
  const actors: Omit<Actor, 'photo'>[] = [];
  let t = 1;
  for (let i = 0; t < seconds; i++) {
    const person = who.next(i % 2 === 0);
    const eyePx = 50 + Math.round(rnd() * 20);
    const x = 200 + rnd() * 600;
    const y = 100 + rnd() * 250;
    actors.push({
      passage: { person: person.name, known: person.known, startS: t, endS: Math.min(t + 20, seconds) },
      eyePx,
      at: () => ({ x, y }),
    });
    t += 25;
  }
  return actors;
}

// ---------------------------------------------------------------------------------------------
// Pixels and encoding

/** A still backdrop: a soft gradient with a door-like panel and fixed grain (nothing a detector takes for a face). */
function backdrop(width: number, height: number, rnd: () => number): Buffer {
  const out = Buffer.alloc(width * height * 3);
  const tint = [150 + rnd() * 40, 140 + rnd() * 40, 120 + rnd() * 40];
  const door = {
    x: Math.round(width * (0.2 + rnd() * 0.5)),
    w: Math.round(width * 0.15),
    top: Math.round(height * 0.2),
  };
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const shade = 0.75 + 0.25 * (x / width) - 0.15 * (y / height);
      const inDoor = x >= door.x && x < door.x + door.w && y >= door.top;
      const floor = y > height * 0.82;
      const grain = (rnd() - 0.5) * 10;
      for (let c = 0; c < 3; c++) {
        const base = (tint[c] as number) * shade * (inDoor ? 0.6 : 1) * (floor ? 0.7 : 1);
        out[(y * width + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(base + grain)));
      }
    }
  }
  return out;
}

function blend(frame: Buffer, width: number, height: number, sprite: Sprite, x0: number, y0: number): void {
  const ox = Math.round(x0);
  const oy = Math.round(y0);
  for (let y = 0; y < sprite.height; y++) {
    const fy = oy + y;
    if (fy < 0 || fy >= height) continue;
    for (let x = 0; x < sprite.width; x++) {
      const fx = ox + x;
      if (fx < 0 || fx >= width) continue;
      const a = sprite.alpha[y * sprite.width + x] as number;
      if (a === 0) continue;
      const s = (y * sprite.width + x) * 3;
      const d = (fy * width + fx) * 3;
      for (let c = 0; c < 3; c++) {
        frame[d + c] = ((sprite.rgb[s + c] as number) * a + (frame[d + c] as number) * (255 - a) + 127) / 255;
      }
    }
  }
}

/** Pipes raw rgb24 frames into ffmpeg's libx264 and resolves when the file is written. */
async function encode(
  file: string,
  frames: number,
  frameAt: (i: number) => Promise<Buffer>,
  ffmpegPath: string,
): Promise<void> {
  const child = spawn(
    ffmpegPath,
    [
      ...['-hide_banner', '-nostats', '-loglevel', 'error', '-y'],
      ...['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${SCENE_WIDTH}x${SCENE_HEIGHT}`, '-r', String(SCENE_FPS)],
      ...['-i', 'pipe:0'],
      ...['-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p'],
      // A key frame every 2 s, as a camera's substream would have.
      ...['-g', String(SCENE_FPS * 2)],
      file,
    ],
    { stdio: ['pipe', 'ignore', 'pipe'], windowsHide: true },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    if (stderr.length < 4096) stderr += chunk;
  });
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', (error) =>
      reject(new Error(`Could not run ${ffmpegPath} to encode the bench scenes: ${error.message}`)),
    );
    child.once('close', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`Expected ffmpeg to encode ${file} with exit code 0 but it exited with ${code}: ${stderr}`)),
    );
  });
  // An early exit surfaces through `exited`; writes after it are ignored.
  child.stdin.on('error', () => undefined);
  for (let i = 0; i < frames && child.exitCode === null; i++) {
    if (!child.stdin.write(await frameAt(i))) {
      await new Promise<void>((resolve) => {
        const done = () => {
          child.stdin.off('drain', done);
          child.off('close', done);
          resolve();
        };
        child.stdin.once('drain', done);
        child.once('close', done);
      });
    }
  }
  child.stdin.end();
  await exited;
}

export interface PrepareScenesOptions {
  photosDir: string;
  /** The scenes, one per camera (variants of the same scene differ in people, sizes and places). */
  ids: string[];
  seconds: number;
  analyzer: FaceAnalyzer;
  ffmpegPath?: string;
  progress?: (message: string) => void;
}

/** The scene (and its variant) camera i shows: the cameras cycle through the scenes. */
export function sceneIdFor(camera: number): string {
  return `${SCENE_NAMES[camera % SCENE_NAMES.length] as SceneName}-${Math.floor(camera / SCENE_NAMES.length) + 1}`;
}

function parseSceneId(id: string): { scene: SceneName; variant: number } {
  const m = /^(corridor|queue|standing)-(\d+)$/.exec(id);
  if (!m) throw new Error(`Expected a scene id like "corridor-1" but received "${id}"`);
  return { scene: m[1] as SceneName, variant: Number(m[2]) };
}

/** Composes and encodes the scenes into a new scratch folder; the caller removes it (removeScenes). */
export async function prepareScenes(options: PrepareScenesOptions): Promise<SceneSet> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'facegate-bench-scenes-'));
  try {
    const { known, strangers } = await people(options.photosDir);
    const maker = new SpriteMaker(options.analyzer);
    const frames = Math.ceil(options.seconds * SCENE_FPS);
    const scripts: SceneScript[] = [];
    for (const id of [...new Set(options.ids)]) {
      const { scene, variant } = parseSceneId(id);
      // The same seed, the same scene.
      const rnd = seededRandom(variant * 7919 + SCENE_NAMES.indexOf(scene) * 104729);
      const who = cycle(known, strangers, (variant - 1) * 3 + SCENE_NAMES.indexOf(scene));
      const plan = { corridor, queue, standing }[scene](options.seconds, rnd, who);
      const actors: Actor[] = [];
      for (const [n, a] of plan.entries()) {
        const person = a.passage.known ? known : (strangers.find((s) => s.name === a.passage.person) as Person);
        actors.push({ ...a, photo: await maker.photoOf(person, n + variant) });
      }
      const background = backdrop(SCENE_WIDTH, SCENE_HEIGHT, rnd);
      const file = `${id}.mp4`;
      options.progress?.(`encoding scene ${id}: ${options.seconds} s, ${actors.length} passage(s)`);
      const frame = Buffer.alloc(background.length);
      await encode(
        path.join(dir, file),
        frames,
        async (i) => {
          const t = i / SCENE_FPS;
          background.copy(frame);
          for (const a of actors) {
            if (t < a.passage.startS || t > a.passage.endS) continue;
            const sprite = await maker.sprite(a.photo, a.eyePx);
            if (!sprite) continue;
            const { x, y } = a.at(t);
            blend(frame, SCENE_WIDTH, SCENE_HEIGHT, sprite, x, y);
          }
          return frame;
        },
        options.ffmpegPath ?? 'ffmpeg',
      );
      scripts.push({
        id,
        scene,
        file,
        seconds: options.seconds,
        fps: SCENE_FPS,
        width: SCENE_WIDTH,
        height: SCENE_HEIGHT,
        passages: actors.map((a) => a.passage).sort((a, b) => a.startS - b.startS),
      });
    }
    await fs.writeFile(path.join(dir, MANIFEST), JSON.stringify({ scripts }, null, 2));
    return { dir, scripts };
  } catch (error) {
    await removeScenes(dir);
    throw error;
  }
}

/** Reads a scenes folder prepareScenes wrote (the children of a comparison get it). */
export async function loadScenes(dir: string): Promise<SceneSet> {
  const raw = JSON.parse(await fs.readFile(path.join(dir, MANIFEST), 'utf8')) as { scripts?: unknown };
  if (!Array.isArray(raw.scripts)) {
    throw new Error(`Expected {"scripts": [...]} in ${path.join(dir, MANIFEST)} but received ${typeof raw.scripts}`);
  }
  return { dir, scripts: raw.scripts as SceneScript[] };
}

export async function removeScenes(dir: string): Promise<void> {
  await fs.rm(dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------
// Ground truth against the events

/** One recognition event, on the scene's clock (seconds since its first frame). */
export interface SceneEvent {
  atS: number;
  userId: string | null;
}

export interface SceneVerdict {
  /** Passages that count: over in time for their event, or still in view with MIN_DWELL_S seen. */
  passages: number;
  /** Of them, passages with an event on the camera within the passage (+ grace). */
  decided: number;
  knownPassages: number;
  knownNamed: number;
  /** Stranger passages whose event named the enrolled person (a false accept). */
  strangersNamedKnown: number;
  events: number;
  /** Events no passage took (a person's second track, say). */
  extraEvents: number;
  /** The passages that got no event. */
  missed: Passage[];
}

/** An event may come this long after the person left: the track ends 1.5 s after its last sighting. */
export const GRACE_S = 3;
/** A person still in view when the run stops counts once seen this long. */
export const MIN_DWELL_S = 4;

/**
 * Matches events to passages: the known person's passages take an event naming him first, then
 * every passage (in order of arrival) takes the first free event on the camera within its window.
 * `endS`: when the run stopped, on the scene's clock.
 */
export function judgeScene(script: SceneScript, events: SceneEvent[], endS: number): SceneVerdict {
  const counted = script.passages.filter(
    (p) => p.endS + GRACE_S <= endS || (p.endS > endS && p.startS + MIN_DWELL_S <= endS),
  );
  const sorted = [...events].sort((a, b) => a.atS - b.atS);
  const used = new Set<number>();
  const take = (p: Passage, fits: (e: SceneEvent) => boolean): SceneEvent | undefined => {
    const until = Math.min(p.endS + GRACE_S, endS);
    const i = sorted.findIndex((e, n) => !used.has(n) && e.atS >= p.startS && e.atS <= until && fits(e));
    if (i < 0) return undefined;
    used.add(i);
    return sorted[i];
  };
  const got = new Map<Passage, SceneEvent>();
  for (const p of counted.filter((c) => c.known)) {
    const e = take(p, (ev) => ev.userId === KNOWN_USER_ID);
    if (e) got.set(p, e);
  }
  for (const p of counted) {
    if (got.has(p)) continue;
    const e = take(p, () => true);
    if (e) got.set(p, e);
  }
  return {
    passages: counted.length,
    decided: got.size,
    knownPassages: counted.filter((p) => p.known).length,
    knownNamed: counted.filter((p) => p.known && got.get(p)?.userId === KNOWN_USER_ID).length,
    strangersNamedKnown: counted.filter((p) => !p.known && got.get(p)?.userId === KNOWN_USER_ID).length,
    events: events.length,
    extraEvents: events.length - used.size,
    missed: counted.filter((p) => !got.has(p)),
  };
}
