/**
 * `--tensorboard DIR`: the event file parses record by record (both CRCs checked by a reader
 * written from the TFRecord and event.proto specs) and holds the run's own figures: every step's
 * loss as metrics.jsonl has it, the epochs' test and validation metrics as the summary reports.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, summaryOf } from '../helpers/cli.js';
import { crc32c, maskedCrc, readEvents, scalarEvent, tfRecord, versionEvent } from '../../src/coordinator/ops/tfevents.js';

describe('TensorBoard event files', () => {
  it('encodes and checks TFRecords and scalar events', () => {
    // The CRC-32C check value of the standard test string.
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(maskedCrc(Buffer.alloc(0))).toBe(0xa282ead8);
    const file = Buffer.concat([tfRecord(versionEvent(1.5)), tfRecord(scalarEvent(2.25, 300, { 'a/b': 0.5, c: -3 }))]);
    const events = readEvents(file);
    expect(events).toEqual([
      { wallTime: 1.5, step: 0, fileVersion: 'brain.Event:2', scalars: {} },
      { wallTime: 2.25, step: 300, fileVersion: null, scalars: { 'a/b': 0.5, c: -3 } },
    ]);
    const bad = Buffer.from(file);
    bad[bad.length - 6] = bad[bad.length - 6]! ^ 1;
    expect(() => readEvents(bad)).toThrow(/bad data CRC/);
  });

  it('a run writes its loss, lr, throughput, all-reduce time and epoch metrics', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rt-tb-'));
    const out = join(dir, 'run');
    const tb = join(dir, 'tb');
    const summary = summaryOf(await runCli(['local', '--workers', '2', '--job', 'regression-mlp', '--epochs', '2', '--lr', '0.002', '--json', '--no-http', '--log-level', 'warn', '--output', out, '--tensorboard', tb]));
    const files = readdirSync(tb);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^events\.out\.tfevents\.\d+\./);
    const events = readEvents(readFileSync(join(tb, files[0]!)));
    expect(events[0]!.fileVersion).toBe('brain.Event:2');
    const steps = events.filter((e) => 'train/loss' in e.scalars);
    const logged = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string; step: number; loss: number });
    const perStep = logged.filter((l) => l.event === 'step');
    expect(steps.map((e) => e.step)).toEqual(perStep.map((l) => l.step + 1));
    expect(steps.map((e) => e.scalars['train/loss'])).toEqual(perStep.map((l) => Math.fround(l.loss)));
    for (const e of steps) {
      expect(e.scalars['train/lr']).toBe(Math.fround(0.002));
      expect(e.scalars['perf/allreduce_ms']).toBeGreaterThan(0);
    }
    expect(steps.filter((e) => (e.scalars['perf/samples_per_sec'] ?? 0) > 0).length).toBeGreaterThan(steps.length / 2);
    const epochs = events.filter((e) => 'epoch/test_loss' in e.scalars);
    expect(epochs).toHaveLength(2);
    expect(epochs[1]!.step).toBe(summary['steps']);
    expect(epochs[1]!.scalars['epoch/test_loss']).toBe(Math.fround(summary['testLoss'] as number));
    expect(epochs[1]!.scalars['epoch/val_loss']).toBeGreaterThan(0);
    expect(epochs[1]!.scalars['epoch/train_loss']).toBe(Math.fround(summary['finalLoss'] as number));
    // Wall times are real and ordered.
    const walls = events.map((e) => e.wallTime);
    expect([...walls].sort((a, b) => a - b)).toEqual(walls);
    expect(walls[0]! * 1000).toBeGreaterThan(Date.now() - 600_000);
  });
});
