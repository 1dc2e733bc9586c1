/**
 * The pure half of authentication: nonces, HMAC proofs and their constant-time checks. No sockets
 * here, so the handshake rules can be tested by feeding bytes.
 *
 * Control link: the coordinator sends a fresh random nonce on every connection; the worker answers
 * HMAC(token, context ‖ nonce) and a nonce of its own, which the coordinator answers the same way
 * in `welcome`. The token never crosses the wire, a recorded answer is useless on another
 * connection because the nonce differs, and a worker never trains for an impostor coordinator.
 *
 * Ring links: the coordinator sends each generation a random salt; every rank derives the ring key
 * HMAC(token, "ring" ‖ salt ‖ generation). Neighbours prove that key to each other with the same
 * challenge–response, in both directions, so only ranks of the current generation (which the
 * coordinator admitted with the token) can join a ring link. Without a token the key is derived
 * from the empty secret: links still refuse strangers that did not see this generation's salt.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Bytes in every nonce, salt and proof (SHA-256 output size). */
export const AUTH_BYTES = 32;

const CONTROL_CONTEXT = 'ringtrain control hello v1';
const WELCOME_CONTEXT = 'ringtrain control welcome v1';
const RING_KEY_CONTEXT = 'ringtrain ring key v1';
const RING_HELLO_CONTEXT = 'ringtrain ring hello v1';
const RING_ACCEPT_CONTEXT = 'ringtrain ring accept v1';
const HTTP_KEY_CONTEXT = 'ringtrain http key v1';

/** A fresh random nonce (or salt). */
export function newNonce(): Buffer {
  return randomBytes(AUTH_BYTES);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
}

function hmac(key: string | Uint8Array, ...parts: (string | Uint8Array)[]): Buffer {
  const h = createHmac('sha256', key);
  // Every part is length-prefixed, so two different part lists can never hash the same bytes.
  for (const p of parts) {
    const b = typeof p === 'string' ? Buffer.from(p, 'utf8') : p;
    h.update(u32(b.length));
    h.update(b);
  }
  return h.digest();
}

/** Constant-time equality of a received proof and the expected one. */
export function proofMatches(expected: Uint8Array, received: Uint8Array | null): boolean {
  return received !== null && received.length === expected.length && timingSafeEqual(expected, received);
}

/** The worker's answer to the coordinator's challenge. */
export function controlProof(token: string, nonce: Uint8Array): Buffer {
  return hmac(token, CONTROL_CONTEXT, nonce);
}

/** The coordinator's answer over the worker's nonce: proves the coordinator holds the token too. */
export function welcomeProof(token: string, nonce: Uint8Array): Buffer {
  return hmac(token, WELCOME_CONTEXT, nonce);
}

/** Ring key of one generation: both neighbours derive it; it never travels. */
export function deriveRingKey(secret: string, salt: Uint8Array, generation: number): Buffer {
  return hmac(secret, RING_KEY_CONTEXT, salt, u32(generation));
}

/**
 * The link kind a proof covers: ring links (0) prove exactly what they always did; any other kind
 * (a mesh link of the small-message all-reduce) is bound into the proof, so a hello made for one
 * kind of link can never open another.
 */
function linkParts(link: number): Buffer[] {
  return link === 0 ? [] : [u32(link)];
}

/** Proof a dialling rank sends in its ring hello, over the listener's nonce. */
export function ringHelloProof(ringKey: Uint8Array, nonce: Uint8Array, generation: number, rank: number, link = 0): Buffer {
  return hmac(ringKey, RING_HELLO_CONTEXT, nonce, u32(generation), u32(rank), ...linkParts(link));
}

/** Proof the listening rank returns over the dialler's nonce, so the dialler knows it reached a peer. */
export function ringAcceptProof(ringKey: Uint8Array, nonce: Uint8Array, generation: number, rank: number, link = 0): Buffer {
  return hmac(ringKey, RING_ACCEPT_CONTEXT, nonce, u32(generation), u32(rank), ...linkParts(link));
}

/**
 * The key HTTP clients present to a coordinator's HTTP endpoint beyond loopback (hex). Derived,
 * so the plain-text HTTP request never carries the token itself: whoever reads the key off the
 * wire can read the dashboard, not join the run.
 */
export function httpKey(token: string): string {
  return hmac(token, HTTP_KEY_CONTEXT).toString('hex');
}

/** Loopback addresses: binding there exposes a port to this machine only. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || /^::ffff:127\.\d+\.\d+\.\d+$/.test(h);
}
