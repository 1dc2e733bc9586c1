/**
 * The shape of one row of the flag table (flag-table.ts), and the names derived from a row's key:
 * the flag (`batchSize` → `--batch-size`), its RINGTRAIN_* variable and its config-file keys. The
 * table is plain data so the command line (launch), validation, defaults and documentation can all
 * be derived from it without repeating a name, bound or message.
 */
import { kebabOf } from '../base/flag-names.js';

export { envVarOf, flagOf, kebabOf } from '../base/flag-names.js';

/** The commands whose flags the table holds. */
export const COMMANDS = ['coordinator', 'worker', 'local', 'eval'] as const;
export type Command = (typeof COMMANDS)[number];

/**
 * How a value is checked when the configuration is parsed (before any socket opens):
 * - `int`: an integer within `range` (numeric strings from env or files count);
 * - `count`: a non-negative integer;
 * - `positive`: a finite number > 0;
 * - `seconds`: a finite number within `range`;
 * - `text`: a non-empty string;
 * - `choice`: one of `choices`;
 * - `optim`: by shared/optim's settings table (its bounds depend on the optimizer chosen);
 * - `free`: by the code that reads it, named in the row's description (URLs, GPU lists, files).
 */
export type Check = 'int' | 'count' | 'positive' | 'seconds' | 'text' | 'choice' | 'optim' | 'free';

export type FlagValue = string | number | boolean;

/** What a command may change about a row: another wording, default or bound for that command. */
export interface FlagOverride {
  describe?: string;
  /** `undefined` given explicitly: no default for this command. */
  default?: FlagValue | undefined;
  check?: Check;
  range?: readonly [number, number];
}

/** One flag. */
export interface FlagSpec {
  type: 'string' | 'number' | 'boolean';
  describe: string;
  commands: readonly Command[];
  /** Given to the parser (shown in --help): an absent flag takes it. */
  default?: FlagValue;
  /**
   * Applied after a job's own defaults or a value computed from other flags (so not given to the
   * parser, which would hide whether the flag was set); part of ConfigDefaults.
   */
  fallback?: FlagValue;
  choices?: readonly string[];
  check?: Check;
  range?: readonly [number, number];
  /** What the value must be, when the check's own wording does not say it ("name a folder"). */
  want?: string;
  /** Said after the requirement in the error ("(0 = any free port, -1 = off)"). */
  hint?: string;
  /**
   * A job's `defaults` may supply it: always, or only while the flags keep the job's choice of
   * optimizer (lrSchedule) that the value belongs to.
   */
  job?: 'always' | 'optimizer' | 'lrSchedule';
  required?: boolean;
  /** An optional row reads '' as absent unless this is set (`--tensorboard ''` names no folder). */
  refuseEmpty?: boolean;
  hidden?: boolean;
  per?: Partial<Record<Command, FlagOverride>>;
}

/** The keys a config file may use for `batchSize`: the flag's name and its camelCase key. */
export function fileKeysOf(key: string): readonly string[] {
  const kebab = kebabOf(key);
  return kebab === key ? [key] : [kebab, key];
}
