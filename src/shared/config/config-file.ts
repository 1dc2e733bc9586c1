/**
 * `--config FILE`: a JSON or YAML object whose keys are the flags' names (`batch-size` or
 * `batchSize`: flag-spec.ts fileKeysOf; yargs maps them onto the table's options). YAML is a
 * superset of JSON, so one parser reads both; the extension only picks the wording of errors.
 * Any problem is a one-line RT_BAD_CONFIG before anything starts.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { ErrorCodes, RingtrainError } from '../base/errors.js';
import { fileKeysOf } from './flag-spec.js';
import { FLAG_KEYS } from './flags.js';

export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new RingtrainError(ErrorCodes.BAD_CONFIG, `cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const kind = /\.json$/i.test(path) ? 'JSON' : 'YAML';
  let parsed: unknown;
  try {
    // Plain data only: no custom tags, and a cap on aliases so a small file cannot expand hugely.
    parsed = parse(text, { maxAliasCount: 100 });
  } catch (err) {
    throw new RingtrainError(ErrorCodes.BAD_CONFIG, `config file ${path} is not valid ${kind}: ${err instanceof Error ? err.message.split('\n')[0]!.replace(/:$/, '') : String(err)}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new RingtrainError(ErrorCodes.BAD_CONFIG, `config file ${path} must hold an object of flag names to values (got ${Array.isArray(parsed) ? 'a list' : typeof parsed})`);
  }
  // yargs would report a snake_case key as an unknown argument in camelCase; name the key as
  // written, and the flag it probably means when the table has one.
  const snake = Object.keys(parsed).find((k) => k.includes('_'));
  if (snake !== undefined) {
    const kebab = snake.replace(/_/g, '-');
    const known = FLAG_KEYS.some((k) => fileKeysOf(k).includes(kebab));
    throw new RingtrainError(ErrorCodes.BAD_CONFIG, `config file ${path}: unknown key "${snake}"${known ? `; did you mean "${kebab}"?` : ''} (keys are the flags' names)`);
  }
  return Object.fromEntries(Object.entries(parsed));
}
