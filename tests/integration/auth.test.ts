/**
 * Bad input against a live, token-protected run: wrong token, no token, a replayed hello, another
 * protocol version, an oversize frame, malformed msgpack, msgpack of the wrong shape, messages for
 * the wrong state, strangers on a worker's ring port, idle and surplus unauthenticated sockets.
 * Each is refused with its stable code, the processes keep serving, and the run ends with the
 * same weights as an undisturbed run with the same seed.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeMessage, FrameKind, Dtype } from '../../src/shared/protocol/codec.js';
import { PROTOCOL_VERSION } from '../../src/shared/base/constants.js';
import { AUTH_BYTES, newNonce, ringHelloProof } from '../../src/shared/protocol/auth.js';
import { runCli, summaryOf } from '../helpers/cli.js';
import { startDisturbedRun } from '../helpers/disturbed-run.js';
import { challengeOf, connectPeer, helloBytes, ringChallengeOf, ringFrame } from '../helpers/peer.js';

const TOKEN = 'auth-test-token-0123';
const RUN = ['local', '--workers', '2', '--job', 'regression-mlp', '--epochs', '40', '--seed', '11', '--json'];

describe('authentication and edge validation during a live run', () => {
  it('refuses every kind of bad input with its code and leaves training unchanged', async () => {
    const { baseline, live, controlUrl: url, ringUrl } = await startDisturbedRun(RUN, TOKEN);
    const codes: Record<string, string | null> = {};

    // Wrong token, and no token at all.
    const wrong = connectPeer(url);
    await wrong.send(helloBytes(await challengeOf(wrong), 'not-the-token-at-all'));
    codes['wrongToken'] = await wrong.errorCode();
    const none = connectPeer(url);
    await none.send(helloBytes(await challengeOf(none), null));
    codes['noToken'] = await none.errorCode();

    // A genuine hello recorded on one connection and replayed on another.
    const recorder = connectPeer(url);
    const recorded = helloBytes(await challengeOf(recorder), TOKEN);
    await recorder.send(recorded);
    // Authenticated, but the run has started: refused for the state, not the credentials.
    codes['lateJoin'] = await recorder.errorCode();
    const replay = connectPeer(url);
    await challengeOf(replay);
    await replay.send(recorded);
    codes['replay'] = await replay.errorCode();

    // Another protocol version.
    const old = connectPeer(url);
    await old.send(helloBytes(await challengeOf(old), TOKEN, { protocol: 99 }));
    codes['version'] = await old.errorCode();

    // Oversize: far above the limit sized from the model (601 parameters).
    const big = connectPeer(url);
    await challengeOf(big);
    await big.send(Buffer.alloc(1024 * 1024, 0x91));
    const bigClose = await big.closed;

    // Malformed msgpack, then valid msgpack of the wrong shape, then a message for the wrong state.
    const junk = connectPeer(url);
    const junkChallenge = await challengeOf(junk);
    await junk.send(Buffer.from([0xc1, 0xff, 0x00]));
    await junk.send(encodeMessage({ type: 'hello', protocol: PROTOCOL_VERSION, ringUrl: 7 } as never));
    await junk.send(Buffer.from([0x93, 0x01, 0x02]));
    await live.waitForLog({ code: 'RT_BAD_MESSAGE', err: /undecodable message/ });
    await live.waitForLog({ code: 'RT_BAD_MESSAGE', err: /malformed message: field ringUrl/ });
    // The same connection is still served: a step report before hello is out of order.
    await junk.send(encodeMessage({ type: 'reports', reports: [{ type: 'step-done', generation: 1, step: 0, loss: 1, samples: 1, checksum: null, timings: { waitMs: 0, computeMs: 0, allreduceMs: 0, updateMs: 0, commMs: 0 }, skipped: false }] }));
    codes['wrongState'] = await junk.errorCode();
    // A coordinator-only message from a worker is refused, too.
    const reversed = connectPeer(url);
    await challengeOf(reversed);
    await reversed.send(encodeMessage({ type: 'go', generation: 1 }));
    await live.waitForLog({ code: 'RT_UNEXPECTED_MESSAGE', err: /a coordinator does not accept go messages/ });
    reversed.ws.close();
    expect(junkChallenge.auth).toBe(true);

    // Strangers on a worker's ring port: a forged hello, and data frames with no hello at all.
    const forger = connectPeer(ringUrl, { raw: true });
    const nonce = await ringChallengeOf(forger);
    await forger.send(ringFrame({ kind: FrameKind.Hello, generation: 1, seq: 1, count: 2 * AUTH_BYTES }, Buffer.concat([ringHelloProof(Buffer.alloc(32), nonce, 1, 1), newNonce()])));
    const forgerClose = await forger.closed;
    const injector = connectPeer(ringUrl, { raw: true });
    await ringChallengeOf(injector);
    for (let seq = 1; seq < 400; seq += 7) {
      await injector.send(ringFrame({ kind: FrameKind.Data, dtype: Dtype.F32, generation: 1, seq, hop: 0, offset: 0, count: 4 }, Buffer.from(Float32Array.of(1e9, 1e9, 1e9, 1e9).buffer)));
    }
    const injectorClose = await injector.closed;

    // Idle unauthenticated sockets: at most the cap at once, then each closed by the timeout.
    const idle = Array.from({ length: 32 }, () => connectPeer(url));
    await Promise.all(idle.map((p) => challengeOf(p)));
    const surplus = connectPeer(url);
    const surplusError = await surplus.opened.then(() => 'opened', (e: Error) => e.message);
    const idleCodes = await Promise.all(idle.map((p) => p.errorCode()));

    // Still serving: a fresh, correct hello gets a state answer, not silence.
    const after = connectPeer(url);
    await after.send(helloBytes(await challengeOf(after), TOKEN));
    codes['afterwards'] = await after.errorCode();

    const exit = await live.exited;
    const base = summaryOf(await baseline);
    expect(exit.code, live.stderr().slice(-3000)).toBe(0);
    const summary = JSON.parse(live.stdout().trim()) as Record<string, unknown>;

    expect(codes).toEqual({
      wrongToken: 'RT_AUTH_FAILED', noToken: 'RT_AUTH_FAILED', lateJoin: 'RT_RUN_FULL', replay: 'RT_AUTH_FAILED',
      version: 'RT_VERSION_MISMATCH', wrongState: 'RT_UNEXPECTED_MESSAGE', afterwards: 'RT_RUN_FULL',
    });
    expect(bigClose.code).toBe(1009);
    expect(live.stderr()).toMatch(/"code":"RT_TOO_LARGE"/);
    expect(forgerClose).toEqual({ code: 1008, reason: 'RT_AUTH_FAILED' });
    expect(injectorClose).toEqual({ code: 1008, reason: 'RT_BAD_FRAME' });
    expect(surplusError).toMatch(/503/);
    expect(live.stderr()).toMatch(/"code":"RT_BUSY"/);
    expect(new Set(idleCodes)).toEqual(new Set(['RT_TIMEOUT']));
    expect(live.stderr()).not.toMatch(/Unhandled|uncaught/i);
    // The run was never touched: same weights as the undisturbed one.
    expect(summary['replicaChecksums']).toEqual(base['replicaChecksums']);
    expect(summary['nonFiniteSkips']).toBe(0);
    console.log(JSON.stringify({ event: 'auth-figures', refused: Object.keys(codes).length + 6, idleClosed: idleCodes.length, checksum: (summary['replicaChecksums'] as string[])[0] }));
  });

  it('a public bind without a token is refused unless --insecure, which is then warned about', async () => {
    const pub = await runCli(['coordinator', '--host', '0.0.0.0', '--port', '0', '--job', 'regression-mlp'], { env: { RINGTRAIN_TOKEN: '' } });
    expect(pub.code).toBe(2);
    expect(pub.stderr).toContain('RT_BAD_CONFIG: --host 0.0.0.0 is reachable from other machines but no token is set');
    // A coordinator on another machine: the ring listener's default is all interfaces.
    const worker = await runCli(['worker', '--coordinator', 'ws://10.78.0.250:1'], { env: { RINGTRAIN_TOKEN: '' } });
    expect(worker.code).toBe(2);
    expect(worker.stderr).toContain('RT_BAD_CONFIG: --ring-host 0.0.0.0 is reachable');
    const dir = mkdtempSync(join(tmpdir(), 'rt-insecure-'));
    const insecure = await runCli(['local', '--workers', '1', '--job', 'regression-mlp', '--epochs', '1', '--host', '0.0.0.0', '--insecure', '--json', '--output', dir], { env: { RINGTRAIN_TOKEN: '' } });
    expect(summaryOf(insecure)['workers']).toBe(1);
    expect(insecure.stderr).toMatch(/listens beyond loopback without a token \(--insecure\)/);
  });
});
