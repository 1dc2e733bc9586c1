/**
 * Checkpoint integrity with the real CLI: a checkpoint carries a SHA-256 of everything after its
 * header, so a bit flipped anywhere (weights included) is refused with RT_BAD_CHECKPOINT; one
 * whose hash is right but whose fields cannot belong to this run (a NaN weight, v < 0, a cursor
 * past the split, an epoch past the run, Adam's t past the step) is refused too, before any
 * socket opens. Temporary files of an interrupted write are removed when a run starts.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { CHECKPOINT_FILE, loadCheckpoint, saveCheckpoint } from '../../src/coordinator/checkpoint.js';
import type { TrainState } from '../../src/shared/protocol/protocol.js';

const TRAIN = ['--job', 'regression-mlp', '--epochs', '2', '--seed', '4', '--no-http', '--log-level', 'error'];
const root = mkdtempSync(join(tmpdir(), 'rt-ckint-'));
const good = join(root, 'good');

/** A copy of the good run's output with its checkpoint's state changed (and re-hashed). */
async function variant(name: string, change: (s: TrainState) => TrainState): Promise<string> {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const bytes = readFileSync(join(good, CHECKPOINT_FILE));
  // The fingerprint is read back from the file itself: only the state is meant to differ.
  const fp = (await import('msgpackr')).unpack(bytes.subarray(40)) as { fingerprint: string };
  const ck = await loadCheckpoint(good, fp.fingerprint);
  await saveCheckpoint(dir, { ...ck, state: change(ck.state) });
  return dir;
}

const resume = (dir: string) => runCli(['coordinator', '--port', '0', '--min-workers', '1', ...TRAIN, '--resume', dir]);

describe('checkpoint integrity', () => {
  beforeAll(async () => {
    const r = await runCli(['local', '--workers', '1', ...TRAIN, '--checkpoint-every', '10', '--output', good]);
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
  });

  it('refuses a checkpoint with one bit flipped after the header', async () => {
    const dir = join(root, 'flipped');
    mkdirSync(dir);
    const bytes = readFileSync(join(good, CHECKPOINT_FILE));
    bytes[bytes.length - 100]! ^= 0x04;
    writeFileSync(join(dir, CHECKPOINT_FILE), bytes);
    const r = await resume(dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ringtrain: error RT_BAD_CHECKPOINT: checkpoint .* is damaged: its content hash does not match/);
  });

  it('refuses well-hashed checkpoints whose fields cannot belong to this run', async () => {
    const cases: [string, (s: TrainState) => TrainState, RegExp][] = [
      ['nan-weight', (s) => ({ ...s, params: Object.assign(s.params.slice(), { 3: NaN }) }), /parameter 3 is NaN/],
      ['negative-v', (s) => ({ ...s, optim: { ...s.optim, slots: { ...s.optim.slots, v: Object.assign(s.optim.slots['v']!.slice(), { 0: -1 }) } } }), /adam's second moment v\[0\] = -1 is negative/],
      ['random-m', (s) => ({ ...s, optim: { ...s.optim, slots: { ...s.optim.slots, m: new Float32Array(new Uint32Array(s.params.length).fill(0x7fc00001).buffer) } } }), /slot m holds a non-finite value/],
      ['far-cursor', (s) => ({ ...s, epoch: 0, cursor: 1e9 }), /cursor 1000000000 is outside the epoch's 3200 samples/],
      ['far-epoch', (s) => ({ ...s, epoch: 99, cursor: 0 }), /epoch 99 is outside the run's 2 epochs/],
      ['adam-t', (s) => ({ ...s, optim: { ...s.optim, scalars: { ...s.optim.scalars, t: s.step + 5 } } }), /adam's step count t = \d+ must be an integer in \[0, \d+\]/],
    ];
    const results = await Promise.all(cases.map(async ([name, change]) => resume(await variant(name, change))));
    for (const [i, [name, , why]] of cases.entries()) {
      const r = results[i]!;
      expect(r.code, name).toBe(2);
      expect(r.stderr, name).toMatch(/ringtrain: error RT_BAD_CHECKPOINT: checkpoint in .* is damaged or not of this run/);
      expect(r.stderr, name).toMatch(why);
    }
  });

  it('removes the temporary files of an interrupted write when a run starts on the directory', async () => {
    const dir = join(root, 'leftover');
    mkdirSync(dir);
    copyFileSync(join(good, CHECKPOINT_FILE), join(dir, CHECKPOINT_FILE));
    const tmp = join(dir, `${CHECKPOINT_FILE}.tmp-999999`);
    writeFileSync(tmp, 'half a checkpoint');
    const r = await runCli(['local', '--workers', '1', ...TRAIN, '--resume', dir, '--json']);
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    expect(existsSync(tmp)).toBe(false);
    expect(existsSync(join(dir, CHECKPOINT_FILE))).toBe(true);
  });
});
