/**
 * The flag table drives validation, defaults and the command line: every bound a row declares is
 * enforced by the parser of each command that takes it (with the message the row derives), the
 * optimizer rows are exactly shared/optim's keys, job defaults merge under the flags by the rows'
 * groups, and the yargs options carry each command's own default and wording.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { readConfigFile } from '../../src/shared/config/config-file.js';
import { ConfigDefaults, coordinatorConfig, localPlan, localTraining, workerConfig } from '../../src/shared/config/config.js';
import { COMMANDS, envVarOf, fileKeysOf, flagOf, type Command, type FlagSpec } from '../../src/shared/config/flag-spec.js';
import { FLAGS, type FlagKey } from '../../src/shared/config/flag-table.js';
import { flagSpec, flagsOf, readFlag, requirement, withJobDefaults } from '../../src/shared/config/flags.js';
import { OPTIMIZER_KEYS } from '../../src/shared/optim/index.js';
import { opsConfig } from '../../src/coordinator/ops/ops.js';
import { localThreads } from '../../src/launch/local.js';
import { yargsOption } from '../../src/launch/cli-options.js';
import type { JobDefaults } from '../../src/shared/job/job.js';

/** Everything a command checks before it starts (cli.ts runs the same parsers). */
const PARSE: Record<Command, (raw: Record<string, unknown>) => void> = {
  coordinator: (raw) => {
    const cfg = coordinatorConfig(raw);
    opsConfig(raw, false, cfg.security);
  },
  local: (raw) => {
    const plan = localPlan(raw);
    localThreads(raw['threads'], plan.workers, 4);
    opsConfig(raw, false, coordinatorConfig(localTraining(raw, plan.workers)).security);
  },
  worker: (raw) => void workerConfig({ coordinator: 'ws://127.0.0.1:7070', ...raw }),
  eval: (raw) => {
    for (const [key] of flagsOf('eval')) readFlag({ model: 'runs/m', ...raw }, key, 'eval');
  },
};

/** A value the row's check refuses, or undefined when the row checks nothing itself. */
function badValue(spec: FlagSpec): unknown {
  const [, max] = spec.range ?? [0, 0];
  switch (spec.check) {
    case 'int': return max + 1;
    case 'count': return -1;
    case 'positive': return 0;
    case 'seconds': return max + 1;
    case 'text': return 5;
    case 'choice': return 'no-such-choice';
    default: return undefined;
  }
}

/** Defaults as each command's parser receives them from yargs. */
function defaultsFor(command: Command): Record<string, unknown> {
  return Object.fromEntries(flagsOf(command).filter(([, s]) => s.default !== undefined).map(([k, s]) => [k, s.default]));
}

describe('the flag table', () => {
  for (const command of COMMANDS) {
    it(`${command}: every bound a row declares is enforced, with the row's message`, () => {
      expect(() => PARSE[command](defaultsFor(command))).not.toThrow();
      let checked = 0;
      for (const [key, spec] of flagsOf(command)) {
        const bad = badValue(spec);
        if (bad === undefined) continue;
        checked++;
        expect(() => PARSE[command]({ ...defaultsFor(command), [key]: bad }), `${command} ${flagOf(key)} ${String(bad)}`).toThrow(`${flagOf(key)} must ${requirement(spec)}`);
      }
      expect(checked).toBeGreaterThan(command === 'eval' ? 3 : 8);
    });
  }

  it('says what each check needs, as the errors users know', () => {
    expect(requirement(flagSpec('epochs'))).toBe('be an integer in [1, 1000000]');
    expect(requirement(flagSpec('seed', 'eval'))).toBe('be a non-negative integer');
    expect(() => readFlag({ httpPort: 70003 }, 'httpPort')).toThrow('--http-port must be an integer in [-1, 65535] (0 = any free port, -1 = off) (got 70003)');
    expect(() => readFlag({ tensorboard: '' }, 'tensorboard')).toThrow('--tensorboard must name a folder (got "")');
    expect(readFlag({ output: '' }, 'output')).toBeNull();
    expect(readFlag({ epochs: '3' }, 'epochs')).toBe(3);
  });

  it('holds the optimizer keys of shared/optim, checked there', () => {
    const optimRows = (Object.keys(FLAGS) as FlagKey[]).filter((k) => flagSpec(k).check === 'optim');
    expect(new Set([...optimRows, 'lr'])).toEqual(new Set(OPTIMIZER_KEYS));
  });

  it('lets a job set exactly the rows marked for it', () => {
    type JobRows = { [K in FlagKey]: (typeof FLAGS)[K] extends { job: string } ? K : never }[FlagKey];
    expectTypeOf<keyof JobDefaults>().toEqualTypeOf<JobRows>();
  });

  it('merges job defaults under the flags, dropping a group whose choice the flags change', () => {
    const job = { epochs: 3, lr: 0.01, optimizer: 'sgd', momentum: 0.9, lrSchedule: 'cosine', warmupSteps: 5, clipNorm: 1 } as const;
    expect(withJobDefaults({ epochs: 7 }, job)).toMatchObject({ epochs: 7, batchSize: 32, lr: 0.01, optimizer: 'sgd', momentum: 0.9, lrSchedule: 'cosine', warmupSteps: 5, clipNorm: 1 });
    const other = withJobDefaults({ optimizer: 'adamw', lrSchedule: 'step' }, job);
    expect(other).toMatchObject({ optimizer: 'adamw', lrSchedule: 'step', clipNorm: 1 });
    expect(other['momentum']).toBeUndefined();
    expect(other['warmupSteps']).toBeUndefined();
    expect(withJobDefaults({ optimizer: 'sgd' }, job)['momentum']).toBe(0.9);
    expect(withJobDefaults({}, {})).toMatchObject({ epochs: 1, batchSize: 32, lr: 0.001 });
  });

  it('keeps the defaults the library and the CLI had', () => {
    expect(ConfigDefaults).toMatchObject({
      host: '127.0.0.1', port: 7070, minWorkers: 1, job: 'mnist-mlp', epochs: 1, batchSize: 32, lr: 0.001, seed: 42, checksumEvery: 10,
      stepTimeout: 120_000, rendezvousTimeout: 120_000, rendezvousGrace: 1000, maxWorkers: 1024, checkpointEvery: 50, ringHost: '0.0.0.0',
      ringPort: 0, backend: 'auto', data: 'auto', connectTimeout: 30_000, reconnectTimeout: 60_000, logLevel: 'info',
    });
    expectTypeOf(ConfigDefaults.backend).toEqualTypeOf<'auto' | 'tensorflow' | 'webgpu' | 'wasm' | 'cpu'>();
  });

  it("gives yargs each command's own default, wording and requirement", () => {
    expect(yargsOption(flagSpec('port', 'local'))).toMatchObject({ type: 'number', default: 0 });
    expect(yargsOption(flagSpec('port', 'coordinator'))).toMatchObject({ default: 7070 });
    expect(yargsOption(flagSpec('job', 'worker'))).not.toHaveProperty('default');
    expect(yargsOption(flagSpec('minWorkers', 'local'))).not.toHaveProperty('default');
    expect(yargsOption(flagSpec('coordinator', 'worker'))).toMatchObject({ demandOption: true });
    expect(yargsOption(flagSpec('backend', 'local')).describe).toBe('Compute engine of the workers');
    expect(yargsOption(flagSpec('epochs', 'local'))).not.toHaveProperty('default');
    expect(flagsOf('worker').map(([k]) => k)).not.toContain('epochs');
  });

  it('names the variable and config keys of a row, and suggests a key only when the table has it', () => {
    expect(envVarOf('minWorkers')).toBe('RINGTRAIN_MIN_WORKERS');
    expect(fileKeysOf('batchSize')).toEqual(['batch-size', 'batchSize']);
    expect(fileKeysOf('seed')).toEqual(['seed']);
    const dir = mkdtempSync(join(tmpdir(), 'rt-flags-'));
    try {
      const file = (name: string, body: object): string => {
        writeFileSync(join(dir, name), JSON.stringify(body));
        return join(dir, name);
      };
      expect(() => readConfigFile(file('a.json', { batch_size: 2 }))).toThrow('unknown key "batch_size"; did you mean "batch-size"?');
      expect(() => readConfigFile(file('b.json', { learning_rate: 2 }))).toThrow(/unknown key "learning_rate" \(keys are the flags' names\)$/);
      expect(readConfigFile(file('c.json', { 'batch-size': 2, lrSchedule: 'cosine' }))).toEqual({ 'batch-size': 2, lrSchedule: 'cosine' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
