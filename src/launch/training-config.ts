/**
 * A run's configuration the way the CLI and the library both build it: the settings given, then
 * the job's own defaults, then ConfigDefaults, validated before any socket opens.
 */
import { ConfigDefaults, coordinatorConfig, type CoordinatorConfig } from '../shared/config/config.js';
import { OPTIMIZER_KEYS } from '../shared/optim/index.js';
import { loadJob } from '../jobs/registry.js';
import type { Job, JobDefaults } from '../shared/job/job.js';

/**
 * Merges the job's own defaults under the settings given (keys as the flags' camelCase names:
 * `batchSize` for --batch-size), fills the rest from ConfigDefaults and validates. `job` is the
 * job already loaded for `raw.job`, if the caller has it; otherwise it is loaded here.
 */
export async function trainingConfig(raw: Record<string, unknown>, job?: Job): Promise<CoordinatorConfig> {
  const spec = raw['job'] ?? ConfigDefaults.job;
  const d = (job ?? (typeof spec === 'string' ? await loadJob(spec) : undefined))?.defaults ?? {};
  return coordinatorConfig({
    ...raw,
    ...withJobOptimizer(raw, d),
    epochs: raw['epochs'] ?? d.epochs,
    batchSize: raw['batchSize'] ?? d.batchSize,
    lr: raw['lr'] ?? d.lr,
  });
}

/**
 * The job's optimizer defaults under the settings given. Its values come in two groups that
 * belong to one choice each: weight decay, momentum and nesterov to its optimizer; warm-up and
 * the schedule's own keys to its schedule. A group applies only when the settings choose no other
 * optimizer (schedule); clipping applies on its own.
 */
export function withJobOptimizer(raw: Record<string, unknown>, d: JobDefaults): Record<string, unknown> {
  const keep = (choice: 'optimizer' | 'lrSchedule', fallback: string): boolean => raw[choice] === undefined || raw[choice] === (d[choice] ?? fallback);
  const groups: Record<string, boolean> = {
    optimizer: keep('optimizer', 'adam'), weightDecay: keep('optimizer', 'adam'), momentum: keep('optimizer', 'adam'), nesterov: keep('optimizer', 'adam'),
    lrSchedule: keep('lrSchedule', 'constant'), warmupSteps: keep('lrSchedule', 'constant'), lrDecaySteps: keep('lrSchedule', 'constant'),
    lrStepSize: keep('lrSchedule', 'constant'), lrGamma: keep('lrSchedule', 'constant'), clipNorm: true,
  };
  const out: Record<string, unknown> = {};
  for (const k of OPTIMIZER_KEYS) if (k !== 'lr') out[k] = raw[k] ?? (groups[k] ? d[k] : undefined);
  return out;
}
