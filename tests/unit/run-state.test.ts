/** The dashboard's state model without a run: curve thinning, throughput, restarts, per-rank times. */
import { describe, expect, it } from 'vitest';
import { RunState } from '../../src/coordinator/ops/run-state.js';
import { progressPayload } from '../../src/coordinator/ops/progress.js';

const timings = { waitMs: 1, computeMs: 2, allreduceMs: 3, updateMs: 4 };
const start = { job: 'j', hyper: { job: 'j', seed: 1, epochs: 1, batchSize: 8, accumulate: 1, lr: 0.01, workers: 2, compress: 'none' }, generation: 1, epochs: 1, stepsPerEpoch: 5000, totalSteps: 5000, output: '/tmp/x', workers: [{ rank: 0, host: 'a', pid: 1, engine: 'cpu' }, { rank: 1, host: 'b', pid: 2, engine: 'wasm' }] };

describe('RunState', () => {
  it('keeps the loss curve bounded yet spanning the run, and measures throughput', () => {
    let now = 0;
    const s = new RunState(() => now);
    s.onStart(start);
    for (let step = 0; step < 5000; step++) {
      now += 10;
      s.onStep({ step, epoch: 0, loss: 1 / (step + 1), samples: 64, lr: 1e-3, timings, rankTimings: [timings, { ...timings, computeMs: 20 }] });
    }
    const snap = s.snapshot();
    expect(snap.lossCurve.length).toBeLessThan(2000);
    expect(snap.lossCurve[0]![0]).toBe(0);
    expect(snap.lossCurve.at(-1)![0]).toBeGreaterThan(4900);
    expect(snap.samplesPerSec).toBeCloseTo(6400, 6); // 64 samples every 10 ms
    expect(snap.workers.map((w) => [w.rank, w.stepMs, w.computeMs])).toEqual([[0, 10, 2], [1, 28, 20]]);
    expect(snap.step).toBe(5000);
    expect(snap.etaSeconds).toBe(0);
  });

  it('counts a second generation as a restart and records the end', () => {
    const s = new RunState(() => 0);
    s.onStart(start);
    s.onStart({ ...start, generation: 2, workers: start.workers.slice(0, 1) });
    s.onNonFiniteSkip();
    s.onEnd({ ok: false, error: { code: 'RT_TIMEOUT', message: 'slow' } });
    const snap = s.snapshot();
    expect([snap.generation, snap.restarts, snap.workers.length, snap.nonFiniteSkips, snap.state]).toEqual([2, 1, 1, 1, 'failed']);
    expect(snap.error?.code).toBe('RT_TIMEOUT');
  });

  it('formats the progress bar payload', () => {
    expect(progressPayload(2, 5, 0.123456, 3210.7)).toEqual({ epochs: '2/5', loss: '0.1235', rate: '3211' });
    expect(progressPayload(1, 5, null, 0)).toEqual({ epochs: '1/5', loss: '–', rate: '–' });
  });
});
