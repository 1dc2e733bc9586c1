/** --early-stop-patience's rule, on its own: Keras's EarlyStopping on val_loss with min_delta 0. */
import { describe, expect, it } from 'vitest';
import { patienceStep, type PatienceState } from '../../src/coordinator/early-stop.js';

/** The epoch (1-based) at which the rule stops for these validation losses, or null. */
function stopsAt(losses: number[], patience: number): number | null {
  let state: PatienceState = { best: Infinity, waited: 0 };
  for (let i = 0; i < losses.length; i++) {
    const r = patienceStep(state, losses[i]!, patience);
    state = r.state;
    if (r.stop) return i + 1;
  }
  return null;
}

describe('early-stop patience', () => {
  it('stops once the loss has not improved for N epochs in a row', () => {
    expect(stopsAt([5, 4, 3, 3.5, 2.9, 3, 3.1, 2], 2)).toBe(7);
    expect(stopsAt([5, 4, 3, 3.5, 3.6], 2)).toBe(5);
    expect(stopsAt([5, 4, 3, 2, 1], 1)).toBeNull();
  });

  it('an equal loss is no improvement; 0 and 1 both stop at the first epoch without one', () => {
    expect(stopsAt([2, 2], 1)).toBe(2);
    expect(stopsAt([2, 1, 1.5], 0)).toBe(3);
    expect(stopsAt([2, 1, 1.5], 1)).toBe(3);
  });

  it('NaN never improves', () => {
    expect(stopsAt([2, NaN, NaN], 2)).toBe(3);
    expect(stopsAt([NaN, 1], 1)).toBe(1);
  });
});
