/**
 * One output folder, one run: a second run into a folder that holds a previous one would replace
 * its model and append to its metrics.jsonl. Such a folder is refused before anything starts,
 * unless `--overwrite` (its run files are removed first, so nothing of the old run mixes in) or
 * `--resume` (the run continues there).
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCodes, RingtrainError } from '../shared/base/errors.js';

/** What a run leaves in its output folder (other files are the user's and stay). */
export const RUN_FILES = ['summary.json', 'model.json', 'weights.bin', 'metrics.jsonl', 'checkpoint.bin', 'report.html', 'best'] as const;

/** The run files present in `dir` (none when it does not exist yet). */
export async function runFilesIn(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return []; // missing (created later) or unreadable (the writability check reports it)
  }
  return RUN_FILES.filter((f) => names.includes(f));
}

/** Refuses, or with `overwrite` clears, an output folder that holds a previous run. */
export async function claimOutput(dir: string, opts: { resume: boolean; overwrite: boolean }): Promise<void> {
  if (opts.resume) return;
  const found = await runFilesIn(dir);
  if (found.length === 0) return;
  if (!opts.overwrite) {
    throw new RingtrainError(ErrorCodes.BAD_CONFIG, `--output ${dir} holds a previous run (${found.join(', ')}); pass --overwrite to replace it, or --resume ${dir} to continue it`);
  }
  await Promise.all(found.map((f) => rm(join(dir, f), { recursive: true, force: true })));
}
