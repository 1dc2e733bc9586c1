/**
 * How a setting's key is named where users see it: flags, variables and quoted values in error
 * messages. In the base layer because the optimizer settings and the flag table both name flags.
 */

/** `batchSize` → `batch-size`. */
export function kebabOf(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}

/** `batchSize` → `--batch-size`, as errors name it. */
export function flagOf(key: string): string {
  return `--${kebabOf(key)}`;
}

/** `batchSize` → `RINGTRAIN_BATCH_SIZE`, the variable the command line reads it from. */
export function envVarOf(key: string): string {
  return `RINGTRAIN_${kebabOf(key).replace(/-/g, '_').toUpperCase()}`;
}

/** A value as an error quotes it: strings in quotes, everything else as written. */
export function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}
