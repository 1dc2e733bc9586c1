/**
 * PyTorch for the optimizer equivalence tests, prepared by tests/setup/prepare-torch.sh into
 * .cache/torch (pip --target: the system's Python is untouched). If it is not there yet, this runs
 * the script once. The tests fail loudly, never skip, when torch cannot be had.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCRIPT = `${ROOT}tests/setup/prepare-torch.sh`;
const SITE = `${process.env['RINGTRAIN_TORCH_CACHE'] ?? `${ROOT}.cache/torch`}/site`;
export const PYTHON = process.env['RINGTRAIN_PYTHON'] ?? 'python3';

/** Environment for a Python child that imports torch. Throws, saying why, when torch cannot be had. */
export function torchEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env, PYTHONPATH: SITE };
  const importable = (): boolean => existsSync(SITE) && spawnSync(PYTHON, ['-c', 'import torch'], { env, timeout: 120_000 }).status === 0;
  if (!importable()) {
    const r = spawnSync('bash', [SCRIPT], { encoding: 'utf8', timeout: 900_000 });
    if (r.status !== 0 || !importable()) {
      throw new Error(`the optimizer equivalence tests need PyTorch and could not prepare it: run ${SCRIPT} (CI's .ci/run does). ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`);
    }
  }
  return env;
}
