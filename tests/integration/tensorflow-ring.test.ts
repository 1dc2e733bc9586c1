/**
 * The native TensorFlow engine in real runs: `ringtrain local --backend tensorflow` end to end
 * (each worker its share of the cores), the same over wss:// (libtensorflow and the node binary
 * both export OpenSSL, zlib and Brotli symbols; TLS must keep working in processes that loaded
 * TensorFlow), and a ring of tensorflow + wasm + cpu workers whose replicas stay bit-identical
 * after every step. Without the engine these fail with the setup's message; they never skip.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchCoordinator } from '../../src/coordinator/coordinator.js';
import { ConfigDefaults, coordinatorConfig } from '../../src/shared/config/config.js';
import { createLogger } from '../../src/shared/base/logger.js';
import { findLog, CLI, runCli, summaryOf } from '../helpers/cli.js';
import { makeCert } from '../helpers/certs.js';
import { requireTensorflow } from '../helpers/tensorflow.js';

beforeAll(() => {
  requireTensorflow();
});

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

function out(name: string): string {
  return join(mkdtempSync(join(tmpdir(), `rt-tf-${name}-`)), 'run');
}

describe('tensorflow engine in runs', () => {
  it('local --backend tensorflow: mnist-cnn, equal checksums after every step, cores shared among workers', async () => {
    const r = await runCli(['local', '--workers', '2', '--job', 'mnist-cnn', '--epochs', '1', '--batch-size', '256', '--backend', 'tensorflow', '--checksum-every', '1', '--json', '--log-level', 'warn', '--output', out('local')]);
    const s = summaryOf(r);
    expect(s['engines']).toEqual(['tensorflow', 'tensorflow']);
    expect(s['devices']).toEqual(['CPU', 'CPU']);
    const share = Math.max(1, Math.floor(availableParallelism() / 2));
    expect(s['threads']).toEqual([share, share]);
    // 8000 samples / (2 × 256) per step.
    expect(s['steps']).toBe(16);
    expect(new Set(s['replicaChecksums'] as string[]).size).toBe(1);
    expect(s['testAccuracy']).toBeGreaterThan(0.3);
  });

  it('runs over wss:// with tensorflow workers (and a tensorflow coordinator), --threads 1', async () => {
    const { cert, key } = makeCert();
    const r = await runCli(['local', '--workers', '2', '--job', 'mnist-mlp', '--epochs', '1', '--batch-size', '512', '--backend', 'tensorflow', '--threads', '1', '--checksum-every', '1', '--json', '--log-level', 'info', '--output', out('tls'), '--tls-cert', cert, '--tls-key', key, '--tls-ca', cert]);
    const s = summaryOf(r);
    expect(r.stderr).toMatch(/"ring":"wss:\/\//);
    expect(findLog(r.stderr, { role: 'coordinator', engine: 'tensorflow', msg: 'engine selected' }), r.stderr.slice(-3000)).toBeDefined();
    expect(s['engines']).toEqual(['tensorflow', 'tensorflow']);
    expect(s['threads']).toEqual([1, 1]);
    expect(s['steps']).toBe(8);
    expect(new Set(s['replicaChecksums'] as string[]).size).toBe(1);
    expect(s['testAccuracy']).toBeGreaterThan(0.5);
  });

  it('local --gpus gives each tensorflow worker its own device index, and each reports what it computes on', async () => {
    const r = await runCli(['local', '--gpus', '0,1', '--backend', 'tensorflow', '--job', 'regression-mlp', '--epochs', '1', '--json', '--log-level', 'warn', '--output', out('gpus')]);
    const s = summaryOf(r);
    expect(s['engines']).toEqual(['tensorflow', 'tensorflow']);
    // This machine's build is the CPU one: each worker says which CUDA device it was given and why it computes on the CPU.
    expect([...(s['devices'] as string[])].sort()).toEqual([0, 1].map((g) => `CPU (--gpu ${g} asked for CUDA device ${g}; a CPU build)`));
  });

  it('tensorflow + wasm + cpu workers hold bit-identical weights after every step', async () => {
    const cfg = coordinatorConfig({
      ...ConfigDefaults, host: '127.0.0.1', port: 0, minWorkers: 3, job: 'mnist-mlp', epochs: 1, batchSize: 256, lr: 1e-3, seed: 11,
      output: out('mixed'), checksumEvery: 1, stepTimeout: 120_000, rendezvousTimeout: 120_000, logLevel: 'warn',
    });
    const handle = await launchCoordinator(cfg, { logger: createLogger('coordinator', 'warn') });
    try {
      const exits = ['tensorflow', 'wasm', 'cpu'].map((backend) => {
        const child = spawn(process.execPath, [CLI, 'worker', '--coordinator', `ws://127.0.0.1:${handle.port}`, '--backend', backend, '--ring-host', '127.0.0.1', '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] });
        children.push(child);
        return new Promise<number | null>((done) => child.on('exit', done));
      });
      const summary = await handle.result;
      expect(await Promise.all(exits)).toEqual([0, 0, 0]);
      expect([...summary.engines].sort()).toEqual(['cpu', 'tensorflow', 'wasm']);
      // 8000 samples, global batch 3 × 256: 11 steps, each checked by the coordinator.
      expect(summary.steps).toBe(11);
      expect(summary.replicaChecksums).toHaveLength(3);
      expect(new Set(summary.replicaChecksums).size).toBe(1);
      expect(summary.testAccuracy).toBeGreaterThan(0.5);
    } finally {
      await handle.close();
    }
  });
});
