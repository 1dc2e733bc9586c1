/**
 * Handshake and error messages: the challenge that opens every control connection, the worker's
 * authenticated hello, the coordinator's welcome, and `error`, which either side sends before it
 * gives up on the other, so all ranks fail together instead of hanging.
 */
import type { ErrorCode } from '../base/errors.js';
import { AUTH_BYTES } from './auth.js';
import { Bytes, Int, Msg, OrNull, Str, Type, type Static } from './schema.js';

/** First message on every control connection: the nonce the hello must prove the token over. */
export const ChallengeSchema = Msg('challenge', {
  protocol: Int(),
  nonce: Bytes(AUTH_BYTES),
  /** Whether this coordinator requires a token (a worker's proof is ignored when it does not). */
  auth: Type.Boolean(),
});
export type ChallengeMsg = Static<typeof ChallengeSchema>;

/** A worker's introduction, answering the challenge. */
export const HelloSchema = Msg('hello', {
  protocol: Int(),
  /** Address the ring predecessor connects to. */
  ringUrl: Str(1024),
  backend: Str(64),
  host: Str(256),
  pid: Int(),
  /** The job the worker was told on its own command line, if any. */
  job: OrNull(Str()),
  /** Steps applied by the state this worker holds (from an earlier coordinator), or -1 for none. */
  appliedSteps: Int(-1),
  /** Configuration fingerprint of the run that state belongs to (null with no state). */
  stateFingerprint: OrNull(Str()),
  /** HMAC(token, challenge nonce) when the worker has a token (auth.ts); null otherwise. */
  proof: OrNull(Bytes(AUTH_BYTES)),
  /** The worker's own nonce: the coordinator proves the token over it in `welcome`. */
  nonce: Bytes(AUTH_BYTES),
});
export type HelloMsg = Static<typeof HelloSchema>;

/** Answer to an accepted hello: HMAC(token, worker nonce), so the worker knows its coordinator holds the token too. */
export const WelcomeSchema = Msg('welcome', { proof: OrNull(Bytes(AUTH_BYTES)) });
export type WelcomeMsg = Static<typeof WelcomeSchema>;

/**
 * A stable error code (shared/base/errors.ts) as a peer sends it: any short string on the wire;
 * parseMessage maps a code this version does not know to RT_INTERNAL rather than trusting it.
 */
export const WireErrorCode = () => Type.Unsafe<ErrorCode>(Str(64));

export const ErrorSchema = Msg('error', { code: WireErrorCode(), message: Str() });
export type ErrorMsg = Static<typeof ErrorSchema>;
