/**
 * Prometheus metrics for `/metrics`. Each coordinator owns a registry (not prom-client's global
 * one), so two runs in one process never share or clash on series. Histograms and counters move
 * on run events; gauges are read from the live RunState when scraped, so they cannot drift from
 * what `/status` says.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { EpochEvent, RunObserver, RunStartEvent, StepEvent } from '../run-events.js';
import type { RunState } from './run-state.js';

/** Seconds: from a 1 ms all-reduce of a tiny model to a multi-second step of a big one. */
const TIME_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class RunMetrics implements RunObserver {
  readonly name = 'metrics';
  readonly registry = new Registry();
  private readonly stepSeconds: Histogram;
  private readonly allreduceSeconds: Histogram;
  private readonly steps: Counter;
  private readonly samples: Counter;
  private readonly epochs: Counter;
  private readonly restarts: Counter;
  private readonly nonFinite: Counter;
  private readonly evalLoss: Gauge<'split'>;
  private readonly evalAccuracy: Gauge<'split'>;
  private readonly learningRate: Gauge;
  private generationsSeen = 0;

  constructor(state: RunState) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'ringtrain_' });
    this.stepSeconds = new Histogram({ name: 'ringtrain_step_seconds', help: 'Wall time of a committed step on its slowest rank (wait + compute + all-reduce + update)', buckets: TIME_BUCKETS, registers });
    this.allreduceSeconds = new Histogram({ name: 'ringtrain_allreduce_seconds', help: 'Ring all-reduce time of a committed step on its slowest rank', buckets: TIME_BUCKETS, registers });
    this.steps = new Counter({ name: 'ringtrain_steps_total', help: 'Training steps committed', registers });
    this.samples = new Counter({ name: 'ringtrain_samples_total', help: 'Training samples consumed by committed steps', registers });
    this.epochs = new Counter({ name: 'ringtrain_epochs_total', help: 'Epochs finished and evaluated', registers });
    this.restarts = new Counter({ name: 'ringtrain_restarts_total', help: 'Generations started after the first (membership changes)', registers });
    this.nonFinite = new Counter({ name: 'ringtrain_nonfinite_skips_total', help: 'Steps skipped because the averaged gradient was not finite', registers });
    this.evalLoss = new Gauge({ name: 'ringtrain_eval_loss', help: 'Mean loss at the last epoch end, per split', labelNames: ['split'], registers });
    this.evalAccuracy = new Gauge({ name: 'ringtrain_eval_accuracy', help: 'Accuracy at the last epoch end, per split (classifiers only)', labelNames: ['split'], registers });
    this.learningRate = new Gauge({ name: 'ringtrain_learning_rate', help: 'Learning rate of the last committed step (the schedule\'s)', registers });
    const live = (name: string, help: string, read: () => number | null): void => {
      new Gauge({ name, help, registers, collect() { const v = read(); if (v !== null) this.set(v); } });
    };
    live('ringtrain_samples_per_second', 'Training throughput over the last steps', () => state.snapshot().samplesPerSec);
    live('ringtrain_train_loss', 'Global mean training loss of the last committed step', () => state.snapshot().loss);
    live('ringtrain_workers', 'Workers in the current generation', () => state.snapshot().workers.length);
    live('ringtrain_generation', 'Current membership generation', () => state.snapshot().generation);
    live('ringtrain_epoch', 'Epoch in progress (1-based)', () => state.snapshot().epoch);
  }

  onStart(_e: RunStartEvent): void {
    if (this.generationsSeen++ > 0) this.restarts.inc();
  }

  onStep(e: StepEvent): void {
    const t = e.timings;
    this.stepSeconds.observe((t.waitMs + t.computeMs + t.allreduceMs + t.updateMs) / 1000);
    this.allreduceSeconds.observe(t.allreduceMs / 1000);
    this.steps.inc();
    this.samples.inc(e.samples);
    this.learningRate.set(e.lr);
  }

  onEpoch(e: EpochEvent): void {
    this.epochs.inc();
    this.evalLoss.set({ split: 'test' }, e.testLoss);
    if (e.testAccuracy !== null) this.evalAccuracy.set({ split: 'test' }, e.testAccuracy);
    if (e.valLoss !== null) this.evalLoss.set({ split: 'validation' }, e.valLoss);
    if (e.valAccuracy !== null) this.evalAccuracy.set({ split: 'validation' }, e.valAccuracy);
  }

  onNonFiniteSkip(): void {
    this.nonFinite.inc();
  }
}
