/**
 * `--early-stop-patience N`: the run stops once the validation loss has not improved for N epochs
 * in a row (Keras's EarlyStopping on `val_loss`, min_delta 0). The final model is the last
 * epoch's; the best epoch's model is the one `best/` keeps (ops/best-model.ts), chosen by the
 * same measure.
 */
import type { EpochEvent, RunObserver } from './run-events.js';

/** The best validation loss so far, and the epochs since it. */
export interface PatienceState {
  best: number;
  /** Epochs in a row without improvement. */
  waited: number;
}

/**
 * One epoch's step of the rule: a loss below the best resets the count; anything else (equal,
 * worse, NaN) adds one. Stop when the count reaches `patience`.
 */
export function patienceStep(state: PatienceState, valLoss: number, patience: number): { state: PatienceState; stop: boolean } {
  if (valLoss < state.best) return { state: { best: valLoss, waited: 0 }, stop: false };
  const waited = state.waited + 1;
  // As Keras counts: patience 0 and 1 both stop at the first epoch without improvement.
  return { state: { best: state.best, waited }, stop: waited >= Math.max(1, patience) };
}

/** The rule as a run observer; `stop` ends the run cleanly (Run.stop). */
export class EarlyStopping implements RunObserver {
  readonly name = 'early-stop';
  private state: PatienceState = { best: Infinity, waited: 0 };

  constructor(private readonly patience: number, private readonly stop: (why: string) => void) {}

  onEpoch(e: EpochEvent): void {
    if (e.valLoss === null) return;
    const next = patienceStep(this.state, e.valLoss, this.patience);
    this.state = next.state;
    if (next.stop) this.stop(`validation loss has not improved for ${next.state.waited} epoch${next.state.waited === 1 ? '' : 's'} (best ${next.state.best}; --early-stop-patience ${this.patience})`);
  }
}
