/**
 * TLS: with --tls-cert/--tls-key the coordinator and the ring listeners speak wss://. A worker
 * dialling plain ws:// (or not trusting the certificate) fails with RT_TLS and a message that says
 * what to change, once its --connect-timeout has passed (a worker with a token keeps retrying what
 * an unproved party at the port says, which may be a squatter); the coordinator keeps serving and
 * the run then completes over TLS.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findLog, runCli, startCli } from '../helpers/cli.js';
import { connectPeer } from '../helpers/peer.js';
import { hasOpenssl, makeCert } from '../helpers/certs.js';

const TOKEN = 'tls-test-token-89ab';

describe.skipIf(!hasOpenssl())('TLS', () => {
  it('runs over wss:// and refuses plain ws:// with a clear message', async () => {
    const { cert, key } = makeCert();
    const out = join(mkdtempSync(join(tmpdir(), 'rt-tls-')), 'run');
    const env = { RINGTRAIN_TOKEN: TOKEN };
    const coord = startCli(['coordinator', '--port', '0', '--min-workers', '2', '--job', 'regression-mlp', '--epochs', '2', '--output', out, '--json', '--tls-cert', cert, '--tls-key', key], env);
    const { port } = await coord.waitForLog({ msg: 'coordinator listening' });

    const plain = await runCli(['worker', '--coordinator', `ws://127.0.0.1:${port}`, '--ring-host', '127.0.0.1', '--connect-timeout', '2000'], { env });
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain(`ringtrain: error RT_TLS: ws://127.0.0.1:${port} is a TLS endpoint and refused plain ws://; connect with wss://`);
    const untrusted = await runCli(['worker', '--coordinator', `wss://127.0.0.1:${port}`, '--ring-host', '127.0.0.1', '--connect-timeout', '2000'], { env });
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(/RT_TLS: the certificate of wss:\/\/127\.0\.0\.1:\d+ is not trusted .*pass the issuing CA with --tls-ca/);
    expect(findLog(coord.stderr(), { code: 'RT_TLS', msg: /plain connection to a TLS endpoint refused/ }), coord.stderr().slice(-3000)).toBeDefined();

    const tlsArgs = ['--tls-cert', cert, '--tls-key', key, '--tls-ca', cert];
    const workers = [0, 1].map(() => startCli(['worker', '--coordinator', `wss://127.0.0.1:${port}`, '--ring-host', '127.0.0.1', ...tlsArgs], env));
    const [, ringUrl] = await coord.waitFor(/"ring":"(wss:\/\/[^"]+)"/);
    // The ring listener is TLS too: plain ws:// to it is answered with 426.
    const peer = connectPeer(ringUrl!.replace('wss://', 'ws://'));
    expect(await peer.opened.then(() => 'opened', (e: Error) => e.message)).toMatch(/426/);

    const exit = await coord.exited;
    expect(exit.code, coord.stderr().slice(-2000)).toBe(0);
    const summary = JSON.parse(coord.stdout().trim()) as { replicaChecksums: string[] };
    expect(new Set(summary.replicaChecksums).size).toBe(1);
    expect((await Promise.all(workers.map((w) => w.exited))).map((e) => e.code)).toEqual([0, 0]);
    expect(JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')).workers).toBe(2);
  });

  it('local passes TLS to its workers', async () => {
    const { cert, key } = makeCert();
    const out = join(mkdtempSync(join(tmpdir(), 'rt-tls-local-')), 'run');
    const r = await runCli(['local', '--workers', '2', '--job', 'regression-mlp', '--epochs', '1', '--json', '--output', out, '--log-level', 'info', '--tls-cert', cert, '--tls-key', key]);
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    expect(r.stderr).toMatch(/"ring":"wss:\/\//);
  });
});
