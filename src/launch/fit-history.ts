/**
 * fit()'s view of a run, tfjs style: a History with one entry per epoch (keys as tfjs names them:
 * `loss`, `val_loss`, `val_acc`; the test split as `test_loss`, `test_acc`), and the user's
 * onBatchEnd / onEpochEnd callbacks, which may stop the run by setting `stopTraining` as
 * `model.stopTraining` does in tfjs.
 */
import type { EpochEvent, RunObserver, RunStartEvent, StepEvent } from '../coordinator/run-events.js';

/** What `fit()` resolves to besides the summary, shaped like tfjs's `History`. */
export interface History {
  /** 0-based epoch numbers, one per finished epoch (tfjs's `history.epoch`). */
  epoch: number[];
  /**
   * One array per metric, one value per finished epoch: `loss` (mean training loss of the epoch),
   * `val_loss` and `val_acc` (when the job has a validation split; `val_acc` when it reports
   * accuracy), `test_loss` and `test_acc` (the test split). Training accuracy is not measured.
   */
  history: Record<string, number[]>;
  /** The run as it started: planned epochs, per-worker batch size, steps per epoch, workers. */
  params: { epochs: number; batchSize: number; stepsPerEpoch: number; workers: number };
}

/** One epoch's figures as callbacks receive them (the History's keys, one value each). */
export type EpochLogs = Record<string, number>;

/** One committed step as onBatchEnd receives it. */
export interface BatchLogs {
  /** Global mean training loss of the step (identical on every rank). */
  loss: number;
  /** Samples in the step, all workers together. */
  size: number;
  /** 0-based step over the whole run. */
  step: number;
  /** 0-based epoch the step belongs to. */
  epoch: number;
  /** Learning rate the step applied. */
  lr: number;
}

/** Handed to every callback: setting `stopTraining` ends the run cleanly after the current step. */
export interface FitControl {
  stopTraining: boolean;
}

/** Called in the coordinator's process, in order; the run waits for an async callback. */
export interface FitCallbacks {
  /** After every committed step; `batch` is its 0-based index within its epoch. */
  onBatchEnd?(batch: number, logs: BatchLogs, control: FitControl): void | Promise<void>;
  /** After every epoch's evaluation; `epoch` is 0-based, as in tfjs. */
  onEpochEnd?(epoch: number, logs: EpochLogs, control: FitControl): void | Promise<void>;
}

/** The keys tfjs uses, from an epoch event. */
export function epochLogs(e: Pick<EpochEvent, 'trainLoss' | 'valLoss' | 'valAccuracy' | 'testLoss' | 'testAccuracy'>): EpochLogs {
  const logs: EpochLogs = { loss: e.trainLoss };
  if (e.valLoss !== null) logs['val_loss'] = e.valLoss;
  if (e.valAccuracy !== null) logs['val_acc'] = e.valAccuracy;
  logs['test_loss'] = e.testLoss;
  if (e.testAccuracy !== null) logs['test_acc'] = e.testAccuracy;
  return logs;
}

/**
 * Collects the History and calls the callbacks. A callback that throws stops the run (the model
 * is still saved) and its error is what fit() rejects with, as tfjs's fit does.
 */
export class FitObserver implements RunObserver {
  readonly name = 'fit';
  readonly history: History = { epoch: [], history: {}, params: { epochs: 0, batchSize: 0, stepsPerEpoch: 0, workers: 0 } };
  /** The first error a callback threw, if any. */
  callbackError: unknown = null;
  private readonly control: FitControl = { stopTraining: false };
  private stopAsked = false;
  private epochOfLastStep = -1;
  private batchInEpoch = 0;

  constructor(private readonly callbacks: FitCallbacks, private readonly stop: (why: string) => void) {}

  onStart(e: RunStartEvent): void {
    // Only the first generation's plan: later ones (membership changes) keep the same run.
    if (this.history.params.epochs > 0) return;
    this.history.params = { epochs: e.epochs, batchSize: e.hyper.batchSize, stepsPerEpoch: e.stepsPerEpoch, workers: e.workers.length };
  }

  async onStep(e: StepEvent): Promise<void> {
    this.batchInEpoch = e.epoch === this.epochOfLastStep ? this.batchInEpoch + 1 : 0;
    this.epochOfLastStep = e.epoch;
    const cb = this.callbacks.onBatchEnd;
    if (cb) await this.call('onBatchEnd', () => cb.call(this.callbacks, this.batchInEpoch, { loss: e.loss, size: e.samples, step: e.step, epoch: e.epoch, lr: e.lr }, this.control));
  }

  async onEpoch(e: EpochEvent): Promise<void> {
    const logs = epochLogs(e);
    this.history.epoch.push(e.epoch - 1);
    for (const [k, v] of Object.entries(logs)) (this.history.history[k] ??= []).push(v);
    const cb = this.callbacks.onEpochEnd;
    if (cb) await this.call('onEpochEnd', () => cb.call(this.callbacks, e.epoch - 1, { ...logs }, this.control));
  }

  private async call(which: string, fn: () => void | Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.callbackError ??= err;
      this.requestStop(`${which} threw: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    if (this.control.stopTraining) this.requestStop(`${which} set stopTraining`);
  }

  private requestStop(why: string): void {
    if (this.stopAsked) return;
    this.stopAsked = true;
    this.stop(why);
  }
}
