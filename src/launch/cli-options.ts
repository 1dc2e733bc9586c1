/**
 * The flag table (shared/config/flag-table.ts) as yargs options: one `.option()` per row a command
 * takes, named by the flag (`batch-size`), so yargs also reads it from RINGTRAIN_BATCH_SIZE and a
 * config file's `batch-size` / `batchSize`. Bounds are not given to yargs: the config layer checks
 * every value after the merge, whichever source it came from, with the same one-line message.
 */
import type { Argv, Options } from 'yargs';
import { kebabOf, type Command, type FlagSpec } from '../shared/config/flag-spec.js';
import { flagsOf } from '../shared/config/flags.js';

/** A row as yargs declares it. */
export function yargsOption(spec: FlagSpec): Options {
  return {
    type: spec.type,
    describe: spec.describe,
    ...(spec.default === undefined ? {} : { default: spec.default }),
    ...(spec.choices === undefined ? {} : { choices: [...spec.choices] }),
    ...(spec.required === true ? { demandOption: true } : {}),
    ...(spec.hidden === true ? { hidden: true } : {}),
  };
}

/** `y` with every flag `command` takes, in table order. */
export function withFlags(y: Argv, command: Command): Argv {
  let out = y;
  for (const [key, spec] of flagsOf(command)) out = out.option(kebabOf(key), yargsOption(spec));
  return out;
}
