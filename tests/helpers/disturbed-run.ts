/**
 * A token-protected `local` run to disturb, started next to an identical undisturbed one (same
 * seed), so a test can attack the live run and then compare the two final checksums.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, startCli, type CliResult, type LiveProcess } from './cli.js';

export interface DisturbedRun {
  baseline: Promise<CliResult>;
  live: LiveProcess;
  /** The coordinator's control URL and one worker's ring URL. */
  controlUrl: string;
  ringUrl: string;
}

/** Starts both runs and resolves once the live one is training (`timeoutMs`: the baseline's limit). */
export async function startDisturbedRun(args: string[], token: string, timeoutMs?: number): Promise<DisturbedRun> {
  const dir = mkdtempSync(join(tmpdir(), 'rt-live-'));
  const baseline = runCli([...args, '--output', join(dir, 'base'), '--log-level', 'warn'], { env: { RINGTRAIN_TOKEN: token }, ...(timeoutMs ? { timeoutMs } : {}) });
  const live = startCli([...args, '--output', join(dir, 'live'), '--log-level', 'info'], { RINGTRAIN_TOKEN: token });
  const port = String((await live.waitForLog({ msg: 'coordinator listening' }))['port']);
  const [, ringUrl] = await live.waitFor(/"ring":"(ws:\/\/[^"]+)"/);
  await live.waitFor(/ring formed; training/);
  return { baseline, live, controlUrl: `ws://127.0.0.1:${port}`, ringUrl: ringUrl! };
}
