/**
 * Appends one JSON line per committed step and per finished epoch to `metrics.jsonl` in the run's
 * output directory, for plotting and comparing runs after the fact. Appending (never rewriting)
 * keeps a resumed run's history in the same file.
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import type { EpochEvent, RunObserver, RunStartEvent, StepEvent } from '../run-events.js';

export const METRICS_FILE = 'metrics.jsonl';

export class MetricsLog implements RunObserver {
  readonly name = 'metrics-log';
  private out: WriteStream | null = null;

  onStart(e: RunStartEvent): void {
    if (this.out) {
      this.write({ event: 'generation', generation: e.generation, workers: e.workers.length, t: Date.now() });
      return;
    }
    mkdirSync(e.output, { recursive: true });
    this.out = createWriteStream(join(e.output, METRICS_FILE), { flags: 'a' });
    // A write error (disk full) is logged by RunEvents on the next emit at worst; never fatal.
    this.out.on('error', () => undefined);
    this.write({ event: 'start', job: e.job, generation: e.generation, workers: e.workers.length, epochs: e.epochs, totalSteps: e.totalSteps, t: Date.now() });
  }

  onStep(e: StepEvent): void {
    const t = e.timings;
    this.write({ event: 'step', step: e.step, epoch: e.epoch + 1, loss: e.loss, samples: e.samples, lr: e.lr, stepMs: t.waitMs + t.computeMs + t.allreduceMs + t.updateMs, computeMs: t.computeMs, allreduceMs: t.allreduceMs, t: Date.now() });
  }

  onEpoch(e: EpochEvent): void {
    const { saveModel: _save, ...record } = e;
    this.write({ event: 'epoch', ...record, t: Date.now() });
  }

  async onEnd(): Promise<void> {
    const out = this.out;
    this.out = null;
    if (out) await new Promise<void>((resolve) => out.end(() => resolve()));
  }

  private write(record: Record<string, unknown>): void {
    this.out?.write(`${JSON.stringify(record)}\n`);
  }
}
