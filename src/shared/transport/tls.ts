/**
 * TLS material and the errors around it. `--tls-cert`/`--tls-key` make a listener speak wss://;
 * `--tls-ca` is the certificate authority a client trusts for the other side (needed for
 * self-signed certificates). Files are read once, when the config is parsed, so a wrong path
 * fails before any socket opens.
 */
import { readFileSync } from 'node:fs';
import { ErrorCodes, RingtrainError } from '../base/errors.js';

export interface TlsFiles {
  cert: string | null;
  key: string | null;
  ca: string | null;
}

/** PEM contents, read from TlsFiles. */
export interface TlsMaterial {
  cert: Buffer | null;
  key: Buffer | null;
  ca: Buffer | null;
}

function readPem(path: string | null, flag: string): Buffer | null {
  if (path === null) return null;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new RingtrainError(ErrorCodes.BAD_CONFIG, `cannot read ${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** Reads the files; cert and key come together or not at all. */
export function loadTls(files: TlsFiles): TlsMaterial {
  if ((files.cert === null) !== (files.key === null)) throw new RingtrainError(ErrorCodes.BAD_CONFIG, '--tls-cert and --tls-key must be given together');
  return { cert: readPem(files.cert, '--tls-cert'), key: readPem(files.key, '--tls-key'), ca: readPem(files.ca, '--tls-ca') };
}

/** True when this process serves wss://. */
export function servesTls(t: TlsMaterial | null | undefined): t is TlsMaterial & { cert: Buffer; key: Buffer } {
  return !!t && t.cert !== null && t.key !== null;
}

/** Options for a ws client dialling a wss:// URL. */
export function clientTlsOptions(t: TlsMaterial | null | undefined): { ca?: Buffer } {
  return t?.ca ? { ca: t.ca } : {};
}

const CERT_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_UNTRUSTED',
]);

/**
 * Turns a connection error that retrying cannot fix (a scheme or certificate mismatch) into a
 * clear RT_TLS error; returns null for errors worth retrying (the peer may still be starting).
 */
export function explainTlsError(url: string, err: unknown): RingtrainError | null {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as NodeJS.ErrnoException | null)?.code ?? '';
  if (/Unexpected server response: 426/.test(message)) {
    return new RingtrainError(ErrorCodes.TLS, `${url} is a TLS endpoint and refused plain ws://; connect with wss:// (and --tls-ca if its certificate is self-signed)`);
  }
  if (/wrong version number|WRONG_VERSION_NUMBER|packet length too long/i.test(`${message} ${code}`)) {
    return new RingtrainError(ErrorCodes.TLS, `${url} does not speak TLS; connect with ws://, or start it with --tls-cert and --tls-key`);
  }
  if (CERT_CODES.has(code)) {
    return new RingtrainError(ErrorCodes.TLS, `the certificate of ${url} is not trusted (${code}: ${message}); pass the issuing CA with --tls-ca`);
  }
  return null;
}
