/**
 * Learning-rate schedules as functions of the step index, in the manner of torch's LambdaLR: the
 * rate of step k is `lr * factor(k)`. Every rank evaluates the same float64 expression of the
 * same k, so ranks agree; the optimizer rounds the product to float32 once.
 */

export const LR_SCHEDULES = ['constant', 'warmup', 'cosine', 'step'] as const;
export type LrScheduleName = (typeof LR_SCHEDULES)[number];

export interface LrSchedule {
  schedule: LrScheduleName;
  /** Steps of linear warm-up before the schedule proper (0: none). */
  warmupSteps: number;
  /** cosine: the step at which the rate reaches 0, warm-up included. */
  decaySteps: number;
  /** step: multiply the rate by `gamma` every `stepSize` steps after warm-up. */
  stepSize: number;
  gamma: number;
}

/**
 * The factor of step k. Warm-up rises linearly from 1/W to 1 over steps 0..W-1 (k+1, not k, so
 * the first step is not wasted at rate 0); cosine falls from 1 at step W to 0 at `decaySteps` and
 * stays there; step multiplies by `gamma` once per `stepSize` steps counted from W.
 */
export function lrFactor(s: LrSchedule, k: number): number {
  const w = s.warmupSteps;
  if (s.schedule === 'constant') return 1;
  if (k < w) return (k + 1) / w;
  switch (s.schedule) {
    case 'warmup':
      return 1;
    case 'cosine': {
      const progress = Math.min(1, (k - w) / Math.max(1, s.decaySteps - w));
      return 0.5 * (1 + Math.cos(Math.PI * progress));
    }
    case 'step':
      return s.gamma ** Math.floor((k - w) / s.stepSize);
  }
}
