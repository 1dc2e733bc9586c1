/**
 * The optim layer: optimizers on flat buffers with named state slots (types.ts), built from
 * `{name, config}` the way tfjs's `fromConfig` and torch.optim's `load_state_dict` rebuild theirs;
 * learning-rate schedules; global-norm clipping. Imports only shared base modules (errors,
 * kernel-arena), never the coordinator or the worker.
 */
import { ErrorCodes, RingtrainError, type ErrorCode } from '../base/errors.js';
import { AdamOptimizer } from './adam.js';
import { SgdOptimizer } from './sgd.js';
import { optimizerConfig, optimizerName } from './settings.js';
import type { Optimizer } from './types.js';

export type { Alloc, OptimState, Optimizer, OptimizerConfig } from './types.js';
export { OPTIMIZER_NAMES, OPTIMIZER_KEYS, optimizerConfig, optimizerName, clipNormOf, type OptimizerName } from './settings.js';
export { LR_SCHEDULES, lrFactor, type LrSchedule, type LrScheduleName } from './schedule.js';
export { clipGlobalNorm, globalNorm } from './clip.js';
export { adamStep, createAdamState, ADAM_DEFAULTS, type AdamHyper, type AdamState } from './adam-step.js';

/**
 * The optimizer that loose settings describe (flags, config file, job defaults; `optimizer` names
 * it, absent: adam). A cosine schedule without `lrDecaySteps` decays over `plannedSteps`.
 */
export function resolveOptimizer(raw: Readonly<Record<string, unknown>>, plannedSteps?: number): Optimizer {
  const name = optimizerName(raw);
  return fromConfig(name, optimizerConfig(name, raw, plannedSteps));
}

/**
 * The optimizer `name` with `config` (validated and normalised first). A bad name or value throws
 * RingtrainError with `code` (RT_BAD_CONFIG from flags; a message or checkpoint passes its own).
 */
export function fromConfig(name: string, config: Readonly<Record<string, unknown>>, code: ErrorCode = ErrorCodes.BAD_CONFIG): Optimizer {
  try {
    const n = optimizerName({ optimizer: name });
    const normal = optimizerConfig(n, config);
    return n === 'sgd' ? new SgdOptimizer(normal) : new AdamOptimizer(n, normal);
  } catch (err) {
    if (err instanceof RingtrainError && code !== err.code) throw new RingtrainError(code, `optimizer ${name}: ${err.message}`);
    throw err;
  }
}
