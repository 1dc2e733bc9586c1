/**
 * The end of a run as a person reads it (stdout, without --json): final metrics, throughput,
 * wall time and where the model is. A pure function of the summary, so it is tested without a run.
 */
import type { RunSummary } from '../coordinator.js';

function num(v: number, digits = 4): string {
  return Number.isFinite(v) ? v.toPrecision(digits) : '–';
}

function duration(s: number): string {
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s - m * 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function summaryText(s: RunSummary): string {
  const engines = [...new Set(s.engines)].join(', ');
  const lines = [
    `${s.job}: done — ${s.epochs} epoch${s.epochs === 1 ? '' : 's'}${s.stopped ? ' (stopped early)' : ''}, ${s.steps} steps on ${s.workers} worker${s.workers === 1 ? '' : 's'} (${engines})`,
    `  train loss ${num(s.finalLoss)}   test loss ${num(s.testLoss)}${s.testAccuracy === null ? '' : `   test accuracy ${(s.testAccuracy * 100).toFixed(2)}%`}`,
    `  ${Math.round(s.samplesPerSec).toLocaleString('en-US')} samples/s   wall time ${duration(s.wallSeconds)}${s.nonFiniteSkips > 0 ? `   ${s.nonFiniteSkips} non-finite steps skipped` : ''}`,
    `  model, summary and report in ${s.output}`,
  ];
  return `${lines.join('\n')}\n`;
}
