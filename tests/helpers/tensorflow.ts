/** The tensorflow tests' precondition: the engine tests/setup/tensorflow.ts installed, or a loud failure. */
import { inject } from 'vitest';
import type {} from '../setup/tensorflow.js';

/**
 * Environment that turns the native engine back on for a child process: vitest.config.ts hides it
 * (RT_NO_TENSORFLOW=1) from the tests that are not about it.
 */
export const TF_ON: Record<string, string> = { RT_NO_TENSORFLOW: '0' };

/** Throws (failing the calling test, never skipping it) when the engine could not be installed. */
export function requireTensorflow(): string {
  const s = inject('tensorflowEngine');
  if (!s) throw new Error('tests/setup/tensorflow.ts did not run: vitest.config.ts must list it in globalSetup');
  if (!s.ok) throw new Error(s.error);
  // This test file's own process (in-process engine tests, and the children it spawns) uses it.
  process.env['RT_NO_TENSORFLOW'] = '0';
  return s.tfVersion;
}
