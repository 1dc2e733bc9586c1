/**
 * What the flag table (flag-table.ts) derives: each command's rows with its overrides applied,
 * reading and checking one merged setting (a one-line RT_BAD_CONFIG naming the flag), the
 * defaults, and the merge of a job's own defaults under the flags. Parser-neutral: launch turns
 * the rows into yargs options.
 */
import { ErrorCodes, RingtrainError } from '../base/errors.js';
import { show } from '../base/flag-names.js';
import { flagOf, type Command, type FlagSpec, type FlagValue } from './flag-spec.js';
import { FLAGS, type FlagKey } from './flag-table.js';

type Raw = Readonly<Record<string, unknown>>;
const ROWS: Readonly<Record<string, FlagSpec>> = FLAGS;

/** Every key of the table. */
export const FLAG_KEYS = Object.keys(FLAGS) as FlagKey[];

/** The row of `key` as `command` sees it (its overrides applied); without a command, the base row. */
export function flagSpec(key: FlagKey, command?: Command): FlagSpec {
  const row = ROWS[key]!;
  const over = command === undefined ? undefined : row.per?.[command];
  if (over === undefined) return row;
  const out: FlagSpec = { ...row, ...over };
  if ('default' in over && over.default === undefined) delete out.default;
  return out;
}

/** The flags `command` takes, in table order, its overrides applied. */
export function flagsOf(command: Command): [FlagKey, FlagSpec][] {
  return FLAG_KEYS.filter((k) => ROWS[k]!.commands.includes(command)).map((k) => [k, flagSpec(k, command)]);
}

function fail(msg: string): never {
  throw new RingtrainError(ErrorCodes.BAD_CONFIG, msg);
}

export { show } from '../base/flag-names.js';

/** Env variables and config files give strings; the number in one, or the value itself. */
function numeric(v: unknown): unknown {
  return typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
}

/** What the row's check requires, as its error says it ("be an integer in [1, 1000000]"). */
export function requirement(spec: FlagSpec): string {
  if (spec.want !== undefined) return spec.want;
  const [min, max] = spec.range ?? [0, 0];
  switch (spec.check) {
    case 'int': return `be an integer in [${min}, ${max}]`;
    case 'count': return 'be a non-negative integer';
    case 'positive': return 'be a positive number';
    case 'seconds': return `be a number of seconds in [${min}, ${max}]`;
    case 'text': return 'be a non-empty string';
    case 'choice': return `be one of ${(spec.choices ?? []).join('|')}`;
    default: return 'be valid';
  }
}

/** `v` checked by `spec` (named `key` in errors); throws RT_BAD_CONFIG. */
function checkValue(key: string, spec: FlagSpec, v: unknown): unknown {
  const n = numeric(v);
  const [min, max] = spec.range ?? [-Infinity, Infinity];
  let ok: boolean;
  switch (spec.check) {
    case 'int': ok = typeof n === 'number' && Number.isInteger(n) && n >= min && n <= max; break;
    case 'count': ok = typeof n === 'number' && Number.isInteger(n) && n >= 0; break;
    case 'positive': ok = typeof n === 'number' && Number.isFinite(n) && n > 0; break;
    case 'seconds': ok = typeof n === 'number' && Number.isFinite(n) && n >= min && n <= max; break;
    case 'text': return typeof v === 'string' && v.trim() !== '' ? v : fail(`${flagOf(key)} must ${requirement(spec)} (got ${show(v)})`);
    case 'choice': return spec.choices?.find((c) => c === v) ?? fail(`${flagOf(key)} must ${requirement(spec)} (got ${show(v)})`);
    default: return v;
  }
  if (!ok) fail(`${flagOf(key)} must ${requirement(spec)}${spec.hint === undefined ? '' : ` ${spec.hint}`} (got ${show(v)})`);
  return n;
}

/**
 * The merged setting `key` for `command`, checked: an absent value takes the row's default (or
 * fallback); a row with neither and not required reads absent, null or '' as null.
 */
export function readFlag(raw: Raw, key: FlagKey, command?: Command): unknown {
  const spec = flagSpec(key, command);
  let v = raw[key];
  if (v === undefined) v = spec.default ?? spec.fallback;
  if ((v === undefined || v === null || (v === '' && spec.refuseEmpty !== true)) && !('default' in spec) && !('fallback' in spec) && spec.required !== true) return null;
  return checkValue(key, spec, v);
}

/** readFlag for a number that always has a value. */
export function numberFlag(raw: Raw, key: FlagKey, command?: Command): number {
  return readFlag(raw, key, command) as number;
}

/** readFlag for an optional number (null: not given). */
export function optNumberFlag(raw: Raw, key: FlagKey, command?: Command): number | null {
  return readFlag(raw, key, command) as number | null;
}

/** readFlag for a string that always has a value. */
export function textFlag(raw: Raw, key: FlagKey, command?: Command): string {
  return readFlag(raw, key, command) as string;
}

/** readFlag for an optional string (null: not given). */
export function optTextFlag(raw: Raw, key: FlagKey, command?: Command): string | null {
  return readFlag(raw, key, command) as string | null;
}

/** readFlag for a choice, typed by the list the row's choices come from. */
export function choiceFlag<T extends string>(raw: Raw, key: FlagKey, _choices: readonly T[], command?: Command): T {
  return readFlag(raw, key, command) as T;
}

type Widen<T> = T extends string ? string : T extends number ? number : T extends boolean ? boolean : T;
type Table = typeof FLAGS;
type DefaultOf<S> = S extends { default: infer D } ? D : S extends { fallback: infer F } ? F : never;
type TypedDefault<S> = S extends { choices: readonly (infer C)[] } ? C : Widen<DefaultOf<S>>;

/** The defaults of every row that has one (ConfigDefaults), keyed as the settings are. */
export type FlagDefaults = { readonly [K in keyof Table as [DefaultOf<Table[K]>] extends [never] ? never : K]: TypedDefault<Table[K]> };

/** The table's defaults (a row's default, else its fallback), for the library and the CLI. */
export function flagDefaults(): FlagDefaults {
  const out: Record<string, FlagValue> = {};
  for (const k of FLAG_KEYS) {
    const d = ROWS[k]!.default ?? ROWS[k]!.fallback;
    if (d !== undefined) out[k] = d;
  }
  return out as FlagDefaults;
}

/**
 * The settings with a job's own `defaults` under the flags. A job's value applies when the flag is
 * absent, and for rows that belong to the job's choice of optimizer or schedule (weight decay to
 * its optimizer, warm-up to its schedule) only while the flags keep that choice. Rows a job may
 * set that have a fallback take it when neither gives a value.
 */
export function withJobDefaults(raw: Raw, defaults: Readonly<Partial<Record<FlagKey, unknown>>>): Record<string, unknown> {
  const jobDefaults: Raw = defaults;
  const out: Record<string, unknown> = { ...raw };
  const keeps = (choice: 'optimizer' | 'lrSchedule'): boolean => raw[choice] === undefined || raw[choice] === (jobDefaults[choice] ?? ROWS[choice]!.fallback);
  for (const k of FLAG_KEYS) {
    const spec = ROWS[k]!;
    if (spec.job === undefined) continue;
    const jobValue = spec.job === 'always' || keeps(spec.job) ? jobDefaults[k] : undefined;
    out[k] = raw[k] ?? jobValue ?? (spec.job === 'always' ? spec.fallback : undefined);
  }
  return out;
}
