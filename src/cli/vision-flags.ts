// The flags every command that runs the vision models takes, and how they become VisionOptions.
import type { InferenceProvider } from '../vision/inference.js';
import type { VisionOptions } from '../vision/index.js';
import { UsageError } from './usage-error.js';

export const visionFlags = {
  provider: { type: 'string' },
  'models-dir': { type: 'string' },
  detector: { type: 'string' },
  embedder: { type: 'string' },
} as const;

export const visionFlagsUsage = '[--provider auto|cpu|cuda|dml] [--models-dir DIR] [--detector NAME] [--embedder NAME]';

const PROVIDERS: readonly InferenceProvider[] = ['auto', 'cpu', 'cuda', 'dml'];

export function visionOptionsFrom(values: {
  provider?: string | undefined;
  'models-dir'?: string | undefined;
  detector?: string | undefined;
  embedder?: string | undefined;
}): VisionOptions {
  const provider = values.provider;
  if (provider !== undefined && !PROVIDERS.includes(provider as InferenceProvider)) {
    throw new UsageError(`Expected --provider ${PROVIDERS.join(' | ')} but received "${provider}"`);
  }
  // Only what the command line says: the rest comes from the configuration (or its defaults).
  return {
    ...(provider ? { provider: provider as InferenceProvider } : {}),
    ...(values['models-dir'] ? { modelsDir: values['models-dir'] } : {}),
    ...(values.detector ? { detector: values.detector } : {}),
    ...(values.embedder ? { embedder: values.embedder } : {}),
  };
}

/** The vision flags given, as command-line words again: what a benchmark passes on to its children. */
export function visionFlagsArgv(values: Partial<Record<keyof typeof visionFlags, string | undefined>>): string[] {
  return (Object.keys(visionFlags) as (keyof typeof visionFlags)[]).flatMap((flag) => {
    const v = values[flag];
    return v === undefined ? [] : [`--${flag}`, v];
  });
}
