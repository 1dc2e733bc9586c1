/**
 * Where each setting comes from: flags > RINGTRAIN_* env > --config file (JSON or YAML) >
 * defaults, including for keys with a yargs default (seed, port, http-port). Most cases read the
 * value back from the validation error a bad value causes, which names it; one real run checks
 * that valid values from the file and the environment reach training.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, summaryOf } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'rt-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** Runs `local` expecting a usage error, and returns the one error line. */
async function usageError(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const r = await runCli(['local', '--job', 'regression-mlp', '--no-http', ...args], { env, timeoutMs: 30_000 });
  expect(r.code).toBe(2);
  return r.stderr.trim().split('\n').pop() ?? '';
}

describe('config precedence', () => {
  const yaml = file('bad-seed.yaml', '# YAML, kebab-case keys as on the command line\nseed: -1\nhttp-port: 70000\n');

  it('a file value beats a yargs default', async () => {
    expect(await usageError(['--config', yaml])).toContain('--seed must be an integer in [0, 4294967295] (got -1)');
  });

  it('env beats the file, and flags beat env', async () => {
    expect(await usageError(['--config', yaml], { RINGTRAIN_SEED: '-2' })).toContain('--seed must be an integer in [0, 4294967295] (got -2)');
    expect(await usageError(['--config', yaml, '--seed', '-3'], { RINGTRAIN_SEED: '-2' })).toContain('(got -3)');
  });

  it('holds for keys whose default is set per command (local --port 0, --http-port 0)', async () => {
    const ports = file('ports.yml', 'port: 70001\n');
    expect(await usageError(['--config', ports])).toContain('--port must be an integer in [0, 65535] (got 70001)');
    const http = file('http.json', JSON.stringify({ 'http-port': 70003 }));
    const r = await runCli(['local', '--job', 'regression-mlp', '--config', http], { timeoutMs: 30_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--http-port must be an integer in [-1, 65535]');
    expect(r.stderr).toContain('(got 70003)');
  });

  it('takes JSON with camelCase keys via RINGTRAIN_CONFIG, and refuses a broken file in one line', async () => {
    const camel = file('camel.json', JSON.stringify({ batchSize: -5 }));
    expect(await usageError([], { RINGTRAIN_CONFIG: camel })).toContain('--batch-size must be an integer in [1, 1000000] (got -5)');
    const broken = file('broken.yaml', 'epochs: [1,\n');
    expect(await usageError(['--config', broken])).toMatch(/^ringtrain: error RT_BAD_CONFIG: config file .*broken\.yaml is not valid YAML/);
  });

  it('valid file and env values reach training', async () => {
    const cfg = file('run.yaml', 'job: regression-mlp\nepochs: 1\nbatch-size: 64\nworkers: 2\n');
    const out = join(dir, 'out');
    const r = await runCli(['local', '--config', cfg, '--json', '--no-http', '--output', out], { env: { RINGTRAIN_EPOCHS: '2' }, timeoutMs: 60_000 });
    const s = summaryOf(r);
    expect(s['job']).toBe('regression-mlp');
    expect(s['workers']).toBe(2);
    expect(s['epochs']).toBe(2); // env over file
    expect(s['steps']).toBe(2 * Math.ceil(3200 / (64 * 2))); // batch size from the file
  });
});
