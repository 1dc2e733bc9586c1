/**
 * The security half of the configuration, shared by every command: the token (from --token,
 * RINGTRAIN_TOKEN or --token-file), --insecure, and TLS files. Checked when the config is parsed,
 * before a socket opens: a listener beyond loopback without a token is refused here.
 */
import { readFileSync } from 'node:fs';
import { ErrorCodes, RingtrainError } from '../base/errors.js';
import { checkExposure } from './exposure.js';
import { loadTls, type TlsFiles, type TlsMaterial } from './tls.js';

export interface SecurityConfig {
  /** Shared secret; null when none was given. Never logged, never sent. */
  token: string | null;
  /** The user accepted listening beyond loopback without a token. */
  insecure: boolean;
  tlsFiles: TlsFiles;
  tls: TlsMaterial;
}

type Raw = Record<string, unknown>;

function optPath(raw: Raw, key: string, flag: string): string | null {
  const v = raw[key];
  if (v === undefined || v === null || v === '') return null;
  if (typeof v !== 'string') throw new RingtrainError(ErrorCodes.BAD_CONFIG, `--${flag} must be a file path`);
  return v;
}

function readToken(raw: Raw): string | null {
  const direct = raw['token'];
  const file = optPath(raw, 'tokenFile', 'token-file');
  if (direct !== undefined && direct !== null && direct !== '' && file !== null) throw new RingtrainError(ErrorCodes.BAD_CONFIG, 'give either --token (or RINGTRAIN_TOKEN) or --token-file, not both');
  let token: string;
  if (file !== null) {
    try {
      // A trailing newline from `echo secret > file` is not part of the secret.
      token = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new RingtrainError(ErrorCodes.BAD_CONFIG, `cannot read --token-file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  } else if (direct === undefined || direct === null || direct === '') {
    return null;
  } else {
    token = String(direct);
  }
  if (token.length < 8) throw new RingtrainError(ErrorCodes.BAD_CONFIG, 'the token must be at least 8 characters (use a long random string)');
  return token;
}

/**
 * Parses the security flags. `binds` lists the listeners this command opens (flag name and host),
 * each of which must be loopback, token-protected or explicitly --insecure.
 */
export function securityConfig(raw: Raw, binds: readonly { flag: string; host: string }[]): SecurityConfig {
  const token = readToken(raw);
  const insecure = raw['insecure'] === true || raw['insecure'] === 'true';
  for (const b of binds) checkExposure(b.flag, b.host, token, insecure);
  const tlsFiles: TlsFiles = { cert: optPath(raw, 'tlsCert', 'tls-cert'), key: optPath(raw, 'tlsKey', 'tls-key'), ca: optPath(raw, 'tlsCa', 'tls-ca') };
  return { token, insecure, tlsFiles, tls: loadTls(tlsFiles) };
}

/** What an embedding program gets when it builds a config without security flags. */
export const NO_SECURITY: SecurityConfig = { token: null, insecure: false, tlsFiles: { cert: null, key: null, ca: null }, tls: { cert: null, key: null, ca: null } };
