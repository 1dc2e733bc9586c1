/**
 * The run loop's observer interface. The coordinator reports what happened (a generation started,
 * a step committed, an epoch evaluated, the run ended) and knows nothing about who listens:
 * progress bar, Prometheus metrics, the dashboard's status, the JSONL log and the best-model
 * export all hang off these events, so operations code stays out of the run loop.
 */
import type { StepTimings } from '../shared/protocol/protocol.js';
import type { Logger } from '../shared/base/logger.js';

/** One rank of the current generation, as the dashboard's worker table shows it. */
export interface WorkerInfo {
  rank: number;
  host: string;
  pid: number;
  engine: string;
}

/** The run's settings as the dashboard, report and recorded metadata show them. */
export interface HyperParameters {
  job: string;
  seed: number;
  epochs: number;
  /** Per-worker micro-batch (--batch-size); `accumulate` of them make one rank's step. */
  batchSize: number;
  accumulate: number;
  lr: number;
  workers: number;
  compress: string;
}

export interface RunStartEvent {
  /** The job's name (not the module path it was loaded from). */
  job: string;
  hyper: HyperParameters;
  generation: number;
  workers: WorkerInfo[];
  epochs: number;
  stepsPerEpoch: number;
  totalSteps: number;
  /** The run's output directory (model, summary, metrics.jsonl). */
  output: string;
}

export interface StepEvent {
  step: number;
  /** 0-based epoch of the step. */
  epoch: number;
  /** Global mean training loss of the step. */
  loss: number;
  samples: number;
  /** Learning rate the step applied (the schedule's, identical on every rank). */
  lr: number;
  /** Slowest rank's timings: the step waits for it. */
  timings: StepTimings;
  /** Every rank's timings, indexed by rank. */
  rankTimings: StepTimings[];
}

export interface EpochEvent {
  /** 1-based number of the epoch just finished. */
  epoch: number;
  step: number;
  trainLoss: number;
  valLoss: number | null;
  valAccuracy: number | null;
  testLoss: number;
  testAccuracy: number | null;
  /** Saves the weights of this epoch (Layers format) into `dir`; valid only during the callback. */
  saveModel(dir: string): Promise<void>;
}

export interface RunEndEvent {
  ok: boolean;
  /** Error code and message when the run failed. */
  error?: { code: string; message: string };
}

/** Every hook is optional; async hooks are awaited (in order), so they may write files. */
export interface RunObserver {
  readonly name: string;
  onStart?(e: RunStartEvent): void | Promise<void>;
  onStep?(e: StepEvent): void | Promise<void>;
  onEpoch?(e: EpochEvent): void | Promise<void>;
  /** A step whose averaged gradient was not finite and was skipped (reported by the reliability work). */
  onNonFiniteSkip?(step: number): void | Promise<void>;
  onEnd?(e: RunEndEvent): void | Promise<void>;
}

type Hook = 'onStart' | 'onStep' | 'onEpoch' | 'onNonFiniteSkip' | 'onEnd';
type Arg<H extends Hook> = Parameters<NonNullable<RunObserver[H]>>[0];

/**
 * Fans events out to observers. An observer that throws is logged and dropped from that event
 * only: a full disk or a closed dashboard must never stop training.
 */
export class RunEvents {
  constructor(private readonly observers: readonly RunObserver[], private readonly log: Logger) {}

  async emit<H extends Hook>(hook: H, arg: Arg<H>): Promise<void> {
    for (const o of this.observers) {
      const fn = o[hook] as ((a: Arg<H>) => void | Promise<void>) | undefined;
      if (!fn) continue;
      try {
        await fn.call(o, arg);
      } catch (err) {
        this.log.warn({ observer: o.name, hook, err: err instanceof Error ? err.message : String(err) }, 'run observer failed; training goes on');
      }
    }
  }
}
