/** The tensorflow tests' precondition: the engine tests/setup/tensorflow.ts installed, or a loud failure. */
import { inject } from 'vitest';
import type {} from '../setup/tensorflow.js';

/** Throws (failing the calling test, never skipping it) when the engine could not be installed. */
export function requireTensorflow(): string {
  const s = inject('tensorflowEngine');
  if (!s) throw new Error('tests/setup/tensorflow.ts did not run: vitest.config.ts must list it in globalSetup');
  if (!s.ok) throw new Error(s.error);
  return s.tfVersion;
}
