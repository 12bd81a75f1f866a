// ONNX Runtime sessions on the best execution provider this machine can load. GPU providers are
// chosen by config and must fail soft (TOOLING.md): a provider that cannot load (no CUDA libraries,
// no DirectML outside Windows) leaves a CPU session and a reason, logged and reported by health,
// never a stopped appliance.
import { promises as fs } from 'node:fs';

import { env as ortEnv, InferenceSession, Tensor } from 'onnxruntime-node';

import { quoteReceived } from '../../storage/checks.js';
import { silentLogger, type Logger } from '../../storage/logger.js';

import { type ActiveProvider, type InferenceProvider, PROVIDERS } from './providers.js';

export type { ActiveProvider, InferenceProvider };

/**
 * The provider a model of this role is given when `requested` is asked for. WebGPU (bundled in
 * onnxruntime-node for Linux x64, over Vulkan, and Windows) runs the embedder only: measured by
 * scripts/webgpu-check.mjs on an NVIDIA H200, fr_feature took 2.08 ms per face on WebGPU against
 * 12.94 ms on one CPU thread, with the CPU's embeddings (cosine at least 0.999999 on 27 real
 * faces), while both YuNet detectors were slower on it than on one CPU thread (13.4 against
 * 12.1 ms at 640 x 640, 12.0 against 3.1 ms at 416 x 256): a small network whose cost is the
 * round trip to the GPU. The other providers run both roles.
 */
export function providerFor(role: ModelRole, requested: InferenceProvider): InferenceProvider {
  return requested === 'webgpu' && role === 'detector' ? 'cpu' : requested;
}

// ONNX Runtime's own log, process-wide: fatal only. Without a GPU, every CUDA attempt made ONNX
// Runtime print a red "Failed to load library ... libonnxruntime_providers_shared.so" line to the
// terminal (one per model, on every start) before throwing the error createSession catches; the
// fallback is facegate's to report, in its own log and in `doctor`. That line is logged at error
// severity by ONNX Runtime's environment logger, not the session's, so the sessions'
// logSeverityLevel does not reach it (measured: 3 and 4 both still print it); onnxruntime-node
// reads env.logLevel once, when it creates that environment before the first session.
ortEnv.logLevel = 'fatal';

/**
 * How a CPU session runs. facegate's settings (FACEGATE_CPU) hold on every x86 CPU; `bench vision`
 * measures them beside ONNX Runtime's own defaults (ORT_DEFAULT_CPU) in the same run.
 */
export interface CpuTuning {
  /**
   * Flush denormal floats to zero (`session.set_denormal_as_zero`). The embedder's activations go
   * denormal on real faces, and Intel cores pay about 100 cycles per denormal operand: on a 2-core
   * Xeon (AVX-512, FP16/BF16/VNNI) embedding took 92-100 ms per face without it and 16 ms with it
   * (TOOLING.md); AMD EPYC pays less but does not lose (README, "Vision speed"). Embeddings are
   * compared by cosine at thresholds of 0.3 and up: values below 1e-38 change no decision.
   */
  flushDenormals: boolean;
  /**
   * Let idle intra-op threads spin waiting for work (`session.intra_op.allow_spinning`). Off: the
   * detector's and the embedder's pools otherwise spin against each other and the JavaScript thread
   * on a 2-core machine (Xeon: embed 16 -> 10.7 ms, and 0 dropped frames at 4 cameras x 5 fps).
   */
  spinning: boolean;
  /** Threads inside one operator; undefined: ONNX Runtime's choice (one per physical core). */
  intraOpThreads: number | undefined;
}

/** ONNX Runtime's defaults: the baseline `bench vision` measures facegate's settings against. */
export const ORT_DEFAULT_CPU: CpuTuning = { flushDenormals: false, spinning: true, intraOpThreads: undefined };

export type ModelRole = 'detector' | 'embedder';

/** Measured per role (see facegateCpuTuning); `inference.intraOpThreads` in the config overrides both. */
export const DEFAULT_INTRA_OP_THREADS: Readonly<Record<ModelRole, number | undefined>> = {
  detector: undefined,
  embedder: 1,
};

/**
 * facegate's CPU settings per model. Threads by measurement (`facegate bench vision --sweep`, the
 * README's "Vision speed" table): the embedder is a small network whose operators are too short to
 * split well, and one thread beat two on both CPUs measured (Xeon 12-16 ms vs 47-97 ms; EPYC: see
 * the README); the detector runs on whole frames and gains from a second thread.
 */
export function facegateCpuTuning(role: ModelRole, intraOpThreads?: number): CpuTuning {
  return { flushDenormals: true, spinning: false, intraOpThreads: intraOpThreads ?? DEFAULT_INTRA_OP_THREADS[role] };
}

/** "threads 1, flush denormals on, spinning off": how `doctor`, the bench and the log say it. */
export function describeCpuTuning(t: CpuTuning): string {
  return `threads ${t.intraOpThreads ?? 'auto'}, flush denormals ${t.flushDenormals ? 'on' : 'off'}, spinning ${t.spinning ? 'on' : 'off'}`;
}

export interface CreateSessionOptions {
  provider?: InferenceProvider;
  /** CPU settings; default: facegateCpuTuning('embedder'). */
  cpu?: CpuTuning;
  logger?: Logger;
}

export interface ModelSession {
  session: InferenceSession;
  provider: ActiveProvider;
  requested: InferenceProvider;
  /** Why the requested provider is not the active one (absent when it is). */
  fallback?: string;
  /** How long creating the session took, ms (the last attempt's, when a GPU attempt failed first). */
  ms: number;
}

/**
 * The GPU provider `auto` asks for here: DirectML on Windows (its DLL ships in onnxruntime-node),
 * CUDA on Linux x64 (onnxruntime-node's CUDA 12 build; needs its provider download or a system
 * CUDA), the CPU elsewhere.
 */
export function preferredProvider(
  requested: InferenceProvider,
  platform: NodeJS.Platform = process.platform,
  arch: string = process.arch,
): ActiveProvider {
  if (requested !== 'auto') return requested;
  if (platform === 'win32') return 'dml';
  if (platform === 'linux' && arch === 'x64') return 'cuda';
  return 'cpu';
}

/**
 * The options every session is created with. `extra` becomes ONNX Runtime session config entries
 * (onnxruntime-node flattens nested keys with dots: session.set_denormal_as_zero,
 * session.intra_op.allow_spinning). Note ONNX Runtime applies the flush-to-zero flag to the calling
 * thread once per process, from the first session created: onnxruntime-node creates and runs
 * sessions on the JavaScript thread, so every session here asks for the same setting, and the
 * JavaScript thread then flushes denormal doubles too (no JavaScript here computes with values
 * below 2.2e-308).
 */
export function sessionOptions(provider: ActiveProvider, cpu: CpuTuning): InferenceSession.SessionOptions {
  return {
    executionProviders: [provider],
    graphOptimizationLevel: 'all',
    ...(cpu.intraOpThreads !== undefined ? { intraOpNumThreads: cpu.intraOpThreads } : {}),
    extra: {
      session: {
        set_denormal_as_zero: cpu.flushDenormals ? '1' : '0',
        intra_op: { allow_spinning: cpu.spinning ? '1' : '0' },
        inter_op: { allow_spinning: cpu.spinning ? '1' : '0' },
      },
    },
    // DirectML supports neither memory patterns nor parallel execution (ONNX Runtime's DirectML EP docs).
    ...(provider === 'dml' ? { enableMemPattern: false, executionMode: 'sequential' as const } : {}),
  };
}

/**
 * Creates a session for `modelPath` on the requested provider. `auto`, `cuda`, `dml` and `webgpu`
 * fall back to the CPU when the provider cannot load (WebGPU: no adapter, as on a machine without
 * a GPU or its Vulkan driver), with the reason in `fallback` and a warning in the log.
 * Throws only when the CPU cannot load the model either (a missing or broken model file).
 */
export async function createSession(modelPath: string, options: CreateSessionOptions = {}): Promise<ModelSession> {
  const requested = options.provider ?? 'auto';
  if (!PROVIDERS.includes(requested)) {
    throw new TypeError(`Expected provider ${PROVIDERS.join(' | ')} but received ${quoteReceived(requested)}`);
  }
  const cpu = options.cpu ?? facegateCpuTuning('embedder');
  const threads = cpu.intraOpThreads;
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1 && threads <= 1024)) {
    throw new RangeError(`Expected intraOpThreads to be an integer from 1 to 1024 but received ${String(threads)}`);
  }
  const logger = options.logger ?? silentLogger;
  // A missing file must read as a missing file, not as "the GPU provider failed".
  await fs.access(modelPath);

  const wanted = preferredProvider(requested);
  let fallback: string | undefined;
  if (wanted !== 'cpu') {
    const started = performance.now();
    try {
      const session = await InferenceSession.create(modelPath, sessionOptions(wanted, cpu));
      const ms = performance.now() - started;
      logger.info({ model: modelPath, provider: wanted, requested, ms: Math.round(ms) }, 'inference session ready');
      return { session, provider: wanted, requested, ms };
    } catch (error) {
      // ONNX Runtime says "Failed to load shared library" for CUDA without its libraries and
      // "backend not found" for DirectML outside Windows; any failure here gets the CPU's try.
      fallback = `${wanted} execution provider unavailable${requested === 'auto' ? ' (auto)' : ''}: ${(error as Error).message}`;
      logger.warn(
        { model: modelPath, requested, tried: wanted, reason: fallback },
        'GPU execution provider unavailable; falling back to CPU',
      );
    }
  }
  const started = performance.now();
  const session = await InferenceSession.create(modelPath, sessionOptions('cpu', cpu));
  const ms = performance.now() - started;
  logger.info(
    { model: modelPath, provider: 'cpu', requested, ms: Math.round(ms), ...(fallback ? { fallback } : {}) },
    'inference session ready',
  );
  return { session, provider: 'cpu', requested, ms, ...(fallback !== undefined ? { fallback } : {}) };
}

export interface TensorInfo {
  name: string;
  type: Tensor.Type;
  /** Numbers are fixed sizes, strings the model's symbolic dimensions ("batch", "height"). */
  shape: readonly (number | string)[];
}

/**
 * The session's inputs and outputs as the model declares them (onnxruntime-node's inputMetadata
 * and outputMetadata). Non-tensor values (sequences, maps) are refused: no model here has them.
 */
export function sessionIo(session: InferenceSession): { inputs: TensorInfo[]; outputs: TensorInfo[] } {
  const convert = (list: readonly InferenceSession.ValueMetadata[]): TensorInfo[] =>
    list.map((m) => {
      if (!m.isTensor) throw new TypeError(`Expected tensor inputs and outputs but ${m.name} is not a tensor`);
      return { name: m.name, type: m.type, shape: m.shape };
    });
  return { inputs: convert(session.inputMetadata), outputs: convert(session.outputMetadata) };
}

/** A concrete shape for `info`: symbolic dimensions from `dims` by name; a batch dimension defaults to 1. */
export function concreteShape(info: TensorInfo, dims: Readonly<Record<string, number>> = {}): number[] {
  return info.shape.map((d, i) => {
    if (typeof d === 'number') return d;
    const given = dims[d];
    if (given !== undefined) return given;
    if (/^(batch|batch_size|n)$/i.test(d)) return 1;
    throw new RangeError(
      `Expected a size for dynamic dimension ${d === '' ? `#${i}` : JSON.stringify(d)} of input ${info.name} (pass it in dims) but received none`,
    );
  });
}

function zeros(type: Tensor.Type, size: number): Tensor.DataType {
  switch (type) {
    case 'float32':
      return new Float32Array(size);
    case 'float64':
      return new Float64Array(size);
    case 'int8':
      return new Int8Array(size);
    case 'uint8':
    case 'bool':
      return new Uint8Array(size);
    case 'int16':
      return new Int16Array(size);
    case 'uint16':
    case 'float16':
      return new Uint16Array(size);
    case 'int32':
      return new Int32Array(size);
    case 'uint32':
      return new Uint32Array(size);
    case 'int64':
      return new BigInt64Array(size);
    case 'uint64':
      return new BigUint64Array(size);
    default:
      throw new TypeError(`Expected a numeric input tensor type but received ${type}`);
  }
}

export interface WarmUpResult {
  /** The warm-up run's time, ms: the first run plans memory and is much slower than later ones. */
  ms: number;
  /** Each output's shape in that run. */
  outputs: Record<string, readonly number[]>;
}

/**
 * One run on zeros of every input's shape, so the first real frame does not pay for ONNX
 * Runtime's first-run planning. A dynamic model needs `dims` for its symbolic dimensions
 * (yunet_s_dynamic: { height, width }).
 */
export async function warmUp(
  session: InferenceSession,
  options: { dims?: Readonly<Record<string, number>> } = {},
): Promise<WarmUpResult> {
  const feeds: Record<string, Tensor> = {};
  for (const input of sessionIo(session).inputs) {
    const shape = concreteShape(input, options.dims);
    const size = shape.reduce((a, b) => a * b, 1);
    feeds[input.name] = new Tensor(input.type, zeros(input.type, size), shape);
  }
  const started = performance.now();
  const results = await session.run(feeds);
  const ms = performance.now() - started;
  const outputs: Record<string, readonly number[]> = {};
  for (const [name, value] of Object.entries(results)) outputs[name] = value.dims;
  return { ms, outputs };
}
