/**
 * yargs reports an unknown RINGTRAIN_* variable as an unknown argument in camelCase
 * (`RINGTRAIN_LEARNING_RATE` → "Unknown argument: learningRate"), which names nothing the user typed.
 * This rewrites such a message to name the variables, and leaves real command-line typos alone.
 */
import { envVarOf, kebabOf as kebab } from '../shared/config/flag-spec.js';

export { envVarOf };

/**
 * `msg` as yargs wrote it; returns it rewritten when some unknown names come from the
 * environment rather than from `argv` (the command line), else unchanged.
 */
export function explainUnknown(msg: string, env: NodeJS.ProcessEnv, argv: readonly string[]): string {
  const m = /^Unknown arguments?: (.+)$/.exec(msg);
  if (!m) return msg;
  const names = m[1]!.split(', ').map((n) => n.trim());
  const typed = (n: string): boolean => argv.some((a) => a === `--${n}` || a.startsWith(`--${n}=`) || a === `--${kebab(n)}` || a.startsWith(`--${kebab(n)}=`) || a === `--no-${kebab(n)}`);
  const fromEnv = names.filter((n) => !typed(n) && env[envVarOf(n)] !== undefined);
  if (fromEnv.length === 0) return msg;
  const rest = names.filter((n) => !fromEnv.includes(n));
  const vars = fromEnv.map((n) => `${envVarOf(n)} (no --${kebab(n)} flag for this command)`);
  return `unknown environment variable${vars.length > 1 ? 's' : ''} ${vars.join(', ')}${rest.length ? `; unknown argument${rest.length > 1 ? 's' : ''}: ${rest.join(', ')}` : ''}`;
}
