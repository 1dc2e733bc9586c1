/**
 * The terminal progress bar (cli-progress): epoch, step/total, loss, samples/s and ETA, redrawn
 * on stderr (stdout carries only the --json summary). Pretty log lines are routed above the bar
 * through the logger's TTY sink, so the bar and the logs never overwrite each other.
 */
import cliProgress from 'cli-progress';
import { setTtyLogSink } from '../../shared/base/logger.js';
import type { RunObserver, RunStartEvent, StepEvent } from '../run-events.js';
import type { RunState } from './run-state.js';

/** Formats the bar's payload; a pure function so it can be tested without a terminal. */
export function progressPayload(epoch: number, epochs: number, loss: number | null, samplesPerSec: number): Record<string, string> {
  return {
    epochs: `${epoch}/${epochs}`,
    loss: loss === null || !Number.isFinite(loss) ? '–' : loss.toPrecision(4),
    rate: samplesPerSec > 0 ? samplesPerSec.toFixed(0) : '–',
  };
}

export class ProgressBar implements RunObserver {
  readonly name = 'progress';
  private multi: cliProgress.MultiBar | null = null;
  private bar: cliProgress.SingleBar | null = null;

  constructor(private readonly state: RunState, private readonly stream: NodeJS.WriteStream = process.stderr) {}

  onStart(e: RunStartEvent): void {
    if (this.bar) {
      this.bar.setTotal(e.totalSteps);
      return;
    }
    this.multi = new cliProgress.MultiBar(
      {
        stream: this.stream,
        format: 'epoch {epochs} |{bar}| {value}/{total} steps | loss {loss} | {rate} samples/s | ETA {eta_formatted}',
        hideCursor: true,
        clearOnComplete: false,
        // Throughput varies step to step; a longer ETA window keeps the estimate steady.
        etaBuffer: 50,
        fps: 10,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar = this.multi.create(e.totalSteps, 0, progressPayload(1, e.epochs, null, 0));
    const multi = this.multi;
    setTtyLogSink((line) => multi.log(line));
  }

  onStep(e: StepEvent): void {
    const s = this.state.snapshot();
    this.bar?.update(e.step + 1, progressPayload(e.epoch + 1, s.epochs, e.loss, s.samplesPerSec));
  }

  onEnd(): void {
    this.multi?.stop();
    this.multi = null;
    this.bar = null;
    setTtyLogSink(null);
  }
}
