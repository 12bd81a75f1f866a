// The execution providers a configuration may name, without loading ONNX Runtime (the config
// checks them; vision/inference.ts creates the sessions).

/** Config `inference.provider`. */
export type InferenceProvider = 'auto' | 'cpu' | 'cuda' | 'dml' | 'webgpu';
/** The provider a session actually runs on. */
export type ActiveProvider = 'cpu' | 'cuda' | 'dml' | 'webgpu';

export const PROVIDERS = ['auto', 'cpu', 'cuda', 'dml', 'webgpu'] as const satisfies readonly InferenceProvider[];
