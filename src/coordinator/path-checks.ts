/**
 * Checks of the run's folders before the coordinator listens for workers: a run that cannot write
 * its output must fail at start with RT_BAD_CONFIG, not after training began with an EACCES or ENOTDIR at its
 * first checkpoint, and `--resume` must name a run's output folder.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { CHECKPOINT_FILE } from './checkpoint.js';
import { ErrorCodes, RingtrainError } from '../shared/base/errors.js';

function bad(msg: string): never {
  throw new RingtrainError(ErrorCodes.BAD_CONFIG, msg);
}

async function kind(path: string): Promise<'dir' | 'other' | null> {
  try {
    return (await stat(path)).isDirectory() ? 'dir' : 'other';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    // ENOTDIR: a component above is a file, which the walk up reports by name.
    if (code === 'ENOTDIR') return null;
    return bad(`cannot inspect ${path}: ${code ?? String(err)}`);
  }
}

/**
 * Throws RT_BAD_CONFIG unless `dir` is (or can be created as) a folder this process can write:
 * the folder itself when it exists, else its nearest existing ancestor, which must be a folder.
 */
export async function checkOutputWritable(dir: string): Promise<void> {
  const target = resolve(dir);
  let probe = target;
  for (;;) {
    const k = await kind(probe);
    if (k === 'other') bad(`--output ${dir}: ${probe} is a file, not a folder`);
    if (k === 'dir') break;
    if (dirname(probe) === probe) bad(`--output ${dir}: no existing folder above it`);
    probe = dirname(probe);
  }
  try {
    await access(probe, constants.W_OK | constants.X_OK);
  } catch (err) {
    const uid = typeof process.getuid === 'function' ? ` (uid ${process.getuid()})` : '';
    bad(`--output ${dir}: ${probe === target ? 'the folder' : `the folder ${probe} it would be created in`} is not writable by this user${uid}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** Throws RT_BAD_CONFIG unless `dir` is a folder holding a checkpoint (a run's output folder). */
export async function checkResumeDir(dir: string): Promise<void> {
  const k = await kind(dir);
  if (k === null) bad(`--resume ${dir} does not exist`);
  if (k === 'other') bad(`--resume ${dir} is a file; give the output folder of the run to continue`);
  if ((await kind(join(dir, CHECKPOINT_FILE))) === null) bad(`--resume ${dir} holds no ${CHECKPOINT_FILE}: not the output folder of a run that wrote a checkpoint`);
}
