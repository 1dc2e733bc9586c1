/**
 * Step reports share socket writes (ControlClient.report): held in the corked socket, they leave
 * together once reportBatchSteps are held, with any other message (in order), on an explicit flush
 * before the worker waits, or after reportHoldMs at the latest. A real WebSocket server on port 0
 * plays the coordinator and records what arrives.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import { ControlClient } from '../../src/shared/transport/control-client.js';
import { decodeRaw, encodeMessage } from '../../src/shared/protocol/codec.js';
import { Defaults, PROTOCOL_VERSION } from '../../src/shared/base/constants.js';
import { createLogger } from '../../src/shared/base/logger.js';
import type { StepDoneMsg } from '../../src/shared/protocol/protocol.js';

const log = createLogger('test', 'warn');

function stepDone(step: number): StepDoneMsg {
  return { type: 'step-done', generation: 1, step, loss: 1, samples: 32, checksum: null, skipped: false, timings: { waitMs: 0, computeMs: 1, allreduceMs: 0, updateMs: 0 } };
}

/** A coordinator stand-in: sends the challenge, records the type and step of every message. */
async function fakeCoordinator(): Promise<{ url: string; got: string[]; server: WebSocketServer; until(n: number): Promise<string[]> }> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => server.once('listening', () => r()));
  const got: string[] = [];
  const waiters: (() => void)[] = [];
  server.on('connection', (ws: WebSocket) => {
    ws.send(encodeMessage({ type: 'challenge', protocol: PROTOCOL_VERSION, nonce: new Uint8Array(32), auth: false }));
    ws.on('message', (data: Buffer) => {
      const m = decodeRaw(data) as { type: string; step?: number };
      got.push(m.step === undefined ? m.type : `${m.type}:${m.step}`);
      waiters.splice(0).forEach((w) => w());
    });
  });
  const until = async (n: number): Promise<string[]> => {
    const deadline = Date.now() + 5000;
    while (got.length < n) {
      if (Date.now() > deadline) throw new Error(`only ${got.length} of ${n} messages arrived: ${got.join(', ')}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 50);
      });
    }
    return got.slice();
  };
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, got, server, until };
}

/** The socket under the client's WebSocket: only to read whether it is corked. */
const corked = (c: ControlClient): number => (c as unknown as { ws: { _socket: { writableCorked: number } } }).ws._socket.writableCorked;

let cleanup: (() => void)[] = [];
afterEach(() => {
  cleanup.forEach((f) => f());
  cleanup = [];
});

describe('step reports share socket writes', () => {
  it('holds reports in the corked socket until reportBatchSteps, then writes them in order', async () => {
    const fake = await fakeCoordinator();
    const client = await ControlClient.connect(fake.url, 5000, log);
    cleanup.push(() => client.close(), () => fake.server.close());
    const k = Defaults.reportBatchSteps;
    for (let s = 0; s < k - 1; s++) client.report(stepDone(s));
    expect(corked(client)).toBeGreaterThan(0);
    client.report(stepDone(k - 1));
    expect(corked(client)).toBe(0);
    expect(await fake.until(k)).toEqual(Array.from({ length: k }, (_, s) => `step-done:${s}`));
  });

  it('writes held reports before any other message, and on flush', async () => {
    const fake = await fakeCoordinator();
    const client = await ControlClient.connect(fake.url, 5000, log);
    cleanup.push(() => client.close(), () => fake.server.close());
    client.report(stepDone(0));
    client.report(stepDone(1));
    await client.send({ type: 'state', generation: 1, state: null });
    expect(corked(client)).toBe(0);
    client.report(stepDone(2));
    expect(corked(client)).toBeGreaterThan(0);
    client.flush();
    expect(corked(client)).toBe(0);
    expect(await fake.until(4)).toEqual(['step-done:0', 'step-done:1', 'state', 'step-done:2']);
  });

  it('never holds a report longer than reportHoldMs once the event loop turns', async () => {
    const fake = await fakeCoordinator();
    const client = await ControlClient.connect(fake.url, 5000, log);
    cleanup.push(() => client.close(), () => fake.server.close());
    client.report(stepDone(7));
    expect(corked(client)).toBeGreaterThan(0);
    // No flush, no further report: only the hold timer can send it.
    expect(await fake.until(1)).toEqual(['step-done:7']);
    expect(corked(client)).toBe(0);
  });
});
