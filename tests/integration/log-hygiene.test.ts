/**
 * Log hygiene: nothing a user did not ask for reaches stderr (Dawn's Vulkan warning without a
 * Vulkan loader), each record's keys are unique, a failed authentication is logged once as what it
 * is, pretty logs round their numbers, and a bad RINGTRAIN_* variable or config key is named as
 * the user wrote it.
 */
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, startCli } from '../helpers/cli.js';
import { roundFields, roundForHumans } from '../../src/shared/base/logger.js';
import { envVarOf, explainUnknown } from '../../src/launch/unknown-args.js';
import { vulkanLoaderPresent } from '../../src/shared/engine/webgpu.js';

const dir = mkdtempSync(join(tmpdir(), 'rt-logs-'));

describe('log hygiene', () => {
  it('a run at --log-level warn prints no Dawn warning, and "worker joined" has one pid key', async () => {
    const [quiet, info] = await Promise.all(['warn', 'info'].map((level) =>
      runCli(['local', '--workers', '1', '--job', 'regression-mlp', '--epochs', '1', '--json', '--no-http', '--log-level', level, '--output', join(dir, level)], { env: { LD_LIBRARY_PATH: '' } })));
    expect(quiet!.code, quiet!.stderr.slice(-1500)).toBe(0);
    expect(quiet!.stderr).not.toMatch(/Couldn't load Vulkan|Warning:/);
    const joined = info!.stderr.split('\n').find((l) => l.includes('"msg":"worker joined"'));
    expect(joined).toBeDefined();
    expect(joined!.match(/"pid":/g)).toHaveLength(1);
    expect(joined).toMatch(/"workerPid":\d+/);
  });

  it('without a Vulkan loader, --backend webgpu says so instead of Dawn', async () => {
    if (vulkanLoaderPresent({ LD_LIBRARY_PATH: '' })) {
      // A machine with a system Vulkan loader never takes this path; the unit check below still runs.
      expect(vulkanLoaderPresent({})).toBe(true);
      return;
    }
    const r = await runCli(['local', '--workers', '1', '--backend', 'webgpu', '--job', 'regression-mlp', '--epochs', '1', '--no-http', '--output', join(dir, 'webgpu')], { env: { LD_LIBRARY_PATH: '' } });
    expect(r.code).toBe(1);
    // The worker's own line, or the coordinator's report of it when it stops the worker first.
    expect(r.stderr).toMatch(/RT_BACKEND_UNAVAILABLE: (rank 0 failed: )?--backend webgpu is unavailable: no Vulkan loader \(libvulkan\.so\.1\)/);
    expect(r.stderr).not.toMatch(/Couldn't load Vulkan/);
  });

  it('finds a Vulkan loader on LD_LIBRARY_PATH', () => {
    const lib = join(dir, 'lib');
    mkdirSync(lib, { recursive: true });
    writeFileSync(join(lib, 'libvulkan.so.1'), '');
    expect(vulkanLoaderPresent({ LD_LIBRARY_PATH: `/nonexistent:${lib}` })).toBe(true);
  });

  it('a worker with the wrong token is refused once, as an authentication failure', async () => {
    const coord = startCli(['coordinator', '--port', '0', '--http-port', '-1', '--job', 'regression-mlp', '--output', join(dir, 'auth')], { RINGTRAIN_TOKEN: 'right-secret-123456' });
    try {
      const port = (await coord.waitFor(/"port":(\d+)[^\n]*coordinator listening/))[1]!;
      const w = await runCli(['worker', '--coordinator', `ws://127.0.0.1:${port}`, '--ring-host', '127.0.0.1', '--connect-timeout', '2000'], { env: { RINGTRAIN_TOKEN: 'wrong-secret-123456' } });
      expect(w.code).toBe(1);
      expect(w.stderr).toMatch(/RT_AUTH_FAILED/);
      const refused = (await coord.waitFor(/[^\n]*authentication failed; closing[^\n]*/))[0];
      expect(refused.match(/"pid":/g)).toHaveLength(1);
      // The refused worker's own error report arrives as its socket closes: give it time to be (mis)logged.
      await new Promise((r) => setTimeout(r, 500));
      expect(coord.stderr()).not.toMatch(/message before hello|RT_UNEXPECTED_MESSAGE/);
    } finally {
      coord.child.kill('SIGKILL');
    }
  });

  it('rounds numbers in pretty logs only', () => {
    expect(roundForHumans(0.29712345)).toBe(0.2971);
    expect(roundForHumans(17.182703)).toBe(17.18);
    expect(roundForHumans(3212.55)).toBe(3213);
    expect(roundForHumans(7)).toBe(7);
    expect(roundForHumans(1.2345e-7)).toBe(1.235e-7);
    expect(roundFields({ loss: 0.123456, t: { ms: 2.71828 }, list: [1.23456], name: 'x', n: null })).toEqual({ loss: 0.1235, t: { ms: 2.718 }, list: [1.235], name: 'x', n: null });
  });

  it('names an unknown RINGTRAIN_* variable and suggests flag names for snake_case config keys', async () => {
    expect(envVarOf('learningRate')).toBe('RINGTRAIN_LEARNING_RATE');
    expect(explainUnknown('Unknown argument: wrokers', {}, ['--wrokers', '3'])).toBe('Unknown argument: wrokers');
    expect(explainUnknown('Unknown arguments: learningRate, wrokers', { RINGTRAIN_LEARNING_RATE: 'x' }, ['--wrokers'])).toBe('unknown environment variable RINGTRAIN_LEARNING_RATE (no --learning-rate flag for this command); unknown argument: wrokers');
    const env = await runCli(['local', '--epochs', '1'], { env: { RINGTRAIN_LEARNING_RATE: '0.1' } });
    expect(env.code).toBe(2);
    expect(env.stderr).toContain('RT_BAD_CONFIG: unknown environment variable RINGTRAIN_LEARNING_RATE (no --learning-rate flag for this command)');
    const file = join(dir, 'run.yaml');
    writeFileSync(file, 'job: regression-mlp\nbatch_size: 64\n');
    const cfg = await runCli(['local', '--config', file]);
    expect(cfg.code).toBe(2);
    expect(cfg.stderr).toContain('unknown key "batch_size"; did you mean "batch-size"?');
  });
});
