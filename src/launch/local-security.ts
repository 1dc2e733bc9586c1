/**
 * What `ringtrain local` hands its worker children for security. The token goes through the
 * environment, never argv, so it does not show in `ps`; TLS file paths are not secret and go on
 * the command line. The children bind their ring listeners to the coordinator's loopback host.
 */
import { resolve } from 'node:path';
import type { SecurityConfig } from '../shared/transport/security-config.js';

export function childEnv(sec: SecurityConfig): NodeJS.ProcessEnv {
  // No RINGTRAIN_* settings: those were meant for this coordinator (its flags reach the workers
  // explicitly), and the worker command rejects keys it does not know, so RINGTRAIN_EPOCHS=3
  // would otherwise kill every worker. Only this run's token is passed on.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RINGTRAIN_')));
  if (sec.token !== null) env['RINGTRAIN_TOKEN'] = sec.token;
  return env;
}

export function childTlsArgs(sec: SecurityConfig): string[] {
  const f = sec.tlsFiles;
  const args: string[] = [];
  if (f.cert !== null && f.key !== null) args.push('--tls-cert', resolve(f.cert), '--tls-key', resolve(f.key));
  // The children dial the coordinator and each other: trust the CA given, else the certificate itself.
  const ca = f.ca ?? f.cert;
  if (ca !== null) args.push('--tls-ca', resolve(ca));
  if (sec.insecure) args.push('--insecure');
  return args;
}
