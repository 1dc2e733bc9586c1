/**
 * Who can reach a port. A listener bound beyond loopback without a token would let anyone on the
 * network join a run or a ring, so config validation refuses it unless the user says --insecure,
 * and the listener then warns every time it starts.
 */
import { isLoopbackHost } from '../protocol/auth.js';
import { ErrorCodes, RingtrainError } from '../base/errors.js';
import type { Logger } from '../base/logger.js';

/** Throws RT_BAD_CONFIG for a non-loopback bind without a token, unless `insecure`. */
export function checkExposure(flag: string, host: string, token: string | null, insecure: boolean): void {
  if (token !== null || insecure || isLoopbackHost(host)) return;
  throw new RingtrainError(
    ErrorCodes.BAD_CONFIG,
    `${flag} ${host} is reachable from other machines but no token is set; give --token-file FILE (or RINGTRAIN_TOKEN), bind to 127.0.0.1, or pass --insecure to accept unauthenticated peers`,
  );
}

/** Logs the warning that --insecure promises. */
export function warnIfInsecure(what: string, host: string, token: string | null, insecure: boolean, log: Logger): void {
  if (token === null && insecure && !isLoopbackHost(host)) log.warn({ host, insecure: true }, `${what} listens beyond loopback without a token (--insecure): anyone who can reach it can join`);
}
