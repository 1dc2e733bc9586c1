/**
 * Step reports leave a worker in `reports` messages (ControlClient.report): several steps to one
 * message, once reportBatchSteps are held, before any other message (in order), on an explicit
 * flush, or when the first has been held reportHoldMs. A real WebSocket server on port 0 plays the
 * coordinator, validates what arrives with the protocol's own parser and stamps its arrival.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import { ControlClient } from '../../src/shared/transport/control-client.js';
import { decodeMessage, encodeMessage } from '../../src/shared/protocol/codec.js';
import { Defaults, PROTOCOL_VERSION } from '../../src/shared/base/constants.js';
import { createLogger } from '../../src/shared/base/logger.js';
import type { StepDoneMsg } from '../../src/shared/protocol/protocol.js';

const log = createLogger('test', 'warn');

function stepDone(step: number): StepDoneMsg {
  return { type: 'step-done', generation: 1, step, loss: 1, samples: 32, checksum: null, skipped: false, timings: { waitMs: 0, computeMs: 1, allreduceMs: 0, updateMs: 0, commMs: 0 } };
}

interface Arrival {
  /** `reports:0,1` for a batch of steps 0 and 1, else the message type. */
  what: string;
  steps: number[];
  at: number;
}

/** A coordinator stand-in: sends the challenge, records every message and when it arrived. */
async function fakeCoordinator(): Promise<{ url: string; got: Arrival[]; server: WebSocketServer; until(n: number): Promise<Arrival[]> }> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => server.once('listening', () => r()));
  const got: Arrival[] = [];
  const waiters: (() => void)[] = [];
  server.on('connection', (ws: WebSocket) => {
    ws.send(encodeMessage({ type: 'challenge', protocol: PROTOCOL_VERSION, nonce: new Uint8Array(32), auth: false }));
    ws.on('message', (data: Buffer) => {
      const at = performance.now();
      const m = decodeMessage(data);
      const steps = m.type === 'reports' ? m.reports.map((r) => r.step) : [];
      got.push({ what: m.type === 'reports' ? `reports:${steps.join(',')}` : m.type, steps, at });
      waiters.splice(0).forEach((w) => w());
    });
  });
  const until = async (n: number): Promise<Arrival[]> => {
    const deadline = Date.now() + 5000;
    while (got.length < n) {
      if (Date.now() > deadline) throw new Error(`only ${got.length} of ${n} messages arrived: ${got.map((g) => g.what).join(', ')}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 50);
      });
    }
    return got.slice();
  };
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, got, server, until };
}

let cleanup: (() => void)[] = [];
afterEach(() => {
  cleanup.forEach((f) => f());
  cleanup = [];
});

async function connected(): Promise<{ fake: Awaited<ReturnType<typeof fakeCoordinator>>; client: ControlClient }> {
  const fake = await fakeCoordinator();
  const client = await ControlClient.connect(fake.url, 5000, log);
  cleanup.push(() => client.close(), () => fake.server.close());
  return { fake, client };
}

describe('step reports travel in batches', () => {
  it('holds reports until reportBatchSteps, then sends them as one message, in order', async () => {
    const { fake, client } = await connected();
    const k = Defaults.reportBatchSteps;
    for (let s = 0; s < k - 1; s++) client.report(stepDone(s));
    expect(client.heldReports).toBe(k - 1);
    client.report(stepDone(k - 1));
    expect(client.heldReports).toBe(0);
    expect((await fake.until(1)).map((a) => a.what)).toEqual([`reports:${Array.from({ length: k }, (_, s) => s).join(',')}`]);
  });

  it('sends held reports before any other message, and on flush', async () => {
    const { fake, client } = await connected();
    client.report(stepDone(0));
    client.report(stepDone(1));
    await client.send({ type: 'state', generation: 1, state: null });
    expect(client.heldReports).toBe(0);
    client.report(stepDone(2));
    expect(client.heldReports).toBe(1);
    client.flush();
    expect(client.heldReports).toBe(0);
    expect((await fake.until(3)).map((a) => a.what)).toEqual(['reports:0,1', 'state', 'reports:2']);
  });

  it('never holds a report longer than reportHoldMs', async () => {
    const { fake, client } = await connected();
    const hold = Defaults.reportHoldMs;
    const created = performance.now();
    client.report(stepDone(7));
    // A timer of the same length, set after the client's: Node runs equal timers in the order they
    // were set, so when this one runs, a client that keeps the limit has handed the report over.
    const heldAtLimit = await new Promise<{ held: number; firedAt: number }>((resolve) => setTimeout(() => resolve({ held: client.heldReports, firedAt: performance.now() }), hold));
    expect(heldAtLimit.held).toBe(0);
    // No flush and no further report: only the hold limit sent it. Creation to arrival is the
    // hold, plus however late this process's timers ran, plus the loopback delivery.
    const [arrival] = await fake.until(1);
    expect(arrival!.what).toBe('reports:7');
    const heldMs = arrival!.at - created;
    const timerLateMs = heldAtLimit.firedAt - created - hold;
    expect(heldMs).toBeGreaterThanOrEqual(hold - 1);
    expect(heldMs).toBeLessThanOrEqual(hold + timerLateMs + 250);
  });
});
