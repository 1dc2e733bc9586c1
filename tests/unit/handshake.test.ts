/**
 * The pure security rules, tested without sockets: HMAC proofs (fresh per nonce, so a replay
 * fails), ring keys bound to generation and salt, handshake frame parsing, exposure checks,
 * model fingerprints, the non-finite guard and what `local` hands its children.
 */
import { describe, expect, it } from 'vitest';
import { AUTH_BYTES, controlProof, deriveRingKey, isLoopbackHost, newNonce, proofMatches, ringHelloProof, welcomeProof } from '../../src/shared/protocol/auth.js';
import { FRAME_HEADER_BYTES, FrameKind } from '../../src/shared/protocol/codec.js';
import { claimedProtocol } from '../../src/shared/protocol/protocol.js';
import { codeOf } from '../helpers/codes.js';
import type { RingtrainError } from '../../src/shared/base/errors.js';
import { securityConfig } from '../../src/shared/transport/security-config.js';
import { acceptFrame, helloValid, parseHello } from '../../src/shared/transport/ring-handshake.js';
import { canonicalWeightName } from '../../src/shared/engine/fingerprint.js';
import { assertSameModel, firstDifference } from '../../src/coordinator/consistency.js';
import { allFinite, skipNonFinite } from '../../src/shared/optim/nonfinite.js';
import { childEnv, childTlsArgs } from '../../src/launch/local-security.js';
import { coordinatorInboundLimit } from '../../src/shared/base/limits.js';
import { ringFrame } from '../helpers/peer.js';

const code = codeOf;

describe('control handshake proofs', () => {
  it('prove the token over this connection nonce only, so a replay on another connection fails', () => {
    const n1 = newNonce();
    const n2 = newNonce();
    const p1 = controlProof('correct horse', n1);
    expect(p1.length).toBe(AUTH_BYTES);
    expect(proofMatches(controlProof('correct horse', n1), p1)).toBe(true);
    expect(proofMatches(controlProof('correct horse', n2), p1)).toBe(false); // replayed on a new nonce
    expect(proofMatches(controlProof('wrong horse!', n1), p1)).toBe(false);
    expect(proofMatches(p1, null)).toBe(false);
    expect(proofMatches(p1, p1.subarray(0, 16))).toBe(false);
    expect(Buffer.from(p1).includes(Buffer.from('correct horse'))).toBe(false);
  });

  it('use a different context for the coordinator\'s welcome, so a worker\'s proof cannot be reflected back', () => {
    const n = newNonce();
    expect(proofMatches(welcomeProof('correct horse', n), controlProof('correct horse', n))).toBe(false);
  });

  it('reads the claimed protocol before full validation', () => {
    expect(claimedProtocol({ type: 'hello', protocol: 99, whatever: true })).toBe(99);
    expect(claimedProtocol({ type: 'challenge', protocol: 1 })).toBe(1);
    expect(claimedProtocol({ type: 'batch', protocol: 99 })).toBeNull();
    expect(claimedProtocol('hello')).toBeNull();
  });
});

describe('ring handshake', () => {
  const salt = newNonce();
  const key = deriveRingKey('tok-tok-tok', salt, 3);

  it('derives a different key per generation, salt and token', () => {
    expect(deriveRingKey('tok-tok-tok', salt, 3)).toEqual(key);
    expect(deriveRingKey('tok-tok-tok', salt, 4)).not.toEqual(key);
    expect(deriveRingKey('tok-tok-tok', newNonce(), 3)).not.toEqual(key);
    expect(deriveRingKey('other-token', salt, 3)).not.toEqual(key);
  });

  it('accepts a hello only for the key, nonce, generation and rank it was made for', () => {
    const nonce = newNonce();
    const mine = newNonce();
    const hello = (gen: number, rank: number, k: Uint8Array, n: Uint8Array): Buffer =>
      ringFrame({ kind: FrameKind.Hello, generation: gen, seq: rank, count: 2 * AUTH_BYTES }, Buffer.concat([ringHelloProof(k, n, gen, rank), mine]));
    expect(helloValid(key, nonce, parseHello(hello(3, 1, key, nonce), true))).toBe(true);
    expect(helloValid(key, nonce, parseHello(hello(3, 1, key, newNonce()), true))).toBe(false);
    expect(helloValid(key, nonce, parseHello(hello(3, 1, deriveRingKey('x-x-x-x-x', salt, 3), nonce), true))).toBe(false);
    const claimsOtherRank = parseHello(hello(3, 1, key, nonce), true);
    claimsOtherRank.rank = 2;
    expect(helloValid(key, nonce, claimsOtherRank)).toBe(false);
    expect(acceptFrame(key, claimsOtherRank).length).toBe(FRAME_HEADER_BYTES + AUTH_BYTES);
  });

  it('rejects malformed handshake frames with RT_BAD_FRAME', () => {
    expect(code(() => parseHello(Buffer.alloc(5), true))).toBe('RT_BAD_FRAME');
    expect(code(() => parseHello(ringFrame({ kind: FrameKind.Hello, count: 3 }, Buffer.alloc(3)), true))).toBe('RT_BAD_FRAME');
    expect(code(() => parseHello(ringFrame({ kind: FrameKind.Hello, count: 64 }, Buffer.alloc(10)), true))).toBe('RT_BAD_FRAME');
    expect(code(() => parseHello(ringFrame({ kind: FrameKind.Data, dtype: 1, count: 1 }, Buffer.alloc(4)), true))).toBe('RT_BAD_FRAME');
    expect(code(() => parseHello(ringFrame({ kind: 77, count: 0 }, Buffer.alloc(0)), true))).toBe('RT_BAD_FRAME');
    expect(code(() => parseHello(Buffer.from('hello'), false))).toBe('RT_BAD_FRAME');
  });
});

describe('exposure', () => {
  it('refuses a non-loopback listener without a token unless --insecure', () => {
    expect(isLoopbackHost('127.0.0.1')).toBe(true);
    expect(isLoopbackHost('::1')).toBe(true);
    expect(isLoopbackHost('localhost')).toBe(true);
    expect(isLoopbackHost('0.0.0.0')).toBe(false);
    expect(isLoopbackHost('10.0.0.1')).toBe(false);
    expect(code(() => securityConfig({}, [{ flag: '--host', host: '0.0.0.0' }]))).toBe('RT_BAD_CONFIG');
    expect(securityConfig({ insecure: true }, [{ flag: '--host', host: '0.0.0.0' }]).insecure).toBe(true);
    expect(securityConfig({ token: 'long-enough' }, [{ flag: '--host', host: '0.0.0.0' }]).token).toBe('long-enough');
    expect(securityConfig({}, [{ flag: '--host', host: '127.0.0.1' }]).token).toBeNull();
    expect(code(() => securityConfig({ token: 'short' }, []))).toBe('RT_BAD_CONFIG');
    expect(code(() => securityConfig({ tlsCert: '/nonexistent/cert.pem', tlsKey: '/nonexistent/key.pem' }, []))).toBe('RT_BAD_CONFIG');
  });

  it('local passes the token to its children through the environment, never argv', () => {
    const sec = securityConfig({ token: 'secret-for-children' }, []);
    expect(childEnv(sec)['RINGTRAIN_TOKEN']).toBe('secret-for-children');
    expect(childTlsArgs(sec).join(' ')).not.toContain('secret-for-children');
    expect(childEnv(securityConfig({}, []))['RINGTRAIN_TOKEN']).toBeUndefined();
  });
});

describe('model fingerprints', () => {
  const fp = (units: number) => ({ paramCount: 10 * units + units, weights: [{ name: 'dense_Dense/kernel', shape: [10, units], dtype: 'float32' }, { name: 'dense_Dense/bias', shape: [units], dtype: 'float32' }], architecture: 'dense' });

  it('ignore the per-process counters tfjs puts in layer names', () => {
    expect(canonicalWeightName('dense_Dense3/kernel')).toBe('dense_Dense/kernel');
    expect(canonicalWeightName('conv2d_Conv2D12/bias')).toBe('conv2d_Conv2D/bias');
  });

  it('name both ranks and the first difference', () => {
    expect(firstDifference(fp(4), fp(4))).toBeNull();
    expect(firstDifference(fp(4), fp(5))).toBe('weight 0: dense_Dense/kernel [10,4] float32 vs dense_Dense/kernel [10,5] float32');
    let msg = '';
    try {
      assertSameModel(fp(4), [fp(4), fp(4), fp(5)]);
    } catch (err) {
      msg = `${(err as RingtrainError).code}: ${(err as Error).message}`;
    }
    expect(msg).toMatch(/^RT_MODEL_MISMATCH: rank 2's model differs from rank 0's \(weight 0: .*\[10,4\].* vs .*\[10,5\]/);
    expect(code(() => assertSameModel(fp(5), [fp(4), fp(4)]))).toBe('RT_MODEL_MISMATCH');
    expect(code(() => assertSameModel(fp(4), [fp(4), fp(4)]))).toBe('no error');
  });
});

describe('non-finite guard', () => {
  it('skips or aborts on NaN and ±Infinity only', () => {
    expect(allFinite(Float32Array.of(1, -2, 3e38, 0))).toBe(true);
    for (const bad of [NaN, Infinity, -Infinity]) expect(allFinite(Float32Array.of(1, bad, 2))).toBe(false);
    expect(skipNonFinite(Float32Array.of(1, 2), 'skip', 0)).toBe(false);
    expect(skipNonFinite(Float32Array.of(1, NaN), 'skip', 0)).toBe(true);
    expect(code(() => skipNonFinite(Float32Array.of(Infinity), 'abort', 5))).toBe('RT_NON_FINITE');
  });
});

describe('limits', () => {
  it('size the coordinator inbound limit from the parameter count', () => {
    // Weights plus both Adam moments: a survivor's state is the largest message.
    expect(coordinatorInboundLimit(1000)).toBe(3 * 4000 + 64 * 1024);
    expect(coordinatorInboundLimit(1e12)).toBe(256 * 1024 * 1024);
  });
});
