/**
 * What `/status` and the dashboard show: the run's live state, kept by listening to run events.
 * Memory stays bounded however long the run: the loss curve is thinned (every other point
 * dropped) whenever it reaches its cap, so it always spans the whole run.
 */
import type { EpochEvent, HyperParameters, RunEndEvent, RunObserver, RunStartEvent, StepEvent, WorkerInfo } from '../run-events.js';

const MAX_CURVE_POINTS = 2000;
/** Throughput is measured over this many recent steps: smooth, yet quick to follow a change. */
const RATE_WINDOW = 20;

export interface WorkerStatus extends WorkerInfo {
  /** Last step on this rank, milliseconds: compute, all-reduce, and the whole step. */
  computeMs: number | null;
  allreduceMs: number | null;
  stepMs: number | null;
}

/** An epoch's figures as /status keeps them: the event without its save callback. */
export type EpochRecord = Omit<EpochEvent, 'saveModel'>;

export interface RunStatus {
  state: 'waiting' | 'training' | 'done' | 'failed';
  job: string | null;
  /** The run's settings (null until the first generation starts). */
  hyper: HyperParameters | null;
  output: string | null;
  generation: number;
  /** Generations started after the first (membership changes). */
  restarts: number;
  epochs: number;
  /** 1-based epoch in progress (or last finished). */
  epoch: number;
  /** Committed steps so far. */
  step: number;
  totalSteps: number;
  loss: number | null;
  samplesPerSec: number;
  elapsedSeconds: number;
  etaSeconds: number | null;
  nonFiniteSkips: number;
  workers: WorkerStatus[];
  /** Training loss curve as [step, loss] pairs (thinned on long runs). */
  lossCurve: [number, number][];
  epochHistory: EpochRecord[];
  error: { code: string; message: string } | null;
}

export class RunState implements RunObserver {
  readonly name = 'status';
  private status: RunStatus = {
    state: 'waiting', job: null, hyper: null, output: null, generation: 0, restarts: 0, epochs: 0, epoch: 0, step: 0, totalSteps: 0, loss: null,
    samplesPerSec: 0, elapsedSeconds: 0, etaSeconds: null, nonFiniteSkips: 0, workers: [], lossCurve: [], epochHistory: [], error: null,
  };
  private startedAt: number | null = null;
  private curveStride = 1;
  /** (time ms, cumulative samples) at recent commits, for the throughput window. */
  private readonly recent: [number, number][] = [];
  private samples = 0;

  constructor(private readonly now: () => number = () => performance.now()) {}

  onStart(e: RunStartEvent): void {
    const s = this.status;
    if (s.generation > 0) s.restarts++;
    s.state = 'training';
    s.job = e.job;
    s.hyper = e.hyper;
    s.output = e.output;
    s.generation = e.generation;
    s.epochs = e.epochs;
    s.totalSteps = e.totalSteps;
    s.epoch = Math.max(s.epoch, 1);
    s.workers = e.workers.map((w) => ({ ...w, computeMs: null, allreduceMs: null, stepMs: null }));
    this.startedAt ??= this.now();
  }

  onStep(e: StepEvent): void {
    const s = this.status;
    const t = this.now();
    s.step = e.step + 1;
    s.epoch = e.epoch + 1;
    s.loss = e.loss;
    this.samples += e.samples;
    this.recent.push([t, this.samples]);
    if (this.recent.length > RATE_WINDOW + 1) this.recent.shift();
    const first = this.recent[0]!;
    const dt = (t - first[0]) / 1000;
    if (dt > 0) s.samplesPerSec = (this.samples - first[1]) / dt;
    e.rankTimings.forEach((tm, rank) => {
      const w = s.workers[rank];
      if (!w) return;
      w.computeMs = tm.computeMs;
      w.allreduceMs = tm.allreduceMs;
      w.stepMs = tm.waitMs + tm.computeMs + tm.allreduceMs + tm.updateMs;
    });
    if (e.step % this.curveStride === 0) {
      s.lossCurve.push([e.step, e.loss]);
      if (s.lossCurve.length >= MAX_CURVE_POINTS) {
        this.curveStride *= 2;
        s.lossCurve = s.lossCurve.filter(([step]) => step % this.curveStride === 0);
      }
    }
  }

  onEpoch(e: EpochEvent): void {
    const { saveModel: _save, ...record } = e;
    this.status.epochHistory.push(record);
  }

  onNonFiniteSkip(): void {
    this.status.nonFiniteSkips++;
  }

  onEnd(e: RunEndEvent): void {
    this.status.state = e.ok ? 'done' : 'failed';
    this.status.error = e.error ?? null;
    this.status.etaSeconds = e.ok ? 0 : null;
    if (this.startedAt !== null) this.status.elapsedSeconds = (this.now() - this.startedAt) / 1000;
  }

  /** A copy of the current state, with the clock-derived fields brought up to date. */
  snapshot(): RunStatus {
    const s = this.status;
    if (this.startedAt !== null && (s.state === 'training' || s.state === 'waiting')) {
      s.elapsedSeconds = (this.now() - this.startedAt) / 1000;
      const left = s.totalSteps - s.step;
      s.etaSeconds = s.step > 0 ? (s.elapsedSeconds / s.step) * left : null;
    }
    return structuredClone(s);
  }
}
