// The face embedder: a 112 x 112 aligned crop in, an L2-normalised embedding out, through an
// ArcFace-style ONNX model. The input size and the embedding's dimension are read from the
// model, not assumed (fr_feature gives 512, mobilefacenet_128 gives 128); normalisation is the
// native SIMD kernel.
import type { InferenceSession } from 'onnxruntime-node';
import ort from 'onnxruntime-node';

import { normalize } from '../../core/native/index.js';
import { SerialQueue } from '../../core/serial-queue.js';
import type { AlignedFace, Embedding } from './types.js';

export interface EmbedderInput {
  /** Pixel -> (pixel - mean) / std, per channel, in RGB order (the models README's recipe). */
  mean: number;
  std: number;
}

export class FaceEmbedder {
  readonly dim: number;
  readonly inputSize: number;
  private readonly inputName: string;
  private readonly outputName: string;
  private readonly tensorData: Float32Array;
  private readonly queue = new SerialQueue();

  constructor(
    private readonly session: InferenceSession,
    readonly modelId: string,
    private readonly input: EmbedderInput,
  ) {
    const inMeta = session.inputMetadata[0];
    const outMeta = session.outputMetadata[0];
    if (!inMeta?.isTensor || !outMeta?.isTensor) throw new Error(`${modelId}: expected one tensor input and output`);
    const [, channels, h, w] = inMeta.shape;
    if (channels !== 3 || typeof h !== 'number' || h !== w) {
      throw new Error(
        `${modelId}: expected an input of [1, 3, S, S] but the model declares [${inMeta.shape.join(', ')}]`,
      );
    }
    const dim = outMeta.shape[outMeta.shape.length - 1];
    if (typeof dim !== 'number' || dim < 1)
      throw new Error(`${modelId}: the output's last dimension is not fixed (${String(dim)})`);
    this.inputSize = h;
    this.dim = dim;
    this.inputName = inMeta.name;
    this.outputName = outMeta.name;
    this.tensorData = new Float32Array(3 * h * h);
  }

  /** One embedding at a time (the model's batch is fixed at 1, and the input buffer is reused). */
  embed(face: AlignedFace): Promise<Embedding> {
    return this.queue.run(() => this.embedNow(face));
  }

  private async embedNow(face: AlignedFace): Promise<Embedding> {
    const s = this.inputSize;
    if (face.width !== s || face.height !== s) {
      throw new RangeError(`Expected an aligned face of ${s}x${s} but received ${face.width}x${face.height}`);
    }
    const plane = s * s;
    const t = this.tensorData;
    const { mean, std } = this.input;
    const inv = 1 / std;
    for (let i = 0, p = 0; i < plane; i++, p += 3) {
      t[i] = ((face.data[p] as number) - mean) * inv;
      t[plane + i] = ((face.data[p + 1] as number) - mean) * inv;
      t[2 * plane + i] = ((face.data[p + 2] as number) - mean) * inv;
    }
    const out = await this.session.run({ [this.inputName]: new ort.Tensor('float32', t, [1, 3, s, s]) });
    const raw = out[this.outputName]?.data;
    if (!(raw instanceof Float32Array) || raw.length !== this.dim) {
      throw new Error(`${this.modelId}: expected ${this.dim} float outputs but received ${String(raw?.length)}`);
    }
    const vector = Float32Array.from(raw);
    normalize(vector, this.dim);
    return { vector, modelId: this.modelId };
  }
}
