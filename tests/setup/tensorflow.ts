/**
 * Vitest global setup: installs the native TensorFlow engine once per test run, the way a user
 * does (`ringtrain engines install-tensorflow --pip`: pip download of the pinned CPU wheel, build,
 * cache in .cache/tensorflow). After the first run it only relinks from the cache (a few
 * seconds, also after `npm ci`). A failure does not stop the suite: the tensorflow tests read the
 * outcome through inject('tensorflowEngine') and fail with its message, the others run on.
 */
import type { TestProject } from 'vitest/node';
import { formatError } from '../../src/shared/base/errors.js';
import { installTensorflow } from '../../src/shared/engine/native/install.js';
import { DEFAULT_PIP_SPEC, INSTALL_HINT, defaultCacheDir } from '../../src/shared/engine/native/locate.js';
import { phases } from '../../src/shared/engine/native/phases.js';

export interface TensorflowSetup {
  ok: boolean;
  /** Why the engine could not be installed, with how to get it (when !ok). */
  error: string;
  tfVersion: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    tensorflowEngine: TensorflowSetup;
  }
}

export default async function setup(project: TestProject): Promise<void> {
  try {
    const r = await installTensorflow({ wheels: [], pip: DEFAULT_PIP_SPEC, cacheDir: defaultCacheDir(), force: false, phases: phases(process.stderr, true) });
    project.provide('tensorflowEngine', { ok: true, error: '', tfVersion: r.tfVersion });
  } catch (err) {
    const error = `the native TensorFlow engine could not be installed for the tests (${formatError(err)}). Get it with \`${INSTALL_HINT}\` (pip downloads ${DEFAULT_PIP_SPEC} with this machine's pip settings), or \`npx ringtrain engines install-tensorflow --wheel FILE.whl\` with a wheel fetched elsewhere`;
    process.stderr.write(`tests/setup/tensorflow.ts: ${error}\n`);
    project.provide('tensorflowEngine', { ok: false, error, tfVersion: '' });
  }
}
