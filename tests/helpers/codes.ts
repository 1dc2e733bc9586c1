/** The stable code a call throws with, for asserting on error codes without try/catch noise. */
import { RingtrainError } from '../../src/shared/base/errors.js';

export function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return err instanceof RingtrainError ? err.code : `not a RingtrainError: ${String(err)}`;
  }
  return 'no error';
}
