/**
 * `--tensorboard DIR`: scalar event files TensorBoard reads (`tensorboard --logdir DIR`). Per
 * step: training loss, learning rate, samples/s and the slowest rank's all-reduce ms; per epoch:
 * the epoch's training loss, test and validation loss and accuracy. Steps are 1-based global
 * steps, so a resumed run continues its curves. Writes go through one append stream; its end is
 * awaited when the run ends.
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { EpochEvent, RunObserver, RunStartEvent, StepEvent } from '../run-events.js';
import type { RunState } from './run-state.js';
import { scalarEvent, tfRecord, versionEvent } from './tfevents.js';

export class TensorBoardWriter implements RunObserver {
  readonly name = 'tensorboard';
  private out: WriteStream | null = null;
  private lr = NaN;
  /** The event file's path, once the run has started. */
  file: string | null = null;

  /** `state` supplies samples/s (its window); it must be an observer ahead of this one. */
  constructor(private readonly dir: string, private readonly state: RunState) {}

  onStart(e: RunStartEvent): void {
    this.lr = e.hyper.lr;
    if (this.out) return;
    mkdirSync(this.dir, { recursive: true });
    const now = Date.now() / 1000;
    this.file = join(this.dir, `events.out.tfevents.${Math.floor(now)}.${hostname().replace(/[^A-Za-z0-9_.-]/g, '_')}.${process.pid}`);
    this.out = createWriteStream(this.file, { flags: 'a' });
    // A failed write (disk full) must not stop training; RunEvents logs a throwing observer.
    this.out.on('error', () => undefined);
    this.out.write(tfRecord(versionEvent(now)));
  }

  private write(step: number, values: Record<string, number | null>): void {
    const finite = Object.fromEntries(Object.entries(values).filter((kv): kv is [string, number] => kv[1] !== null && Number.isFinite(kv[1])));
    if (this.out && Object.keys(finite).length > 0) this.out.write(tfRecord(scalarEvent(Date.now() / 1000, step, finite)));
  }

  onStep(e: StepEvent): void {
    const rate = this.state.snapshot().samplesPerSec;
    this.write(e.step + 1, { 'train/loss': e.loss, 'train/lr': this.lr, 'perf/samples_per_sec': rate > 0 ? rate : null, 'perf/allreduce_ms': e.timings.allreduceMs });
  }

  onEpoch(e: EpochEvent): void {
    this.write(e.step, {
      'epoch/train_loss': e.trainLoss, 'epoch/test_loss': e.testLoss, 'epoch/test_accuracy': e.testAccuracy,
      'epoch/val_loss': e.valLoss, 'epoch/val_accuracy': e.valAccuracy,
    });
  }

  async onEnd(): Promise<void> {
    const out = this.out;
    this.out = null;
    if (out) await new Promise<void>((resolve) => out.end(() => resolve()));
  }
}
