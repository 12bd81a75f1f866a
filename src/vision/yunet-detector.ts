// YuNet (OpenCV's FaceDetectorYN model) through onnxruntime-node. Decoding follows the models
// README (measured against OpenCV): BGR 0..255 input, NCHW, no mean or std; three strides
// (8, 16, 32) of anchor-free outputs; score = sqrt(cls * obj); then non-maximum suppression.
import type { InferenceSession } from 'onnxruntime-node';
import ort from 'onnxruntime-node';
import sharp from 'sharp';

import { SerialQueue } from '../../core/serial-queue.js';
import type { DetectOptions, FaceDetector } from './detector.js';
import { DEFAULT_NMS_IOU, suppress } from './suppression.js';
import type { DetectedFace, Landmarks, Point, RgbImage } from './types.js';

export interface YuNetOptions {
  /**
   * 0.8, inside OpenCV's usual 0.6-0.9 band: every real face in ../shared/faces scores 0.92-0.95,
   * and the one false detection seen (a landscape painting behind biden2.jpg) scores 0.70.
   */
  scoreThreshold?: number;
  /** Default DEFAULT_NMS_IOU (0.3, OpenCV FaceDetectorYN's). */
  nmsThreshold?: number;
  /** More faces than this in one frame are dropped (lowest scores first). */
  maxFaces?: number;
  /** For the dynamic-size model: the longest side the image is scaled to (a multiple of 32). Default 640. */
  dynamicSize?: number;
}

const STRIDES = [8, 16, 32] as const;

/** A margin beyond this leaves the picture under a third of the input: faces too small to find. */
const MAX_MARGIN = 1;

interface Letterbox {
  /** Model input width and height. */
  width: number;
  height: number;
  /** Original pixels -> model pixels. */
  scale: number;
  /** Where the picture starts in the model input (model pixels): the margin's width and height. */
  left: number;
  top: number;
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

export class YuNetDetector implements FaceDetector {
  private readonly scoreThreshold: number;
  private readonly nmsThreshold: number;
  private readonly maxFaces: number;
  private readonly fixed: { width: number; height: number } | null;
  private readonly dynamicSize: number;
  private readonly inputName: string;
  private tensorData = new Float32Array(0);
  private readonly queue = new SerialQueue();

  constructor(
    private readonly session: InferenceSession,
    readonly modelId: string,
    options: YuNetOptions = {},
  ) {
    this.scoreThreshold = options.scoreThreshold ?? 0.8;
    this.nmsThreshold = options.nmsThreshold ?? DEFAULT_NMS_IOU;
    this.maxFaces = options.maxFaces ?? 50;
    this.dynamicSize = options.dynamicSize ?? 640;
    if (this.dynamicSize % 32 !== 0)
      throw new RangeError(`Expected dynamicSize to be a multiple of 32 but received ${this.dynamicSize}`);
    const input = session.inputMetadata[0];
    if (!input?.isTensor) throw new Error(`${modelId}: expected a tensor input`);
    this.inputName = input.name;
    const [, , h, w] = input.shape;
    this.fixed = typeof h === 'number' && typeof w === 'number' ? { width: w, height: h } : null;
    for (const s of STRIDES) {
      for (const out of ['cls', 'obj', 'bbox', 'kps']) {
        if (!session.outputNames.includes(`${out}_${s}`))
          throw new Error(`${modelId}: not a YuNet model (no output ${out}_${s})`);
      }
    }
  }

  /** One detection at a time: the input tensor's buffer is reused between frames. */
  detect(image: RgbImage, options: DetectOptions = {}): Promise<DetectedFace[]> {
    const margin = options.margin ?? 0;
    if (!(margin >= 0 && margin <= MAX_MARGIN)) {
      return Promise.reject(
        new RangeError(
          `Expected a detection margin from 0 to ${MAX_MARGIN} (a fraction of the image's longer side) but received ${margin}`,
        ),
      );
    }
    const size = options.size ?? this.dynamicSize;
    if (options.size !== undefined) {
      if (this.fixed)
        return Promise.reject(
          new RangeError(
            `Expected no detection size for ${this.modelId}, whose input is fixed at ${this.fixed.width} x ${this.fixed.height}, but received ${options.size} (a size needs the dynamic model)`,
          ),
        );
      if (!(Number.isInteger(size) && size >= 32 && size % 32 === 0))
        return Promise.reject(
          new RangeError(`Expected a detection size that is a positive multiple of 32 but received ${options.size}`),
        );
    }
    return this.queue.run(() => this.detectNow(image, margin, size));
  }

  /** Whether the model takes any input size (detect's `size` option). */
  get sizeIsFree(): boolean {
    return this.fixed === null;
  }

  /**
   * How the image goes into the model input: scaled to fit, top-left anchored (the rest is
   * padding, 0), after a border of `margin` x its longer side on every side (also 0). The border
   * is never materialised: the picture is drawn that far into the zeroed input.
   */
  private letterbox(image: RgbImage, margin: number, size: number): Letterbox {
    const m = margin * Math.max(image.width, image.height);
    const outerW = image.width + 2 * m,
      outerH = image.height + 2 * m;
    if (this.fixed) {
      const scale = Math.min(this.fixed.width / outerW, this.fixed.height / outerH);
      return { ...this.fixed, scale, left: Math.round(m * scale), top: Math.round(m * scale) };
    }
    const scale = size / Math.max(outerW, outerH);
    const up = (v: number) => Math.max(32, Math.ceil((v * scale) / 32) * 32);
    return { width: up(outerW), height: up(outerH), scale, left: Math.round(m * scale), top: Math.round(m * scale) };
  }

  private async detectNow(image: RgbImage, margin: number, size: number): Promise<DetectedFace[]> {
    const box = this.letterbox(image, margin, size);
    const w = Math.max(1, Math.min(box.width - box.left, Math.round(image.width * box.scale)));
    const h = Math.max(1, Math.min(box.height - box.top, Math.round(image.height * box.scale)));
    const resized = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
      .resize(w, h, { fit: 'fill' })
      .raw()
      .toBuffer();
    // Model pixel (x, y) is original ((x - left) / sx, (y - top) / sy); the rest is padding (0).
    const sx = w / image.width;
    const sy = h / image.height;
    const ox = box.left,
      oy = box.top;
    const plane = box.width * box.height;
    if (this.tensorData.length !== 3 * plane) this.tensorData = new Float32Array(3 * plane);
    const t = this.tensorData;
    t.fill(0);
    for (let y = 0; y < h; y++) {
      let src = y * w * 3;
      let dst = (y + oy) * box.width + ox;
      for (let x = 0; x < w; x++, src += 3, dst++) {
        // RGB in, BGR planes out.
        t[dst] = resized[src + 2] as number;
        t[plane + dst] = resized[src + 1] as number;
        t[2 * plane + dst] = resized[src] as number;
      }
    }
    const feeds = { [this.inputName]: new ort.Tensor('float32', t, [1, 3, box.height, box.width]) };
    const out = await this.session.run(feeds);
    const faces: DetectedFace[] = [];
    for (const stride of STRIDES) {
      const cls = out[`cls_${stride}`]?.data as Float32Array;
      const obj = out[`obj_${stride}`]?.data as Float32Array;
      const bbox = out[`bbox_${stride}`]?.data as Float32Array;
      const kps = out[`kps_${stride}`]?.data as Float32Array;
      const cols = box.width / stride;
      for (let i = 0; i < cls.length; i++) {
        const score = Math.sqrt(clamp01(cls[i] as number) * clamp01(obj[i] as number));
        if (score < this.scoreThreshold) continue;
        const c = i % cols;
        const r = Math.floor(i / cols);
        const cx = (c + (bbox[i * 4] as number)) * stride;
        const cy = (r + (bbox[i * 4 + 1] as number)) * stride;
        const bw = Math.exp(bbox[i * 4 + 2] as number) * stride;
        const bh = Math.exp(bbox[i * 4 + 3] as number) * stride;
        // Landmarks are not clamped: a face cut by the picture's edge has some outside it, and
        // the quality gate needs to see that.
        const point = (k: number): Point => [
          (((kps[i * 10 + 2 * k] as number) + c) * stride - ox) / sx,
          (((kps[i * 10 + 2 * k + 1] as number) + r) * stride - oy) / sy,
        ];
        const landmarks: Landmarks = {
          rightEye: point(0),
          leftEye: point(1),
          nose: point(2),
          rightMouth: point(3),
          leftMouth: point(4),
        };
        const x0 = Math.max(0, (cx - bw / 2 - ox) / sx);
        const y0 = Math.max(0, (cy - bh / 2 - oy) / sy);
        const x1 = Math.min(image.width, (cx + bw / 2 - ox) / sx);
        const y1 = Math.min(image.height, (cy + bh / 2 - oy) / sy);
        if (x1 <= x0 || y1 <= y0) continue;
        faces.push({ box: [x0, y0, x1 - x0, y1 - y0], score, landmarks });
      }
    }
    faces.sort((a, b) => b.score - a.score);
    return suppress(faces, this.nmsThreshold, this.maxFaces);
  }
}
