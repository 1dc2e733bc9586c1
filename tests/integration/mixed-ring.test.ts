/**
 * A heterogeneous ring: three worker processes computing gradients on three different engines
 * (webgpu on the software adapter, wasm, cpu). Engines round differently, yet the replicas must
 * stay bit-identical: every rank applies the same pure-JS Adam step to the same all-reduced
 * gradient. With --checksum-every 1 the coordinator compares all replica checksums after every
 * step and fails the run with RT_REPLICA_DIVERGED on any mismatch, so a finished run proves it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { launchCoordinator } from '../../src/coordinator/coordinator.js';
import { ConfigDefaults, coordinatorConfig } from '../../src/shared/config/config.js';
import { createLogger } from '../../src/shared/base/logger.js';
import { CLI } from '../helpers/cli.js';
import { runEngine } from '../helpers/engines.js';
import { vulkanEnv } from '../helpers/vulkan.js';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

function startWorker(port: number, backend: string, env: Record<string, string>): Promise<number | null> {
  const child = spawn(process.execPath, [CLI, 'worker', '--coordinator', `ws://127.0.0.1:${port}`, '--backend', backend, '--ring-host', '127.0.0.1', '--log-level', 'warn'], {
    env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child);
  return new Promise((done) => child.on('exit', (code) => done(code)));
}

describe('mixed-engine ring', () => {
  // Generous limits: the first step compiles shaders on a software adapter, slow on a busy machine.
  it('webgpu + wasm + cpu workers hold bit-identical weights after every step', { timeout: 400_000 }, async () => {
    const env = vulkanEnv();
    // The engines really do differ: alone, each drifts from the others within a few steps.
    const alone = await Promise.all(['wasm', 'cpu'].map((b) => runEngine('mnist-mlp', b, { steps: 3 })));
    expect(alone[0]!.checksum).not.toBe(alone[1]!.checksum);

    const cfg = coordinatorConfig({
      ...ConfigDefaults,
      host: '127.0.0.1', port: 0, minWorkers: 3, job: 'mnist-mlp', epochs: 1, batchSize: 256, lr: 1e-3, seed: 7,
      output: join(mkdtempSync(join(tmpdir(), 'rt-mixed-')), 'run'), checksumEvery: 1, stepTimeout: 170_000, rendezvousTimeout: 120_000, logLevel: 'warn',
    });
    const handle = await launchCoordinator(cfg, { logger: createLogger('coordinator', 'warn') });
    try {
      const exits = ['webgpu', 'wasm', 'cpu'].map((b) => startWorker(handle.port, b, env));
      const summary = await handle.result;
      expect(await Promise.all(exits)).toEqual([0, 0, 0]);
      expect([...summary.engines].sort()).toEqual(['cpu', 'wasm', 'webgpu']);
      // 8000 samples, global batch 3 × 256: 11 steps, each checked.
      expect(summary.steps).toBe(11);
      expect(new Set(summary.replicaChecksums).size).toBe(1);
      expect(summary.replicaChecksums).toHaveLength(3);
      expect(summary.testAccuracy).toBeGreaterThan(0.5);
    } finally {
      await handle.close();
    }
  });
});
