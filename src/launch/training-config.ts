/**
 * A run's configuration the way the CLI and the library both build it: the settings given, then
 * the job's own defaults, then the flag table's defaults, validated before any socket opens.
 */
import { ConfigDefaults, coordinatorConfig, type CoordinatorConfig } from '../shared/config/config.js';
import { withJobDefaults } from '../shared/config/flags.js';
import { loadJob } from '../jobs/registry.js';
import type { Job } from '../shared/job/job.js';

/**
 * Merges the job's own defaults under the settings given (keys as the flags' camelCase names:
 * `batchSize` for --batch-size), fills the rest from the defaults and validates. `job` is the job
 * already loaded for `raw.job`, if the caller has it; otherwise it is loaded here.
 */
export async function trainingConfig(raw: Record<string, unknown>, job?: Job): Promise<CoordinatorConfig> {
  const spec = raw['job'] ?? ConfigDefaults.job;
  const loaded = job ?? (typeof spec === 'string' ? await loadJob(spec) : undefined);
  return coordinatorConfig(withJobDefaults(raw, loaded?.defaults ?? {}));
}
