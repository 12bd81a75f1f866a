// Unknown faces kept for review, grouped as they arrive. The best crop of every unknown track is
// saved with its event, camera, time, quality and embedding, and joins a group of earlier
// unknown faces of the same stranger (on any camera) or starts a new one.
//
// The rule: a face joins the open group holding its most similar earlier face when that cosine
// reaches the site's match threshold (src/recognition/site-threshold.ts: the group would have recognised it had it been
// enrolled); otherwise it starts a new group. Only open groups take new faces; a group is never
// split or merged after the fact. The faces of open groups are searched in an index of their own
// (the native FlatIndex): groups never touch the recognition index.
//
// One operation at a time (keep, review, purge) through run(): a review never sees a face half
// added, and the in-memory index always holds exactly the database's open-group faces.
import { ConflictError, NotFoundError } from '../../storage/errors.js';
import type { Storage } from '../../storage/index.js';
import type { Logger } from '../../storage/logger.js';
import type { UnknownFace } from '../../storage/index.js';
import { FlatIndex } from '../../core/native/index.js';
import { SerialQueue } from '../../core/serial-queue.js';
import type { Embedding } from '../vision/types.js';

export interface UnknownSighting {
  /** The recognition event of the track (already in the database). */
  eventId: string;
  cameraId: string;
  seenAt: Date;
  quality: number;
  embedding: Embedding;
  /** The aligned crop (PNG) of the face the embedding is of. */
  png: Uint8Array;
}

export interface KeptFace {
  face: UnknownFace;
  /** The cosine to the group's most similar earlier face (null: the face started the group). */
  joinedAt: number | null;
}

export class UnknownFaceGrouping {
  private index: FlatIndex;
  private readonly groupOf = new Map<bigint, bigint>();
  private loaded = false;
  private readonly queue = new SerialQueue();

  private readonly thresholdOf: () => number;

  /**
   * threshold: the cosine a face needs to its group's most similar face (the match threshold), or
   * where to read it: the service passes its site threshold, which changes when the calibration is
   * read after a start without the database (issue 13, D8: a number kept here went stale).
   */
  constructor(
    private readonly storage: Storage,
    threshold: number | (() => number),
    private readonly logger: Logger,
  ) {
    this.thresholdOf = typeof threshold === 'function' ? threshold : () => threshold;
    this.threshold();
    this.index = FlatIndex.create(storage.embeddings.dim);
  }

  /** The threshold now; checked at every read, as it may come from outside. */
  threshold(): number {
    const t = this.thresholdOf();
    if (!(t > 0 && t <= 1)) throw new Error(`Expected a grouping threshold in (0, 1] but received ${t}`);
    return t;
  }

  /** Loads the open groups' faces (again); the service calls it at start and when the database returns. */
  async reload(): Promise<void> {
    await this.run(() => this.load());
  }

  /** Runs fn with no other grouping operation in between (reviews and purges use it). */
  run<T>(fn: () => Promise<T>): Promise<T> {
    return this.queue.run(fn);
  }

  /** Open-group faces in the index now. */
  get size(): number {
    return this.index.size;
  }

  /**
   * Saves the crop, links it to its event and keeps its embedding in its group. The crop is kept
   * only with its database row: if the row cannot be written (the database is down), the file is
   * removed again and the error thrown.
   */
  keep(sighting: UnknownSighting): Promise<KeptFace> {
    return this.run(async () => {
      if (!this.loaded) await this.load();
      const { vector, modelId } = sighting.embedding;
      if (modelId !== this.storage.embeddings.modelId) {
        throw new Error(`Expected an embedding of ${this.storage.embeddings.modelId} but received one of ${modelId}`);
      }
      let groupId: bigint | null = null;
      let joinedAt: number | null = null;
      if (this.index.size > 0) {
        const { scores, ids } = this.index.searchSync(vector, 1);
        const score = scores[0] as number;
        const group = this.groupOf.get(ids[0] as bigint);
        if (group !== undefined && score >= this.threshold()) [groupId, joinedAt] = [group, score];
      }
      const saved = await this.storage.images.saveUnknown(sighting.cameraId, sighting.png, sighting.seenAt);
      const row = {
        eventId: sighting.eventId,
        cameraId: sighting.cameraId,
        seenAt: sighting.seenAt,
        day: saved.date,
        image: saved.relativePath,
        quality: sighting.quality,
        modelId,
        vector,
      };
      let face: UnknownFace;
      try {
        try {
          face = await this.storage.db.unknown.addFace(row, groupId);
        } catch (error) {
          // The index knew the group as open but the database does not (reviewed or purged where
          // this process did not see it): the index is corrected and the face starts a new group.
          if (groupId === null || !(error instanceof ConflictError || error instanceof NotFoundError)) throw error;
          this.logger.warn(
            { group: groupId.toString() },
            'unknown faces: a group the index held open is not; forgotten',
          );
          this.forgetGroup(groupId);
          [groupId, joinedAt] = [null, null];
          face = await this.storage.db.unknown.addFace(row, null);
        }
      } catch (error) {
        await this.storage.images
          .removeUnknown(saved.relativePath)
          .catch((e: unknown) =>
            this.logger.warn({ err: e, image: saved.relativePath }, 'unknown faces: could not remove an unlinked crop'),
          );
        throw error;
      }
      this.index.add(face.vector, BigInt64Array.of(face.id));
      this.groupOf.set(face.id, face.groupId);
      return { face, joinedAt };
    });
  }

  /** Takes faces out of the index (their group was reviewed, or retention deleted them). Call inside run(). */
  forget(faceIds: bigint[]): void {
    const present = faceIds.filter((id) => this.groupOf.delete(id));
    if (present.length) this.index.remove(BigInt64Array.from(present));
  }

  /** Takes a group's faces out of the index. Call inside run(). */
  forgetGroup(groupId: bigint): void {
    this.forget([...this.groupOf].filter(([, g]) => g === groupId).map(([id]) => id));
  }

  private async load(): Promise<void> {
    // Until a load succeeds, the next keep() tries again (the database may be back by then).
    this.loaded = false;
    const faces = await this.storage.db.unknown.openGroupFaces(this.storage.embeddings.modelId);
    const dim = this.storage.embeddings.dim;
    const usable = faces.filter((f) => f.vector.length === dim);
    const index = FlatIndex.create(dim);
    if (usable.length) {
      const vectors = new Float32Array(usable.length * dim);
      usable.forEach((f, i) => vectors.set(f.vector, i * dim));
      index.add(vectors, BigInt64Array.from(usable.map((f) => f.id)));
    }
    this.index = index;
    this.groupOf.clear();
    for (const f of usable) this.groupOf.set(f.id, f.groupId);
    this.loaded = true;
    this.logger.info(
      { faces: usable.length, groups: new Set(usable.map((f) => f.groupId)).size },
      'unknown faces: open groups loaded',
    );
  }
}
