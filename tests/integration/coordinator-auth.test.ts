/**
 * The worker's side of mutual authentication: a worker with a token trains only for a coordinator
 * that proves the same token over the worker's own nonce. An impostor coordinator (here a bare
 * WebSocket server in the test) that cannot, or that claims to check no token, is never acted
 * upon: the worker drops the connection and retries (the real coordinator may come back on that
 * port), and once its --connect-timeout has passed it exits with RT_AUTH_FAILED naming why.
 */
import { describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import type { AddressInfo } from 'node:net';
import { decodeMessage, encodeMessage } from '../../src/shared/protocol/codec.js';
import { newNonce } from '../../src/shared/protocol/auth.js';
import { PROTOCOL_VERSION } from '../../src/shared/base/constants.js';
import { runCli } from '../helpers/cli.js';

/** A fake coordinator that challenges properly, then answers the hello with `welcomeProof`. */
async function impostor(welcomeProof: Buffer | null): Promise<{ url: string; hellos: string[]; close(): void }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.once('listening', r));
  const hellos: string[] = [];
  wss.on('connection', (ws) => {
    ws.send(encodeMessage({ type: 'challenge', protocol: PROTOCOL_VERSION, nonce: newNonce(), auth: welcomeProof !== null }));
    ws.on('message', (data: Buffer) => {
      const m = decodeMessage(data);
      hellos.push(m.type);
      if (m.type === 'hello') ws.send(encodeMessage({ type: 'welcome', proof: welcomeProof }));
    });
  });
  return { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, hellos, close: () => wss.close() };
}

describe('coordinator authentication', () => {
  it('a worker with a token refuses a coordinator that cannot prove it', async () => {
    for (const [proof, why] of [[Buffer.alloc(32, 1), "could not prove this worker's token"], [null, 'does not check tokens']] as const) {
      const fake = await impostor(proof);
      const r = await runCli(['worker', '--coordinator', fake.url, '--ring-host', '127.0.0.1', '--connect-timeout', '2000'], { env: { RINGTRAIN_TOKEN: 'worker-token-abcdef' } });
      fake.close();
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`ringtrain: error RT_AUTH_FAILED: coordinator ${fake.url} ${why}`);
      expect(fake.hellos[0]).toBe('hello');
      // It retried: more than one hello reached the impostor before the worker gave up.
      expect(fake.hellos.length).toBeGreaterThan(1);
    }
  });
});
