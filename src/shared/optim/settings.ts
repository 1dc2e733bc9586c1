/**
 * One table of optimizer settings: which keys each optimizer takes, their defaults and their
 * bounds. The command line, config files, job defaults, the start message and checkpoints all
 * pass through `optimizerConfig`, so a value is checked the same way wherever it comes from.
 * Keys are the flags' camelCase names (`weightDecay` is `--weight-decay`).
 */
import { ErrorCodes, RingtrainError } from '../base/errors.js';
import { LR_SCHEDULES, type LrSchedule } from './schedule.js';
import type { OptimizerConfig } from './types.js';
import { flagOf, show } from '../base/flag-names.js';

export const OPTIMIZER_NAMES = ['adam', 'adamw', 'sgd'] as const;
export type OptimizerName = (typeof OPTIMIZER_NAMES)[number];

type Check = 'positive' | 'nonNegative' | 'unit' | 'count' | 'positiveCount' | 'bool' | 'schedule';
interface Field { key: string; check: Check }

const f = (key: string, check: Check): Field => ({ key, check });
const ADAM_KEYS = [f('lr', 'positive'), f('beta1', 'unit'), f('beta2', 'unit'), f('epsilon', 'positive')];
/** The keys each optimizer takes besides the schedule's. */
const KEYS: Record<OptimizerName, readonly Field[]> = {
  adam: ADAM_KEYS,
  adamw: [...ADAM_KEYS, f('weightDecay', 'nonNegative')],
  sgd: [f('lr', 'positive'), f('momentum', 'unit'), f('nesterov', 'bool'), f('weightDecay', 'nonNegative')],
};

/**
 * Defaults of the references each optimizer names: tf.train.adam's epsilon for adam (so today's
 * runs are unchanged), torch.optim.AdamW's and torch.optim.SGD's for the others.
 */
const DEFAULTS: Record<OptimizerName, Readonly<Record<string, number | boolean>>> = {
  adam: { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
  adamw: { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01 },
  sgd: { momentum: 0, nesterov: false, weightDecay: 0 },
};
const SCHEDULE_DEFAULTS = { lrSchedule: 'constant', warmupSteps: 0, lrStepSize: 1, lrGamma: 0.1 } as const;


function fail(msg: string): never {
  throw new RingtrainError(ErrorCodes.BAD_CONFIG, msg);
}

/** A value from a flag, env variable (a string), config file or message, checked. */
function checked(key: string, check: Check, v: unknown): number | boolean | string {
  const flag = flagOf(key);
  if (check === 'bool') {
    if (typeof v === 'boolean') return v;
    if (v === 'true' || v === 'false') return v === 'true';
    return fail(`${flag} must be true or false (got ${show(v)})`);
  }
  if (check === 'schedule') {
    const hit = LR_SCHEDULES.find((s) => s === v);
    return hit ?? fail(`${flag} must be one of ${LR_SCHEDULES.join('|')} (got ${show(v)})`);
  }
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  const ok = typeof n === 'number' && Number.isFinite(n) && (
    check === 'positive' ? n > 0
      : check === 'nonNegative' ? n >= 0
        : check === 'unit' ? n >= 0 && n < 1
          : Number.isInteger(n) && n >= (check === 'count' ? 0 : 1) && n <= 1e12);
  if (!ok) {
    const want = { positive: 'a positive number', nonNegative: 'a number ≥ 0', unit: 'a number in [0, 1)', count: 'an integer ≥ 0', positiveCount: 'an integer ≥ 1' }[check];
    fail(`${flag} must be ${want} (got ${show(v)})`);
  }
  return n as number;
}

/** The optimizer name in `raw.optimizer` (absent: adam). */
export function optimizerName(raw: Readonly<Record<string, unknown>>): OptimizerName {
  const v = raw['optimizer'] ?? 'adam';
  return OPTIMIZER_NAMES.find((n) => n === v) ?? fail(`--optimizer must be one of ${OPTIMIZER_NAMES.join('|')} (got ${show(v)})`);
}

/**
 * The normalised configuration of `name` from loose values: defaults filled in, every value
 * checked, and only the keys that matter kept (a schedule's keys only with that schedule), so two
 * configurations that train alike compare and fingerprint alike. A key that belongs to no
 * optimizer here is ignored; one set for another optimizer (--momentum with adam) is an error.
 * A cosine schedule without `lrDecaySteps` takes `decaySteps` (the run's planned step count).
 * Throws RT_BAD_CONFIG naming the flag.
 */
export function optimizerConfig(name: OptimizerName, raw: Readonly<Record<string, unknown>>, decaySteps?: number): OptimizerConfig {
  const out: Record<string, number | boolean | string> = {};
  const given = (k: string): boolean => raw[k] !== undefined && raw[k] !== null;
  for (const { key, check } of KEYS[name]) {
    const v = given(key) ? raw[key] : DEFAULTS[name][key];
    if (v === undefined) fail(`${flagOf(key)} is required with --optimizer ${name}`);
    out[key] = checked(key, check, v);
  }
  for (const other of ['momentum', 'nesterov', 'weightDecay']) {
    if (!(other in out) && given(other)) fail(`${flagOf(other)} does not apply to --optimizer ${name}`);
  }
  if (out['nesterov'] === true && out['momentum'] === 0) fail('--nesterov needs --momentum > 0 (as torch.optim.SGD)');
  const schedule = checked('lrSchedule', 'schedule', given('lrSchedule') ? raw['lrSchedule'] : SCHEDULE_DEFAULTS.lrSchedule);
  out['lrSchedule'] = schedule;
  const warmup = checked('warmupSteps', 'count', given('warmupSteps') ? raw['warmupSteps'] : SCHEDULE_DEFAULTS.warmupSteps) as number;
  if (schedule === 'constant' && warmup > 0) fail('--warmup-steps needs --lr-schedule warmup, cosine or step (constant has no warm-up)');
  if (schedule === 'warmup' && warmup === 0) fail('--lr-schedule warmup needs --warmup-steps ≥ 1');
  if (schedule !== 'constant') out['warmupSteps'] = warmup;
  if (schedule === 'cosine') {
    const d = given('lrDecaySteps') ? raw['lrDecaySteps'] : decaySteps;
    if (d === undefined) fail('--lr-schedule cosine needs --lr-decay-steps');
    const steps = checked('lrDecaySteps', 'positiveCount', d) as number;
    if (steps <= warmup) fail(`--lr-decay-steps (${steps}) must exceed --warmup-steps (${warmup})`);
    out['lrDecaySteps'] = steps;
  } else if (given('lrDecaySteps')) fail('--lr-decay-steps needs --lr-schedule cosine');
  if (schedule === 'step') {
    out['lrStepSize'] = checked('lrStepSize', 'positiveCount', given('lrStepSize') ? raw['lrStepSize'] : SCHEDULE_DEFAULTS.lrStepSize);
    out['lrGamma'] = checked('lrGamma', 'positive', given('lrGamma') ? raw['lrGamma'] : SCHEDULE_DEFAULTS.lrGamma);
  } else if (given('lrStepSize') || given('lrGamma')) fail('--lr-step-size and --lr-gamma need --lr-schedule step');
  return out;
}

/** The schedule a normalised configuration describes. */
export function scheduleOf(config: OptimizerConfig): LrSchedule {
  const num = (k: string, d: number): number => (typeof config[k] === 'number' ? (config[k] as number) : d);
  return {
    schedule: LR_SCHEDULES.find((s) => s === config['lrSchedule']) ?? 'constant',
    warmupSteps: num('warmupSteps', 0), decaySteps: num('lrDecaySteps', 1), stepSize: num('lrStepSize', 1), gamma: num('lrGamma', 1),
  };
}

/** The keys the optimizer flags may set (CLI, config files, job defaults). */
export const OPTIMIZER_KEYS = ['optimizer', 'lr', 'weightDecay', 'momentum', 'nesterov', 'lrSchedule', 'warmupSteps', 'lrDecaySteps', 'lrStepSize', 'lrGamma', 'clipNorm'] as const;

/** `--clip-norm`: absent or 0 means no clipping; else a positive bound on the gradient's global norm. */
export function clipNormOf(v: unknown): number {
  if (v === undefined || v === null) return 0;
  return checked('clipNorm', 'nonNegative', v) as number;
}
