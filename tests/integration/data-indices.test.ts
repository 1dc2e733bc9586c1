/**
 * Workers that hold the data themselves (`--data auto`, the default) receive batch indices and
 * gather the rows locally; `--data stream` receives the rows. Both must train bit-identically.
 * Settings: mnist-mlp, 2 workers, 1 epoch, per-worker batch 400 -> 10 steps.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { runCli, summaryOf, type CliResult } from '../helpers/cli.js';
import { decodeMessage, encodeMessage } from '../../src/shared/protocol/codec.js';
import { newNonce } from '../../src/shared/protocol/auth.js';
import { PROTOCOL_VERSION } from '../../src/shared/base/constants.js';
import { adamParams, freshState } from '../helpers/train-state.js';
import { datasetFingerprint } from '../../src/shared/data/dataset.js';
import { makeMnistData, mnistMlp } from '../../src/jobs/mnist-mlp.js';
import { specOf, toSplit } from '../../src/shared/job/spec.js';
import type { Message } from '../../src/shared/protocol/protocol.js';

function train(data: 'auto' | 'stream' | null): Promise<CliResult> {
  const out = join(mkdtempSync(join(tmpdir(), 'rt-data-')), 'run');
  return runCli([
    'local', '--workers', '2', '--job', 'mnist-mlp', '--epochs', '1', '--batch-size', '400', '--seed', '42', '--json', '--output', out,
    '--no-http', '--log-level', 'info', '--worker-log-level', 'info', ...(data === null ? [] : ['--data', data]),
  ]);
}

/** The `msg` of every JSON log line on stderr (coordinator and workers), with its fields. */
function logLines(r: CliResult): Record<string, unknown>[] {
  return r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('batches as indices (--data auto) vs streamed rows (--data stream)', () => {
  it('train to the same replica checksum, and the default really gathers from local data', async () => {
    const streamed = await train('stream');
    const local = await train(null);
    const a = summaryOf(streamed);
    const b = summaryOf(local);
    expect(a).toMatchObject({ workers: 2, steps: 10, samplesPerEpoch: [8000] });
    const sums = a['replicaChecksums'] as string[];
    expect(sums).toHaveLength(2);
    expect(new Set(sums).size).toBe(1);
    expect(b['replicaChecksums']).toEqual(sums);
    expect(b['finalLoss']).toBe(a['finalLoss']);
    expect(b['testLoss']).toBe(a['testLoss']);

    // Each worker says it uses local data, and the coordinator says it sends that rank indices.
    const usesLocal = (r: CliResult): number => logLines(r).filter((l) => l['role'] === 'worker' && l['msg'] === 'using local data: batches arrive as indices').length;
    const dataOf = (r: CliResult): unknown[] => logLines(r).filter((l) => l['msg'] === 'rank ready').map((l) => l['data']);
    expect(usesLocal(local)).toBe(2);
    expect(dataOf(local)).toEqual(['local', 'local']);
    expect(usesLocal(streamed)).toBe(0);
    expect(dataOf(streamed)).toEqual(['streamed', 'streamed']);
  });
});

/**
 * A hand-driven coordinator for one worker: it offers the real mnist fingerprint, and once the
 * worker reports local data it sends go and then step 0 as the indices `indices`.
 */
async function indexingCoordinator(indices: Uint32Array): Promise<{ url: string; received: Message[]; close(): void }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.once('listening', r));
  const received: Message[] = [];
  const P = 784 * 128 + 128 + 128 * 10 + 10;
  const state = freshState(P);
  const params = adamParams();
  const dataFingerprint = datasetFingerprint(toSplit(makeMnistData(42).train), specOf(mnistMlp).tensors);
  wss.on('connection', (ws) => {
    ws.send(encodeMessage({ type: 'challenge', protocol: PROTOCOL_VERSION, nonce: newNonce(), auth: false }));
    ws.on('message', (data: Buffer) => {
      const m = decodeMessage(data);
      received.push(m);
      if (m.type === 'hello') {
        ws.send(encodeMessage({ type: 'welcome', proof: null }));
        ws.send(encodeMessage({ type: 'start', generation: 1, rank: 0, worldSize: 1, successor: null, peers: null, job: 'mnist-mlp', params, state, fingerprint: 'f', ringSalt: newNonce(), dataFingerprint }));
      } else if (m.type === 'ring-ready' && m.localData === true) {
        ws.send(encodeMessage({ type: 'go', generation: 1 }));
        ws.send(encodeMessage({ type: 'batch', generation: 1, step: 0, epoch: 0, count: indices.length, nextEpoch: 0, nextCursor: indices.length, indices, checksum: true, sendState: false }));
      }
    });
  });
  return { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, received, close: () => wss.close() };
}

describe('a batch of indices the worker cannot serve', () => {
  it('fails the worker with one RT_BAD_MESSAGE line, reported to the coordinator, before any step is applied', async () => {
    const fake = await indexingCoordinator(Uint32Array.of(3, 8000));
    const r = await runCli(['worker', '--coordinator', fake.url, '--ring-host', '127.0.0.1', '--backend', 'wasm', '--connect-timeout', '5000', '--log-level', 'warn'], { timeoutMs: 60_000 });
    fake.close();
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n').pop()).toBe('ringtrain: error RT_BAD_MESSAGE: batch index 8000 is outside the 8000-sample training set');
    expect(fake.received.map((m) => m.type)).toEqual(['hello', 'ring-ready', 'error']);
    expect(fake.received[2]).toMatchObject({ code: 'RT_BAD_MESSAGE' });
  });
});
